package cluster

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Another test binary is played by a second open file description of the lock file: flock
// locks on two descriptions conflict even within one process.
func TestQuiet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e2e.lock")
	t.Setenv(QuietLockEnv, path)
	t.Cleanup(func() {
		if quietLock.f != nil {
			quietLock.f.Close()
			quietLock.f = nil
		}
	})
	ctx := context.Background()
	logf := func(string, ...any) {}

	// This process runs a cluster: it holds the lock shared.
	releaseOwn, err := holdShared(ctx, logf)
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tryShared := func() bool {
		err := syscall.Flock(int(other.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		return err == nil
	}

	// Another binary runs a cluster too: Quiet gives up after its wait and says so.
	if !tryShared() {
		t.Fatal("another binary could not hold the lock shared beside this one")
	}
	begin := time.Now()
	release, quiet, err := Quiet(ctx, 300*time.Millisecond)
	if err != nil || quiet {
		t.Fatalf("Quiet while another binary runs a cluster: quiet %t, err %v; want false, nil", quiet, err)
	}
	if d := time.Since(begin); d < 300*time.Millisecond {
		t.Errorf("Quiet gave up after %s, before its 300ms wait", d)
	}
	release()

	// The other binary's cluster stops: Quiet gets the machine though this process's own
	// cluster still runs, and the other binary cannot start one until release.
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	release, quiet, err = Quiet(ctx, 5*time.Second)
	if err != nil || !quiet {
		t.Fatalf("Quiet with only this process's cluster running: quiet %t, err %v; want true, nil", quiet, err)
	}
	if tryShared() {
		t.Fatal("another binary could start a cluster during the quiet window")
	}
	release()
	if !tryShared() {
		t.Fatal("another binary still cannot start a cluster after the quiet window")
	}
	// This process still holds its shared lock after the window: an exclusive lock elsewhere fails.
	_ = syscall.Flock(int(other.Fd()), syscall.LOCK_UN)
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		t.Fatal("this process's cluster lost its shared lock after the quiet window")
	}
	releaseOwn()
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("lock still held after this process's last cluster stopped: %v", err)
	}
}
