package webhook

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
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
)

// testServer starts the admission server on a loopback port with a throwaway certificate and
// returns its base URL and a client transport that trusts it.
func testServer(t *testing.T, o ServerOptions, c Cluster) (string, func(maxConns int) *http.Transport) {
	t.Helper()
	ss, err := NewSelfSigned([]string{"127.0.0.1"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(ss.CertPEM, ss.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	o.Host, o.Port = "127.0.0.1", 0
	o.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.Certificates = []tls.Certificate{cert} }}
	o.Log = logr.Discard()
	s := NewServer(o)
	s.Register("/validate", &Handler{Mode: Validating, Admitter: &Admitter{Cluster: c}, MaxBodyBytes: o.MaxBodyBytes, Log: logr.Discard()})
	s.Register("/mutate", &Handler{Mode: Mutating, Admitter: &Admitter{Cluster: c}, MaxBodyBytes: o.MaxBodyBytes, Log: logr.Discard()})
	l, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ss.CAPEM)
	transport := func(maxConns int) *http.Transport {
		tr := &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			MaxConnsPerHost:     maxConns,
			MaxIdleConnsPerHost: maxConns,
		}
		t.Cleanup(tr.CloseIdleConnections)
		return tr
	}
	return "https://" + l.Addr().String(), transport
}

// bigReview is a validating review of a StatefulSet padded with an annotation to size bytes.
func bigReview(t testing.TB, size int) []byte {
	sts := galera(t)
	base := review(t, admissionv1.Create, statefulSetsGVR, "", sts, nil)
	sts.Annotations = map[string]string{"example.com/padding": strings.Repeat("x", max(size-len(base)-64, 0))}
	return review(t, admissionv1.Create, statefulSetsGVR, "", sts, nil)
}

// peakMemory samples the memory the Go runtime holds from the OS (mapped and not released:
// what counts against a container's limit) until stop is closed, and returns the peak.
func peakMemory(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
		var peak uint64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(samples)
			if v := samples[0].Value.Uint64() - samples[1].Value.Uint64(); v > peak {
				peak = v
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// The attack of issue 9: 64 clients send 6.5 MiB reviews as fast as they can (declared, and
// chunked so that the length is unknown until read), plus reviews just under the body cap that
// are read and decided, while ordinary 10 KB reviews arrive as from an API server. The process
// must stay under the chart's memory limit (512 MiB, with the Go soft limit the chart sets),
// and every ordinary review must be answered. Their latency under attack is reported, not
// asserted: `go test ./webhook -run TestServerUnderAttack -v`.
func TestServerUnderAttack(t *testing.T) {
	if testing.Short() {
		t.Skip("sends about a gigabyte over loopback")
	}
	const (
		containerLimit = 512 << 20
		attackers      = 64
		ordinary       = 4
	)
	attack := 3 * time.Second
	// As the chart runs it: the Go soft limit at --memory-limit-ratio of the container's.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(containerLimit * 3 / 4))
	runtime.GC()

	base, transport := testServer(t, ServerOptions{}, withPolicy())
	huge := bigReview(t, 6<<20+512<<10)
	nearCap := bigReview(t, MaxBodyBytes-4<<10)
	small := bigReview(t, 10<<10)
	t.Logf("bodies: attack %d and %d bytes, ordinary %d bytes", len(huge), len(nearCap), len(small))

	stop := make(chan struct{})
	peak := peakMemory(stop)
	ctx, cancel := context.WithTimeout(context.Background(), attack)
	defer cancel()
	var wg sync.WaitGroup
	var codes sync.Map // status code or error class → count
	count := func(k string) {
		v, _ := codes.LoadOrStore(k, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	attackClient := &http.Client{Transport: transport(attackers)}
	for i := range attackers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				var body io.Reader
				switch i % 4 {
				case 0, 1:
					body = bytes.NewReader(huge)
				case 2:
					body = struct{ io.Reader }{bytes.NewReader(huge)} // length unknown: chunked
				case 3:
					body = bytes.NewReader(nearCap)
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/validate?timeout=3s", body)
				req.Header.Set("Content-Type", "application/json")
				resp, err := attackClient.Do(req)
				if err != nil {
					count("attack: connection error")
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				count(fmt.Sprintf("attack: %d", resp.StatusCode))
			}
		}()
	}

	// Ordinary reviews over kept-alive connections, as an API server sends them.
	var mu sync.Mutex
	var latencies []time.Duration
	var failures []string
	okClient := &http.Client{Transport: transport(ordinary)}
	for range ordinary {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				start := time.Now()
				// The chart's timeout is 3 s; 10 s keeps a CPU-starved CI machine from failing
				// the test for slowness, which is measured, not asserted.
				req, _ := http.NewRequest(http.MethodPost, base+"/validate?timeout=10s", bytes.NewReader(small))
				req.Header.Set("Content-Type", "application/json")
				resp, err := okClient.Do(req)
				took := time.Since(start)
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var out admissionv1.AdmissionReview
				mu.Lock()
				if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &out) != nil || out.Response == nil || out.Response.UID != "uid-42" {
					failures = append(failures, fmt.Sprintf("%d %.200s", resp.StatusCode, data))
				} else {
					latencies = append(latencies, took)
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	close(stop)
	peakBytes := <-peak

	var summary []string
	codes.Range(func(k, v any) bool {
		summary = append(summary, fmt.Sprintf("%s ×%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(summary)
	t.Logf("attack requests: %s", strings.Join(summary, ", "))
	if len(failures) > 0 {
		t.Errorf("%d ordinary reviews were not answered (first: %s)", len(failures), failures[0])
	}
	if len(latencies) == 0 {
		t.Fatal("no ordinary review was answered")
	}
	slices.Sort(latencies)
	q := func(p float64) time.Duration {
		return latencies[int(p*float64(len(latencies)-1))].Round(100 * time.Microsecond)
	}
	t.Logf("ordinary 10 KB reviews under attack: %d answered, p50 %s, p99 %s, max %s", len(latencies), q(0.5), q(0.99), q(1))
	t.Logf("peak memory held from the OS: %d MiB (container limit %d MiB)", peakBytes>>20, containerLimit>>20)
	if peakBytes >= containerLimit {
		t.Errorf("peak memory %d MiB is over the container limit of %d MiB: the pod would be OOM-killed", peakBytes>>20, containerLimit>>20)
	}
	if v, ok := codes.Load("attack: 413"); !ok || v.(*atomic.Int64).Load() == 0 {
		t.Error("no oversized review was refused with 413")
	}
}

// Excess reviews wait for a slot until two thirds of the API server's timeout, then get 429
// with Retry-After, and small reviews never wait behind large ones.
func TestLimiterQueuesThenRejects(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	blocking := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.WriteHeader(http.StatusOK)
	})
	l := NewLimiter(ServerOptions{MaxInFlight: 1, MaxLargeInFlight: 1})
	srv := &http.Server{Handler: l.Wrap(blocking), ReadHeaderTimeout: time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/validate?timeout=300ms"
	post := func(body io.Reader) chan *http.Response {
		out := make(chan *http.Response, 1)
		go func() {
			resp, err := http.Post(url, "application/json", body)
			if err != nil {
				t.Error(err)
				out <- nil
				return
			}
			resp.Body.Close()
			out <- resp
		}()
		return out
	}
	smallBody := func() io.Reader { return strings.NewReader("{}") }
	largeBody := func() io.Reader { return bytes.NewReader(make([]byte, SmallBodyBytes+1)) }

	first := post(smallBody())
	<-entered // the only small slot is taken
	large := post(largeBody())
	<-entered // a large review has its own slot
	start := time.Now()
	second := <-post(smallBody())
	waited := time.Since(start)
	if second == nil || second.StatusCode != http.StatusTooManyRequests || second.Header.Get("Retry-After") == "" {
		t.Fatalf("a small review with no free slot got %v, want 429 with Retry-After", second)
	}
	if waited < 150*time.Millisecond {
		t.Errorf("the review was turned away after %s, without queueing for its turn", waited)
	}
	tooBig := <-post(bytes.NewReader(make([]byte, MaxBodyBytes+1)))
	if tooBig == nil || tooBig.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("an oversized review got %v, want 413", tooBig)
	}
	close(release)
	for _, ch := range []chan *http.Response{first, large} {
		if r := <-ch; r == nil || r.StatusCode != http.StatusOK {
			t.Errorf("a review holding a slot got %v, want 200", r)
		}
	}
}

// A caller that trickles its headers or its body, or idles on a kept-alive connection, is cut
// off after the server's timeouts instead of holding a connection and a slot.
func TestServerTimeouts(t *testing.T) {
	base, transport := testServer(t, ServerOptions{ReadHeaderTimeout: 300 * time.Millisecond, BodyReadTimeout: 300 * time.Millisecond,
		IdleTimeout: 300 * time.Millisecond}, withPolicy())
	addr := strings.TrimPrefix(base, "https://")
	tlsConfig := transport(1).TLSClientConfig
	for _, tc := range []struct {
		name, send string
	}{
		{"headers never finished", "POST /validate HTTP/1.1\r\nHost: x\r\n"},
		{"body never finished", "POST /validate?timeout=10s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"apiVersion\""},
		{"idle after an answer", "GET /validate HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", addr, tlsConfig)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte(tc.send)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = io.Copy(io.Discard, conn) // returns once the server closes the connection
			if took := time.Since(start); err != nil || took > 3*time.Second {
				t.Errorf("the server kept the connection for %s (%v), want it closed after its 300ms timeout", took.Round(time.Millisecond), err)
			}
		})
	}
}
