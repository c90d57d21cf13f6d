//go:build reliability

package reliability

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// loadRate is the open-loop rate of StatefulSet creates. Each create passes both webhooks.
const loadRate = 20

// load is an open-loop stream of StatefulSet creates through the API server: one starts every
// 1/loadRate seconds whatever the earlier ones did, as independent clients would.
type load struct {
	ns      string
	cs      kubernetes.Interface
	start   time.Time
	stopped chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []result
	// unmutated counts warnings saying the mutating webhook did not run.
	unmutated atomic.Int64
}

type warningCounter struct{ n *atomic.Int64 }

func (w warningCounter) HandleWarningHeader(code int, agent, text string) {
	if strings.Contains(text, "mutating webhook did not run") {
		w.n.Add(1)
	}
}

type result struct {
	start, end time.Time
	err        error
}

// startLoad creates a namespace the webhooks cover and starts creating StatefulSets in it.
func (s *suite) startLoad(name string) *load {
	s.t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := s.cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		s.t.Fatal(err)
	}
	l := &load{ns: name, start: time.Now(), stopped: make(chan struct{})}
	cfg := s.restConfig()
	// Count the creates admitted without mutation: the mutating webhook fails open, and the
	// validating one then says so in a warning.
	cfg.WarningHandler = warningCounter{&l.unmutated}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	l.cs = cs
	go l.run()
	return l
}

func (l *load) run() {
	interval := time.Second / loadRate
	for i := 0; ; i++ {
		select {
		case <-l.stopped:
			return
		case <-time.After(time.Until(l.start.Add(time.Duration(i) * interval))):
		}
		l.wg.Add(1)
		go func(i int) {
			defer l.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			begin := time.Now()
			_, err := l.cs.AppsV1().StatefulSets(l.ns).Create(ctx, statefulSet(l.ns, fmt.Sprintf("load-%d", i), 0, true), metav1.CreateOptions{})
			l.mu.Lock()
			l.results = append(l.results, result{start: begin, end: time.Now(), err: err})
			l.mu.Unlock()
		}(i)
	}
}

// stop ends the load, waits for the creates in flight and summarises them. t0 is when the
// disruption began; the time to recover runs from it to the end of the last failed create.
func (s *suite) stop(l *load, t0 time.Time) summary {
	close(l.stopped)
	l.wg.Wait()
	sum := summary{start: l.start, end: time.Now(), duration: time.Since(l.start), unmutated: int(l.unmutated.Load())}
	sort.Slice(l.results, func(i, j int) bool { return l.results[i].start.Before(l.results[j].start) })
	for _, r := range l.results {
		sum.total++
		if r.err == nil {
			continue
		}
		sum.failed++
		sum.errors = append(sum.errors, r.err.Error())
		if sum.firstErr == "" {
			sum.firstErr = r.err.Error()
		}
		if r.end.After(sum.lastFailure) {
			sum.lastFailure = r.end
		}
	}
	if sum.failed > 0 {
		sum.recover = sum.lastFailure.Sub(t0)
	}
	// The namespace goes in the background; its StatefulSets have no Pods.
	_ = s.cs.CoreV1().Namespaces().Delete(context.Background(), l.ns, metav1.DeleteOptions{})
	s.t.Logf("load %s: %d creates in %s, %d failed (first: %s), %d warnings that mutation did not run", l.ns, sum.total, sum.duration.Round(100*time.Millisecond), sum.failed, sum.firstErr, sum.unmutated)
	return sum
}

type summary struct {
	start, end    time.Time
	errors        []string
	total, failed int
	unmutated     int // warnings that the mutating webhook did not run (one per unmutated create)
	duration      time.Duration
	lastFailure   time.Time
	recover       time.Duration
	firstErr      string
}

func (m summary) load() string {
	return fmt.Sprintf("%d/s × %.0f s (%d)", loadRate, m.duration.Seconds(), m.total)
}

func (m summary) recoverText() string {
	if m.failed == 0 {
		return "—"
	}
	return m.recover.Round(100 * time.Millisecond).String()
}

// record adds a row to the results table.
func (s *suite) record(scenario string, m summary, notes ...string) {
	if m.unmutated > 0 {
		notes = append(notes, fmt.Sprintf("%d create(s) admitted unmutated: the mutating webhook (failurePolicy Ignore) failed on them, and validation said so in a warning (these load objects have 0 replicas; with 2 or more validation denies them)", m.unmutated))
	}
	s.rows = append(s.rows, row{scenario: scenario, load: m.load(), failed: fmt.Sprint(m.failed), recover: m.recoverText(), notes: strings.Join(notes, "; ")})
}
