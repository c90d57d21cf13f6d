//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/stowage-dev/stowage/e2e/cluster"
	"github.com/stowage-dev/stowage/internal/gostats"
	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/internal/testcorpus"
)

// TestWebhookLoad drives the running `stowage webhook` process over loopback HTTPS with
// keep-alive: an open-loop load at a fixed rate (default 1,000 requests per second, for 10 s)
// of AdmissionReviews for the largest corpus StatefulSet, alternating the mutating and the
// validating endpoint, then a short closed loop to find the ceiling. It reports throughput,
// p50/p99/max latency and the process's RSS and, beside them, what explains a tail: the
// webhook's GC pauses, GC CPU and scheduler latency (its /debug/runtime-metrics), the time its
// threads waited for a CPU (the kernel's run queue), the machine's CPU pressure, and the load
// generator's own CPU, scheduler latency and lateness. It asserts only that every answer is a
// well-formed 200. STOWAGE_LOAD_RPS and STOWAGE_LOAD_SECONDS change the load.
//
// The measurement takes the e2e quiet lock (cluster.Quiet): other test binaries that
// `go test ./e2e/...` runs beside this one start no control plane during it, and the report says
// when it had to run without that.
func TestWebhookLoad(t *testing.T) {
	rps, seconds := envInt("STOWAGE_LOAD_RPS", 1000), envInt("STOWAGE_LOAD_SECONDS", 10)
	// Earlier suites' namespaces are still being torn down by the controller manager and kwok,
	// which competes for the same two cores; measure on a settled cluster.
	settle := time.Now()
	eventually(t, 5*time.Minute, "earlier suites' namespaces are gone", func() (bool, error) {
		var list corev1.NamespaceList
		if err := env.cluster.Client.List(context.Background(), &list); err != nil {
			return false, nil
		}
		for _, ns := range list.Items {
			if ns.DeletionTimestamp != nil {
				return false, nil
			}
		}
		return true, nil
	})
	t.Logf("waited %s for the cluster to settle", time.Since(settle).Round(time.Second))
	body := largestReview(t)
	caPEM, err := os.ReadFile(filepath.Join(env.webhook.certDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	// As many idle connections as requests in flight, so that none is closed and redialled
	// (a TLS handshake) mid-run; dials are counted to show it.
	const maxInFlight = 512
	var dials atomic.Int64
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConns:        maxInFlight,
		MaxIdleConnsPerHost: maxInFlight,
		IdleConnTimeout:     time.Minute,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
	}}
	base := fmt.Sprintf("https://127.0.0.1:%d", env.webhook.port)
	post := func(base string, i int) (time.Duration, error) {
		path := "/mutate"
		if i%2 == 1 {
			path = "/validate"
		}
		start := time.Now()
		resp, err := client.Post(base+path+"?timeout=3s", "application/json", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if err != nil || resp.StatusCode != http.StatusOK {
			return took, fmt.Errorf("status %d: %s", resp.StatusCode, data)
		}
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(data, &out); err != nil || out.Response == nil || out.Response.UID != "load" {
			return took, fmt.Errorf("bad review: %v", err)
		}
		return took, nil
	}
	warm := func(base string) { // the connections and the caches
		for i := 0; i < 50; i++ {
			if _, err := post(base, i); err != nil {
				t.Fatal(err)
			}
		}
	}
	warm(base)
	// The floor: a no-op webhook in a process of its own (this test binary, started again), with
	// Stowage's certificate and TLS settings, under the same load just before Stowage's: what the
	// machine, the generator and TLS give any webhook in the same minute.
	floorBase := startFloor(t, env.webhook.certDir)
	warm(floorBase)

	// Keep the other test binaries' control planes off the machine while measuring.
	waitQuiet := time.Now()
	release, quiet, err := cluster.Quiet(context.Background(), 20*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	t.Logf("waited %s for a quiet window (quiet: %t)", time.Since(waitQuiet).Round(time.Second), quiet)

	loop := func(base string) loopResult {
		res := openLoop(func(i int) (time.Duration, error) { return post(base, i) }, rps, seconds, maxInFlight, &dials)
		if res.failures > 0 {
			t.Fatalf("%s: %d of %d requests failed; first: %v", base, res.failures, len(res.lat), res.firstErr)
		}
		return res
	}
	floor := loop(floorBase)
	if os.Getenv("STOWAGE_LOAD_PROFILE") == "1" {
		go func() {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=8", env.webhook.pprof))
			if err != nil {
				return
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			os.WriteFile(filepath.Join(env.root, "bin", "webhook-load.pprof"), data, 0o644)
		}()
	}
	n := rps * seconds
	before := sampleLoad(t)
	stowage := loop(base)
	during := sampleLoad(t).since(before, stowage.elapsed, n)
	rss, hwm := processMemory(env.webhook.cmd.Process.Pid)
	lat, late, elapsed, newConns := stowage.sorted(), slices.Sorted(slices.Values(stowage.late)), stowage.elapsed, stowage.newConns
	pct := func(d []time.Duration, p float64) time.Duration { return d[int(float64(len(d)-1)*p)] }
	fl := floor.sorted()

	// Closed loop: as fast as 16 clients go, for the ceiling.
	var done atomic.Int64
	ceilingStart := time.Now()
	deadline := ceilingStart.Add(5 * time.Second)
	var cwg sync.WaitGroup
	for w := 0; w < 16; w++ {
		cwg.Add(1)
		go func(w int) {
			defer cwg.Done()
			for i := w; time.Now().Before(deadline); i += 16 {
				if _, err := post(base, i); err == nil {
					done.Add(1)
				}
			}
		}(w)
	}
	cwg.Wait()
	ceiling := float64(done.Load()) / time.Since(ceilingStart).Seconds()
	release()

	alone := "no other test binary started a control plane during it"
	if !quiet {
		alone = "NOT QUIET: other test binaries may have run beside it (no $" + cluster.QuietLockEnv + ", or it waited too long)"
	}
	r := fmt.Sprintf
	report := r("Webhook load (%d-byte AdmissionReview of the largest corpus StatefulSet, mutate and validate alternating, HTTPS keep-alive on loopback):\n", len(body)) +
		r("- open loop at %d req/s for %ds: %d requests in %s (%.0f req/s), 0 errors, p50 %s, p99 %s, max %s; webhook RSS %d MiB (peak %d MiB); %s\n",
			rps, seconds, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(),
			us(pct(lat, 0.50)), us(pct(lat, 0.99)), us(lat[len(lat)-1]), rss>>20, hwm>>20, alone) +
		r("- webhook during it: %s\n", during.webhook) +
		r("- machine: %s\n", during.machine) +
		r("- generator (this test process): %s; sends late p99 %s, max %s; %d new connections\n",
			during.generator, us(pct(late, 0.99)), us(late[len(late)-1]), newConns) +
		r("- by second of the open loop (the p99 of the requests sent in it; the machine's CPU pressure, busy and steal): %s\n", bySecond(stowage.lat, rps, stowage.seconds)) +
		r("- the floor just before (a no-op webhook in a process of its own, the same certificate, TLS and load): p50 %s, p99 %s, max %s; %d new connections; by second: %s\n",
			us(pct(fl, 0.50)), us(pct(fl, 0.99)), us(fl[len(fl)-1]), floor.newConns, bySecond(floor.lat, rps, floor.seconds)) +
		r("- closed loop, 16 clients, 5 s: %.0f req/s\n", ceiling)
	t.Log("\n" + report)
	os.WriteFile(filepath.Join(env.root, "bin", "webhook-load.md"), []byte(report), 0o644)
}

// loopResult is one open-loop run: latencies and lateness in send order, the connections it
// dialled, and the machine each second.
type loopResult struct {
	lat, late []time.Duration
	elapsed   time.Duration
	newConns  int64
	seconds   []secondSample
	failures  int64
	firstErr  any
}

// sorted is the run's latencies, sorted.
func (r loopResult) sorted() []time.Duration { return slices.Sorted(slices.Values(r.lat)) }

// openLoop sends rps requests a second for seconds: requests start on schedule whatever the
// previous ones did, so latency includes the webhook's queueing, as the API server would see
// it. Latency is counted from the send; how late the generator sent (its own starvation, or
// maxInFlight reached) is kept apart.
func openLoop(post func(i int) (time.Duration, error), rps, seconds, maxInFlight int, dials *atomic.Int64) loopResult {
	n := rps * seconds
	res := loopResult{lat: make([]time.Duration, n), late: make([]time.Duration, n)}
	var failures atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rps)
	sem := make(chan struct{}, maxInFlight)
	dials0 := dials.Load()
	start := time.Now()
	machine := sampleEachSecond(seconds)
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			res.late[i] = time.Since(due)
			took, err := post(i)
			res.lat[i] = took
			if err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}(i)
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.newConns = dials.Load() - dials0
	res.seconds = <-machine
	res.failures, res.firstErr = failures.Load(), firstErr.Load()
	return res
}

// startFloor starts the floor webhook (cluster.ServeFloorFromEnv, from TestMain) with the serving
// certificate in certDir, waits until it serves, and returns its URL; it stops with the test.
func startFloor(t *testing.T, certDir string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	logFile, err := os.Create(filepath.Join(t.TempDir(), "floor.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), cluster.FloorEnv(addr, certDir, "")...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logFile.Close() })
	eventually(t, 30*time.Second, "the floor webhook listens", func() (bool, error) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, nil
		}
		c.Close()
		return true, nil
	})
	return "https://" + addr
}

// us rounds a latency for the report.
func us(d time.Duration) time.Duration {
	if d >= 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(10 * time.Microsecond)
}

// loadSample is what TestWebhookLoad reads before and after its load.
type loadSample struct {
	webhook   gostats.Snapshot // the webhook's runtime metrics
	generator gostats.Snapshot // this process's
	threads   schedStat        // the webhook's threads, from the kernel
	psi       time.Duration    // the machine's CPU pressure ("some" total)
	procs     procCPU          // every process's CPU time
	machine   cluster.MachineCPU
	own       time.Duration // this process's CPU time
}

func sampleLoad(t *testing.T) loadSample {
	t.Helper()
	hook, err := gostats.Fetch(context.Background(), fmt.Sprintf("http://127.0.0.1:%d/debug/runtime-metrics", env.webhook.pprof))
	if err != nil {
		t.Fatal(err)
	}
	machine := readMachine()
	procs := readProcCPU() // before this process's own figures, which should not count the scan
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return loadSample{
		webhook: hook, generator: gostats.Read(), threads: readSchedStat(env.webhook.cmd.Process.Pid),
		psi: cpuPressure(), own: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), procs: procs, machine: machine,
	}
}

// loadSummary is the report's explanation of a run's latency.
type loadSummary struct{ webhook, machine, generator string }

func (after loadSample) since(before loadSample, wall time.Duration, n int) loadSummary {
	hook := after.webhook.Since(before.webhook)
	gen := after.generator.Since(before.generator)
	perReq := func(d time.Duration) string { return r3(float64(d) / float64(time.Millisecond) / float64(n)) }
	sec := func(v float64) time.Duration { return us(time.Duration(v * float64(time.Second))) }
	pauses, sched := hook.Histograms[gostats.GCPauses], hook.Histograms[gostats.SchedLatencies]
	cpu := after.threads.run - before.threads.run
	wait := after.threads.wait - before.threads.wait
	gcCPU, assist := hook.Values[gostats.GCCPU], hook.Values[gostats.GCAssistCPU]
	var s loadSummary
	s.webhook = fmt.Sprintf("CPU %s ms/req (%.0f%% of a core); %d GCs (%.0f MiB allocated, %s KiB/req, heap goal %.0f MiB), "+
		"GC pause p50 %s, p99 %s, max %s; GC CPU %.0f%% of its CPU (assist %.0f%%; the runtime's estimate, which counts wall time and so overstates GC on a starved machine); "+
		"scheduler latency p50 %s, p99 %s, max %s; its threads waited %s for a CPU in the kernel's run queue (%s ms/req)",
		perReq(cpu), 100*cpu.Seconds()/wall.Seconds(), int(hook.Values[gostats.GCCycles]),
		hook.Values[gostats.HeapAllocs]/(1<<20), r3(hook.Values[gostats.HeapAllocs]/1024/float64(n)), hook.Values[gostats.HeapGoal]/(1<<20),
		sec(pauses.Quantile(0.50)), sec(pauses.Quantile(0.99)), sec(pauses.Max()),
		100*gcCPU/max(cpu.Seconds(), 1e-9), 100*assist/max(cpu.Seconds(), 1e-9),
		sec(sched.Quantile(0.50)), sec(sched.Quantile(0.99)), sec(sched.Max()),
		wait.Round(time.Millisecond), perReq(wait))
	others := cpuDeltas(before.procs, after.procs, env.webhook.cmd.Process.Pid, os.Getpid())
	var othersCPU time.Duration
	for _, u := range others {
		othersCPU += u.cpu
	}
	s.machine = fmt.Sprintf("some task waited for a CPU %.0f%% of the time (/proc/pressure/cpu), %d CPUs; %s; the busiest other processes: %s",
		100*float64(after.psi-before.psi)/float64(wall), runtime.NumCPU(),
		machineShare(before.machine, after.machine, wall, runtime.NumCPU(), cpu, after.own-before.own, othersCPU),
		busiest(others, wall, 5))
	gsched := gen.Histograms[gostats.SchedLatencies]
	s.generator = fmt.Sprintf("CPU %s ms/req, scheduler latency p99 %s, max %s, %d GCs",
		perReq(after.own-before.own), sec(gsched.Quantile(0.99)), sec(gsched.Max()), int(gen.Values[gostats.GCCycles]))
	return s
}

// procCPU is every process's CPU time so far (user and system, from /proc/<pid>/stat), by pid,
// with its name, so that a tail can be laid at the door of whatever ran beside the load.
type procCPU map[int]procTime

type procTime struct {
	name   string
	kernel bool
	cpu    time.Duration
}

func readProcCPU() procCPU {
	out := procCPU{}
	paths, _ := filepath.Glob("/proc/[0-9]*")
	for _, path := range paths {
		pid, err := strconv.Atoi(filepath.Base(path))
		if err != nil {
			continue
		}
		if p, ok := cluster.ReadProcess(pid); ok {
			out[pid] = procTime{name: p.Name, kernel: p.Kernel, cpu: p.CPU}
		}
	}
	return out
}

// procUse is one process's CPU between two readings.
type procUse struct {
	pid  int
	name string
	cpu  time.Duration
}

// cpuDeltas is every user process's CPU used between two readings, but the excluded ones,
// busiest first; processes that started during it count from zero. Kernel threads are left
// out: on the CI virtual machine their per-CPU workers report a fifth of a CPU each while
// /proc/stat shows the machine idle, which named them wrongly as the cause of a tail.
func cpuDeltas(before, after procCPU, exclude ...int) []procUse {
	var uses []procUse
	for pid, a := range after {
		if a.kernel || slices.Contains(exclude, pid) {
			continue
		}
		b := before[pid]
		if b.name != a.name {
			b.cpu = 0 // started during it (or a pid used again)
		}
		if d := a.cpu - b.cpu; d > 0 {
			uses = append(uses, procUse{pid, a.name, d})
		}
	}
	sort.Slice(uses, func(i, j int) bool { return uses[i].cpu > uses[j].cpu })
	return uses
}

// busiest names the top processes of uses, each as a share of one CPU over wall.
func busiest(uses []procUse, wall time.Duration, top int) string {
	var parts []string
	for _, u := range uses[:min(top, len(uses))] {
		parts = append(parts, fmt.Sprintf("%s (pid %d) %.0f%%", u.name, u.pid, 100*u.cpu.Seconds()/wall.Seconds()))
	}
	if len(parts) == 0 {
		return "none measurable"
	}
	return strings.Join(parts, ", ") + " of a CPU"
}

// machineShare accounts for the machine's CPU time over a window, each figure a share of the
// CPUs' whole time (CPUs × wall): how busy /proc/stat says they were, what the hypervisor took
// from them (steal), and who was charged: the webhook's threads, the generator, the other user
// processes. What remains of busy plus steal was charged to none of them: the kernel's own
// threads and interrupts, and processes that exited during the window (the Go toolchain's
// compilers and linkers, say). Steal counts on both sides because a process's own figures on
// a virtual machine may include time stolen while it ran.
func machineShare(before, after cluster.MachineCPU, wall time.Duration, cpus int, webhook, generator, others time.Duration) string {
	whole := wall.Seconds() * float64(cpus)
	pc := func(d time.Duration) float64 { return 100 * d.Seconds() / whole }
	busy, steal := after.Busy-before.Busy, after.Steal-before.Steal
	rest := busy + steal - webhook - generator - others
	return fmt.Sprintf("the CPUs were busy %.0f%% of their time and the hypervisor took %.0f%% (steal); the webhook ran %.0f%%, "+
		"the generator %.0f%%, other user processes %.0f%%, and %.0f%% of busy plus steal was charged to none of them "+
		"(the kernel's threads and interrupts, processes that exited during it)",
		pc(busy), pc(steal), pc(webhook), pc(generator), pc(others), pc(max(rest, 0)))
}

// secondSample is the machine over one second of the open loop.
type secondSample struct{ pressure, busy, steal float64 } // shares of the second, and of its CPUs' time

// sampleEachSecond reads the machine's CPU pressure and CPU time at every second for n seconds,
// in the background, and sends the seconds' figures once done.
func sampleEachSecond(n int) <-chan []secondSample {
	out := make(chan []secondSample, 1)
	go func() {
		var samples []secondSample
		psi0, cpu0, t0 := cpuPressure(), readMachine(), time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for range n {
			<-tick.C
			psi, cpu, now := cpuPressure(), readMachine(), time.Now()
			wall := now.Sub(t0)
			whole := wall.Seconds() * float64(runtime.NumCPU())
			samples = append(samples, secondSample{
				pressure: float64(psi-psi0) / float64(wall),
				busy:     (cpu.Busy - cpu0.Busy).Seconds() / whole,
				steal:    (cpu.Steal - cpu0.Steal).Seconds() / whole,
			})
			psi0, cpu0, t0 = psi, cpu, now
		}
		out <- samples
	}()
	return out
}

// readMachine is the machine's CPU time so far, or zero where /proc/stat cannot be read.
func readMachine() cluster.MachineCPU {
	m, _ := cluster.ReadMachineCPU()
	return m
}

// bySecond lays the open loop's latencies (in send order, rps a second) beside the machine's
// figures for the same second, so that a tail can be placed in time: a second whose p99 is high
// while the machine was starved (pressure, steal) points away from the webhook.
func bySecond(lat []time.Duration, rps int, machine []secondSample) string {
	var parts []string
	for i := 0; i*rps < len(lat); i++ {
		sec := slices.Clone(lat[i*rps : min((i+1)*rps, len(lat))])
		slices.Sort(sec)
		part := fmt.Sprintf("%d: %s", i+1, us(sec[int(float64(len(sec)-1)*0.99)]))
		if i < len(machine) {
			m := machine[i]
			part += fmt.Sprintf(" %.0f%%/%.0f%%/%.0f%%", 100*m.pressure, 100*m.busy, 100*m.steal)
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "; ")
}

// r3 prints a small number with three significant digits.
func r3(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }

// schedStat sums a process's threads' /proc/<pid>/task/<tid>/schedstat: time on a CPU and time
// runnable but waiting in the kernel's run queue.
type schedStat struct{ run, wait time.Duration }

func readSchedStat(pid int) schedStat {
	var s schedStat
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	for _, path := range tasks {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // a thread that just exited
		}
		var run, wait int64
		if _, err := fmt.Sscan(string(data), &run, &wait); err == nil {
			s.run += time.Duration(run)
			s.wait += time.Duration(wait)
		}
	}
	return s
}

// cpuPressure is the machine's total time during which some task waited for a CPU, or 0 where
// the kernel does not report pressure.
func cpuPressure() time.Duration {
	data, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "some "); ok {
			for _, f := range strings.Fields(rest) {
				if v, ok := strings.CutPrefix(f, "total="); ok {
					us, _ := strconv.ParseInt(v, 10, 64)
					return time.Duration(us) * time.Microsecond
				}
			}
		}
	}
	return 0
}

func envInt(key string, def int) int {
	var v int
	if _, err := fmt.Sscan(os.Getenv(key), &v); err == nil && v > 0 {
		return v
	}
	return def
}

// largestReview is a CREATE review of the corpus's largest StatefulSet in a namespace the
// webhook covers.
func largestReview(t *testing.T) []byte {
	var best *appsv1.StatefulSet
	size := 0
	for _, f := range testcorpus.Files(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stream.Read(f, data, func(d *stream.Document) error {
			if d.Kind != "StatefulSet" {
				return nil
			}
			s := &appsv1.StatefulSet{}
			if _, err := stream.Decode(d, s); err == nil {
				if b, _ := json.Marshal(s); len(b) > size {
					best, size = s, len(b)
				}
			}
			return nil
		})
	}
	raw, _ := json.Marshal(best)
	review, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID("load"), Operation: admissionv1.Create, Namespace: "load", Name: best.Name,
			Kind:     metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"},
			Resource: metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"},
		},
	})
	return bytes.Replace(review, []byte(`"operation":"CREATE"`), []byte(`"operation":"CREATE","object":`+string(raw)), 1)
}

// processMemory returns a process's resident set size and its peak, in bytes.
func processMemory(pid int) (rss, hwm int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		var kb int64
		if strings.HasPrefix(line, "VmRSS:") {
			fmt.Sscan(strings.TrimPrefix(line, "VmRSS:"), &kb)
			rss = kb << 10
		}
		if strings.HasPrefix(line, "VmHWM:") {
			fmt.Sscan(strings.TrimPrefix(line, "VmHWM:"), &kb)
			hwm = kb << 10
		}
	}
	return rss, hwm
}

// TestLoadAccounting checks the arithmetic of TestWebhookLoad's machine line: who used the CPU
// between two readings, and what no live process was charged for.
func TestLoadAccounting(t *testing.T) {
	before := procCPU{1: {"init", false, time.Second}, 7: {"etcd", false, 2 * time.Second}, 9: {"old", false, time.Second},
		11: {"self", false, 0}, 40: {"kworker/0:2", true, 0}}
	after := procCPU{1: {"init", false, time.Second}, 7: {"etcd", false, 3 * time.Second}, 9: {"new", false, 500 * time.Millisecond},
		11: {"self", false, 9 * time.Second}, 40: {"kworker/0:2", true, 5 * time.Second}}
	uses := cpuDeltas(before, after, 11)
	want := []procUse{{7, "etcd", time.Second}, {9, "new", 500 * time.Millisecond}} // pid 9 used again: counts from zero
	if !slices.Equal(uses, want) {
		t.Errorf("cpuDeltas = %+v, want %+v", uses, want)
	}
	if got := busiest(uses, 2*time.Second, 1); got != "etcd (pid 7) 50% of a CPU" {
		t.Errorf("busiest = %q", got)
	}
	// Two seconds at 4 requests a second; the second second is slow and starved.
	ms := time.Millisecond
	lat := []time.Duration{1 * ms, 2 * ms, 3 * ms, 4 * ms, 9 * ms, 300 * ms, 8 * ms, 7 * ms}
	if got, want := bySecond(lat, 4, []secondSample{{0.1, 0.5, 0}, {0.9, 0.6, 0.25}}), "1: 3ms 10%/50%/0%; 2: 9ms 90%/60%/25%"; got != want {
		t.Errorf("bySecond = %q, want %q", got, want)
	}
	// 2 CPUs for 10 s: 20 s of CPU time. Busy 15 s and steal 1 s: webhook 6, generator 3,
	// others 1.5, so 5.5 s (27.5%, printed 28%) charged to none of them.
	got := machineShare(cluster.MachineCPU{Busy: 100 * time.Second, Steal: time.Second}, cluster.MachineCPU{Busy: 115 * time.Second, Steal: 2 * time.Second},
		10*time.Second, 2, 6*time.Second, 3*time.Second, 1500*time.Millisecond)
	for _, part := range []string{"busy 75%", "took 5% (steal)", "the webhook ran 30%", "the generator 15%", "other user processes 8%", "and 28% of busy plus steal"} {
		if !strings.Contains(got, part) {
			t.Errorf("machineShare = %q, missing %q", got, part)
		}
	}
}
