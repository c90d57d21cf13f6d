//go:build !checkonly

package main

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/go-logr/logr"
)

// The chart passes the container's limit in bytes; the Go soft limit lands at the ratio of it,
// and an explicit GOMEMLIMIT wins. Under a limit, from the flag or GOMEMLIMIT, GOGC is 200
// unless $GOGC is set.
func TestApplyMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, tc := range []struct {
		name, limit, env, gogc string
		ratio                  float64
		gcPercent              int   // 0: the flag's default
		want                   int64 // -1: unchanged
		wantGC                 int
		wantErr                bool
	}{
		{"512Mi in bytes, as the downward API gives it", "536870912", "", "", 0.75, 0, 402653184, 200, false},
		{"a quantity", "1Gi", "", "", 0.5, 0, 1 << 29, 200, false},
		{"GOGC set: left to the runtime", "1Gi", "", "150", 0.5, 0, 1 << 29, 100, false},
		{"GOMEMLIMIT set: left to the runtime", "536870912", "400MiB", "", 0.75, 0, 400 << 20, 200, false},
		{"GOMEMLIMIT=off: no limit, GOGC left alone", "536870912", "off", "", 0.75, 0, -1, 100, false},
		{"no limit given", "", "", "", 0.75, 0, -1, 100, false},
		{"not a quantity", "lots", "", "", 0.75, 0, -1, 100, true},
		{"ratio over 1", "1Gi", "", "", 1.5, 0, -1, 100, true},
		{"--gc-percent 150", "1Gi", "", "", 0.5, 150, 1 << 29, 150, false},
		{"--gc-percent below 1", "1Gi", "", "", 0.5, -5, -1, 100, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tc.env)
			t.Setenv("GOGC", tc.gogc)
			debug.SetMemoryLimit(math.MaxInt64)
			if tc.env == "400MiB" {
				debug.SetMemoryLimit(400 << 20) // as the runtime does at its start
			}
			debug.SetGCPercent(100) // what the test reads back when the runtime is left alone
			if tc.gcPercent == 0 {
				tc.gcPercent = gcPercentUnderLimit
			}
			l := &limitFlags{memoryLimit: tc.limit, memoryLimitRatio: tc.ratio, gcPercent: tc.gcPercent}
			err := l.applyMemoryLimit(logr.Discard())
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %t", err, tc.wantErr)
			}
			got := debug.SetMemoryLimit(-1)
			if tc.want < 0 {
				tc.want = math.MaxInt64
			}
			if got != tc.want {
				t.Errorf("Go memory limit %d, want %d", got, tc.want)
			}
			if gc := debug.SetGCPercent(100); gc != tc.wantGC {
				t.Errorf("GOGC %d, want %d", gc, tc.wantGC)
			}
		})
	}
}
