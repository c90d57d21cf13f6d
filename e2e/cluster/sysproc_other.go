//go:build unix && !linux

package cluster

import "syscall"

// sysProcAttr puts a component in its own process group, so that Stop can signal everything it
// started.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
