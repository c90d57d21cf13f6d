package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// process is one running component. Its output goes to a log file; a goroutine reaps it and
// closes done when it exits.
type process struct {
	component Component
	cmd       *exec.Cmd
	logPath   string
	logFile   *os.File
	done      chan struct{}
	waitErr   error // set before done is closed
}

// startProcess starts bin with args in its own process group, with stdout and stderr appended
// to logPath. On Linux the child also gets SIGKILL if the test binary dies, so that a crashed or
// timed-out test leaves nothing running.
func startProcess(component Component, bin string, args, env []string, logPath string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", component, err)
	}
	fmt.Fprintf(logFile, "### %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = env
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", component, err)
	}
	p := &process{component: component, cmd: cmd, logPath: logPath, logFile: logFile, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// pid returns the process id, which is also its process group id.
func (p *process) pid() int {
	return p.cmd.Process.Pid
}

// exitedErr returns a non-nil error describing the exit if the process has exited.
func (p *process) exitedErr() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited early (%v); last lines of %s:\n%s", p.component, p.waitErr, p.logPath, tailFile(p.logPath, 30))
	default:
		return nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after grace, and waits for the process
// to be reaped. Every process left in the group gets SIGKILL at the end too, so that nothing a
// component forked survives it.
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil // reaped long ago: its group id may belong to someone else by now
	default:
	}
	killGroup(p.pid(), syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	var err error
	select {
	case <-p.done:
	case <-timer.C:
		killGroup(p.pid(), syscall.SIGKILL)
		select {
		case <-p.done:
			err = fmt.Errorf("%s did not stop within %s of SIGTERM and was killed", p.component, grace)
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s (pid %d) still running 10s after SIGKILL", p.component, p.pid())
		}
	}
	killGroup(p.pid(), syscall.SIGKILL)
	return err
}

// killGroup signals every process in the group pgid, ignoring a group that is already gone.
func killGroup(pgid int, sig syscall.Signal) {
	if pgid <= 0 {
		return
	}
	_ = syscall.Kill(-pgid, sig)
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. It holds all listeners open until
// it has them all, so the ports differ; another process may still take one before the
// component binds it, which Start reports as a component exiting early.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		addr, ok := l.Addr().(*net.TCPAddr)
		if !ok {
			return nil, fmt.Errorf("find a free port: unexpected address %v", l.Addr())
		}
		ports = append(ports, addr.Port)
	}
	return ports, nil
}

// tailMaxBytes bounds how much of a log file tailFile reads.
const tailMaxBytes = 1 << 20

// tailFile returns the last n lines of the file at path, or a note saying why it can't.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	offset := max(fi.Size()-tailMaxBytes, 0)
	buf, err := io.ReadAll(io.NewSectionReader(f, offset, fi.Size()-offset))
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	return lastLines(buf, n)
}

// lastLines returns the last n lines of buf, without a trailing newline.
func lastLines(buf []byte, n int) string {
	buf = bytes.TrimRight(buf, "\n")
	if n <= 0 || len(buf) == 0 {
		return ""
	}
	i := len(buf)
	for range n {
		j := bytes.LastIndexByte(buf[:i], '\n')
		if j < 0 {
			return string(buf)
		}
		i = j
	}
	return string(buf[i+1:])
}
