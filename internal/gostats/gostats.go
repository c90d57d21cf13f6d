// Package gostats serves a process's Go runtime metrics (runtime/metrics) at full resolution and
// reads them back, so that a load test can put the webhook's garbage-collection pauses, GC CPU
// and scheduler latency next to its request latency. The Prometheus Go collector on /metrics
// exports the same histograms, but re-bucketed by powers of ten: too coarse to tell a 1 ms tail
// from a 9 ms one. The runtime's own buckets are a few percent wide.
//
// It may import the standard library only.
package gostats

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime/metrics"
	"strconv"
)

// Well-known runtime metrics.
const (
	// GCPauses is the distribution of stop-the-world pauses for garbage collection.
	GCPauses = "/sched/pauses/total/gc:seconds"
	// SchedLatencies is the distribution of the time goroutines spent runnable before running.
	SchedLatencies = "/sched/latencies:seconds"
	// GCCycles counts completed GC cycles.
	GCCycles = "/gc/cycles/total:gc-cycles"
	// GCCPU is the CPU time spent on garbage collection (mark assist, dedicated and idle
	// workers, pauses), an estimate by the runtime.
	GCCPU = "/cpu/classes/gc/total:cpu-seconds"
	// GCAssistCPU is the part of GCCPU that goroutines spent assisting the collector instead
	// of doing their own work: it lands directly on request latency.
	GCAssistCPU = "/cpu/classes/gc/mark/assist:cpu-seconds"
	// UserCPU is the CPU time spent running Go code, an estimate by the runtime.
	UserCPU = "/cpu/classes/user:cpu-seconds"
	// HeapGoal is the heap size at which the next GC starts.
	HeapGoal = "/gc/heap/goal:bytes"
	// HeapAllocs is the cumulative bytes allocated on the heap.
	HeapAllocs = "/gc/heap/allocs:bytes"
)

// Snapshot is every runtime metric at one moment: scalars as float64, histograms in full.
type Snapshot struct {
	Values     map[string]float64   `json:"values"`
	Histograms map[string]Histogram `json:"histograms"`
}

// Histogram is a runtime/metrics histogram: Counts[i] values fell in [Buckets[i], Buckets[i+1]).
// The first bound may be -Inf and the last +Inf.
type Histogram struct {
	Counts  []uint64 `json:"counts"`
	Buckets []Bound  `json:"buckets"`
}

// Bound is a bucket boundary; it encodes to JSON as a number, or as "+Inf" and "-Inf".
type Bound float64

// MarshalJSON writes infinities as strings, which JSON numbers cannot hold.
func (b Bound) MarshalJSON() ([]byte, error) {
	if math.IsInf(float64(b), 0) {
		return []byte(strconv.Quote(strconv.FormatFloat(float64(b), 'g', -1, 64))), nil
	}
	return []byte(strconv.FormatFloat(float64(b), 'g', -1, 64)), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (b *Bound) UnmarshalJSON(data []byte) error {
	s := string(data)
	if u, err := strconv.Unquote(s); err == nil {
		s = u
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("histogram bound %s: %w", data, err)
	}
	*b = Bound(f)
	return nil
}

// Read samples every supported runtime metric.
func Read() Snapshot {
	descs := metrics.All()
	samples := make([]metrics.Sample, len(descs))
	for i := range descs {
		samples[i].Name = descs[i].Name
	}
	metrics.Read(samples)
	s := Snapshot{Values: map[string]float64{}, Histograms: map[string]Histogram{}}
	for _, m := range samples {
		switch m.Value.Kind() {
		case metrics.KindUint64:
			s.Values[m.Name] = float64(m.Value.Uint64())
		case metrics.KindFloat64:
			s.Values[m.Name] = m.Value.Float64()
		case metrics.KindFloat64Histogram:
			h := m.Value.Float64Histogram()
			out := Histogram{Counts: append([]uint64(nil), h.Counts...), Buckets: make([]Bound, len(h.Buckets))}
			for i, b := range h.Buckets {
				out.Buckets[i] = Bound(b)
			}
			s.Histograms[m.Name] = out
		}
	}
	return s
}

// Handler serves Read as JSON. Like pprof's endpoints it is for debugging: serve it only where
// pprof is served.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Read())
	})
}

// Fetch reads a Snapshot from a Handler at url.
func Fetch(ctx context.Context, url string) (Snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Snapshot{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Snapshot{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Snapshot{}, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	var s Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return Snapshot{}, fmt.Errorf("GET %s: %w", url, err)
	}
	return s, nil
}

// Since returns what happened between before and s: scalar differences (meaningful for the
// cumulative ones; gauges such as HeapGoal keep s's value) and histogram count differences.
func (s Snapshot) Since(before Snapshot) Snapshot {
	out := Snapshot{Values: map[string]float64{}, Histograms: map[string]Histogram{}}
	for k, v := range s.Values {
		out.Values[k] = v - before.Values[k]
	}
	out.Values[HeapGoal] = s.Values[HeapGoal]
	for k, h := range s.Histograms {
		b, ok := before.Histograms[k]
		d := Histogram{Counts: append([]uint64(nil), h.Counts...), Buckets: h.Buckets}
		if ok && len(b.Counts) == len(h.Counts) {
			for i := range d.Counts {
				d.Counts[i] -= min(b.Counts[i], d.Counts[i])
			}
		}
		out.Histograms[k] = d
	}
	return out
}

// Total is the number of values in the histogram.
func (h Histogram) Total() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Quantile returns the upper bound of the bucket that holds the q-quantile (0 < q ≤ 1), so the
// true value is at most that; for the last, unbounded bucket it returns the lower bound. It
// returns 0 for an empty histogram.
func (h Histogram) Quantile(q float64) float64 {
	total := h.Total()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			return h.upper(i)
		}
	}
	return h.upper(len(h.Counts) - 1)
}

// Max returns the upper bound of the highest non-empty bucket (see Quantile), or 0.
func (h Histogram) Max() float64 {
	for i := len(h.Counts) - 1; i >= 0; i-- {
		if h.Counts[i] > 0 {
			return h.upper(i)
		}
	}
	return 0
}

func (h Histogram) upper(i int) float64 {
	if u := float64(h.Buckets[i+1]); !math.IsInf(u, 1) {
		return u
	}
	return math.Max(float64(h.Buckets[i]), 0)
}
