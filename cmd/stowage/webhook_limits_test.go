//go:build !checkonly

package main

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/go-logr/logr"
)

// The chart passes the container's limit in bytes; the Go soft limit lands at the ratio of it,
// and an explicit GOMEMLIMIT wins.
func TestApplyMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	for _, tc := range []struct {
		name, limit, env string
		ratio            float64
		want             int64 // -1: unchanged
		wantErr          bool
	}{
		{"512Mi in bytes, as the downward API gives it", "536870912", "", 0.75, 402653184, false},
		{"a quantity", "1Gi", "", 0.5, 1 << 29, false},
		{"GOMEMLIMIT set: left to the runtime", "536870912", "400MiB", 0.75, -1, false},
		{"no limit given", "", "", 0.75, -1, false},
		{"not a quantity", "lots", "", 0.75, -1, true},
		{"ratio over 1", "1Gi", "", 1.5, -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tc.env)
			debug.SetMemoryLimit(math.MaxInt64)
			l := &limitFlags{memoryLimit: tc.limit, memoryLimitRatio: tc.ratio}
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
		})
	}
}
