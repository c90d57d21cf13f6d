package cluster

import "syscall"

// sysProcAttr puts a component in its own process group, so that Stop can signal everything it
// started, and has the kernel kill it if the test binary dies (a panic, a `go test -timeout`).
// Pdeathsig fires when the OS thread that started the child exits; the Go runtime only ends
// threads whose goroutine exits while locked to them, which the harness never does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
