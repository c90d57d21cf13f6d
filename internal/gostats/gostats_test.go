package gostats

import (
	"context"
	"math"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestQuantileAndMax(t *testing.T) {
	inf := Bound(math.Inf(1))
	h := Histogram{
		// [-Inf,0) [0,1) [1,2) [2,4) [4,+Inf)
		Buckets: []Bound{Bound(math.Inf(-1)), 0, 1, 2, 4, inf},
		Counts:  []uint64{0, 50, 40, 9, 1},
	}
	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"p50 is in [0,1) → its upper bound", h.Quantile(0.50), 1},
		{"p90 is the 90th of 100 values, still in [1,2)", h.Quantile(0.90), 2},
		{"p99 is in [2,4)", h.Quantile(0.99), 4},
		{"p100 is in the unbounded bucket → its lower bound", h.Quantile(1), 4},
		{"max is the highest non-empty bucket", h.Max(), 4},
		{"an empty histogram → 0", Histogram{Buckets: h.Buckets, Counts: make([]uint64, 5)}.Quantile(0.99), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

// The handler's JSON, infinities included, reads back to the same snapshot, and Since leaves
// only what happened in between.
func TestHandlerFetchSince(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	ctx := context.Background()
	before, err := Fetch(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{GCPauses, SchedLatencies} {
		h, ok := before.Histograms[name]
		if !ok || len(h.Buckets) != len(h.Counts)+1 {
			t.Fatalf("%s: missing or malformed (%d buckets, %d counts); has the runtime renamed it?", name, len(h.Buckets), len(h.Counts))
		}
		if !math.IsInf(float64(h.Buckets[len(h.Buckets)-1]), 1) {
			t.Errorf("%s: last bound %v did not survive JSON as +Inf", name, h.Buckets[len(h.Buckets)-1])
		}
	}
	for _, name := range []string{GCCycles, GCCPU, GCAssistCPU, UserCPU, HeapGoal, HeapAllocs} {
		if _, ok := before.Values[name]; !ok {
			t.Errorf("%s missing; has the runtime renamed it?", name)
		}
	}
	runtime.GC()
	runtime.GC()
	after, err := Fetch(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	d := after.Since(before)
	if got := d.Values[GCCycles]; got < 2 {
		t.Errorf("GC cycles in between: %v, want at least 2", got)
	}
	// Each forced GC stops the world twice.
	if got := d.Histograms[GCPauses].Total(); got < 4 {
		t.Errorf("GC pauses in between: %d, want at least 4", got)
	}
	if diff := cmp.Diff(before.Histograms[GCPauses].Buckets, d.Histograms[GCPauses].Buckets); diff != "" {
		t.Errorf("buckets changed (-before +since):\n%s", diff)
	}
}
