package controllers

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// stoppingManager stops on its own the first times it is started, as a manager does when it
// loses the leader lease, and then runs until its context ends.
type stoppingManager struct {
	manager.Manager
	lost bool
}

func (m stoppingManager) Start(ctx context.Context) error {
	if m.lost {
		return errors.New("leader election lost")
	}
	<-ctx.Done()
	return nil
}

// A lost lease makes Run build a new manager and campaign again; it never returns an error for
// it, so the admission server that runs beside it keeps serving.
func TestRunRebuildsTheManagerAfterALostLease(t *testing.T) {
	var built atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, func() (manager.Manager, error) {
			n := built.Add(1)
			return stoppingManager{lost: n <= 2}, nil
		}, 10*time.Millisecond, logr.Discard())
	}()
	deadline := time.Now().Add(10 * time.Second)
	for built.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned while its context was live: %v", err)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v after its context ended, want nil", err)
	}
	if n := built.Load(); n != 3 {
		t.Errorf("built %d managers, want 3 (two lost leases, then one that runs)", n)
	}
}

// An error building the manager (bad configuration) is returned: it would fail again.
func TestRunReturnsBuildErrors(t *testing.T) {
	want := errors.New("bad flags")
	err := Run(context.Background(), func() (manager.Manager, error) { return nil, want }, time.Millisecond, logr.Discard())
	if !errors.Is(err, want) {
		t.Errorf("Run = %v, want %v", err, want)
	}
}
