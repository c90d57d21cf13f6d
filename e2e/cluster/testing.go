package cluster

import (
	"context"
	"errors"
	"testing"
)

// StartForTest starts a cluster for t and stops it in t.Cleanup. Harness messages go to t.Logf
// unless opts.Logf is set. When the test has failed, the cleanup first logs the last lines of
// every component's log. A missing binary skips the test when skipIfMissing is true and fails
// it otherwise; any other start error fails it.
func StartForTest(t testing.TB, opts Options, skipIfMissing bool) *Cluster {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	c, err := Start(context.Background(), opts)
	if err != nil {
		if skipIfMissing && errors.Is(err, ErrBinaryNotFound) {
			t.Skipf("e2e binaries missing: %v", err)
		}
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("component logs:\n%s", c.LogTail(40))
		}
		c.Stop()
	})
	return c
}
