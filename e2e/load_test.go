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
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/internal/testcorpus"
)

// TestWebhookLoad drives the running `stowage webhook` process over loopback HTTPS with
// keep-alive: an open-loop load at a fixed rate (default 1,000 requests per second, for 10 s)
// of AdmissionReviews for the largest corpus StatefulSet, alternating the mutating and the
// validating endpoint, then a short closed loop to find the ceiling. It reports throughput,
// p50/p99 latency and the process's RSS; it asserts only that every answer is a well-formed
// 200. STOWAGE_LOAD_RPS and STOWAGE_LOAD_SECONDS change the load.
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
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
	}}
	base := fmt.Sprintf("https://127.0.0.1:%d", env.webhook.port)
	post := func(i int) (time.Duration, error) {
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
	for i := 0; i < 50; i++ { // warm the connections and the caches
		if _, err := post(i); err != nil {
			t.Fatal(err)
		}
	}

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
	// Open loop: requests start on schedule whatever the previous ones did, so latency includes
	// queueing, as the API server would see it.
	n := rps * seconds
	lat := make([]time.Duration, n)
	var failures atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rps)
	start := time.Now()
	sem := make(chan struct{}, 512)
	for i := 0; i < n; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			took, err := post(i)
			lat[i] = took
			if err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	rss, hwm := processMemory(env.webhook.cmd.Process.Pid)
	if f := failures.Load(); f > 0 {
		t.Fatalf("%d of %d requests failed; first: %v", f, n, firstErr.Load())
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)] }

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
				if _, err := post(i); err == nil {
					done.Add(1)
				}
			}
		}(w)
	}
	cwg.Wait()
	ceiling := float64(done.Load()) / time.Since(ceilingStart).Seconds()

	report := fmt.Sprintf("Webhook load (%d-byte AdmissionReview of the largest corpus StatefulSet, mutate and validate alternating, HTTPS keep-alive on loopback):\n"+
		"- open loop at %d req/s for %ds: %d requests in %s (%.0f req/s), 0 errors, p50 %s, p99 %s, max %s; webhook RSS %d MiB (peak %d MiB)\n"+
		"- closed loop, 16 clients, 5 s: %.0f req/s\n",
		len(body), rps, seconds, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(),
		pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond),
		rss>>20, hwm>>20, ceiling)
	t.Log("\n" + report)
	os.WriteFile(filepath.Join(env.root, "bin", "webhook-load.md"), []byte(report), 0o644)
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
