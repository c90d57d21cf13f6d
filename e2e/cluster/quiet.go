package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// QuietLockEnv names a lock file that the e2e test binaries share. `go test ./e2e/...` runs
// several packages' binaries side by side (-p defaults to the number of CPUs), each starting
// control planes of its own; a measurement that needs the machine to itself takes the lock
// exclusively (Quiet), and every running control plane holds it shared, so neither overlaps
// the other. The Makefile sets it; without it there is no coordination.
const QuietLockEnv = "STOWAGE_E2E_LOCK"

// quietLock is this process's handle on the lock file. Its flock is shared while any cluster
// of this process runs, exclusive during Quiet, and released otherwise.
var quietLock struct {
	mu      sync.Mutex
	f       *os.File
	running int // clusters of this process holding the shared lock
	quiet   bool
}

// holdShared takes the shared lock for a starting cluster (waiting for a Quiet window of
// another process to end) and returns its release, to call once the cluster has stopped.
func holdShared(ctx context.Context, logf func(string, ...any)) (func(), error) {
	path := os.Getenv(QuietLockEnv)
	if path == "" {
		return func() {}, nil
	}
	quietLock.mu.Lock()
	defer quietLock.mu.Unlock()
	if quietLock.f == nil {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", QuietLockEnv, err)
		}
		quietLock.f = f
	}
	if quietLock.running == 0 && !quietLock.quiet {
		begin := time.Now()
		if err := flockWait(ctx, quietLock.f, syscall.LOCK_SH); err != nil {
			return nil, fmt.Errorf("waiting for another test binary's quiet window ($%s): %w", QuietLockEnv, err)
		}
		if d := time.Since(begin); d > time.Second {
			logf("waited %s for another test binary's quiet window", d.Round(time.Second))
		}
	}
	quietLock.running++
	var once sync.Once
	return func() {
		once.Do(func() {
			quietLock.mu.Lock()
			defer quietLock.mu.Unlock()
			quietLock.running--
			if quietLock.running == 0 && !quietLock.quiet {
				_ = syscall.Flock(int(quietLock.f.Fd()), syscall.LOCK_UN)
			}
		})
	}, nil
}

// Quiet waits, at most maxWait, until no other test binary sharing $STOWAGE_E2E_LOCK runs a
// control plane, and keeps them from starting one until release is called; this process's own
// clusters keep running. quiet is false when the wait timed out (or the variable is unset):
// the measurement then runs alongside whatever else runs, and should say so.
func Quiet(ctx context.Context, maxWait time.Duration) (release func(), quiet bool, err error) {
	path := os.Getenv(QuietLockEnv)
	if path == "" {
		return func() {}, false, nil
	}
	quietLock.mu.Lock()
	if quietLock.f == nil {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			quietLock.mu.Unlock()
			return nil, false, fmt.Errorf("$%s: %w", QuietLockEnv, err)
		}
		quietLock.f = f
	}
	wctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	// Converting our shared lock to an exclusive one waits for the other binaries' shared locks.
	err = flockWait(wctx, quietLock.f, syscall.LOCK_EX)
	if err != nil {
		// Linux drops the shared lock when a conversion fails; take it back.
		if quietLock.running > 0 {
			_ = flockWait(ctx, quietLock.f, syscall.LOCK_SH)
		}
		quietLock.mu.Unlock()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return func() {}, false, nil
		}
		return nil, false, err
	}
	quietLock.quiet = true
	quietLock.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			quietLock.mu.Lock()
			defer quietLock.mu.Unlock()
			quietLock.quiet = false
			how := syscall.LOCK_UN
			if quietLock.running > 0 {
				how = syscall.LOCK_SH
			}
			_ = syscall.Flock(int(quietLock.f.Fd()), how)
		})
	}, true, nil
}

// flockWait takes a flock, polling so that ctx can end the wait.
func flockWait(ctx context.Context, f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
