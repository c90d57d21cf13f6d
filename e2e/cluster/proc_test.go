package cluster

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A name with spaces and parentheses; utime 250 and stime 50 ticks.
	line := "4242 (kworker/1:2 (x) y) S 2 0 0 0 -1 69238880 0 0 0 0 250 50 0 0 20 0 1 0 12 0 0\n"
	p, ok := parseStat([]byte(line))
	if want := (Process{Name: "kworker/1:2 (x) y", Kernel: true, CPU: 3 * time.Second}); !ok || p != want {
		t.Errorf("parseStat = %+v, %v; want %+v, true", p, ok, want)
	}
	for line, kernel := range map[string]bool{
		"2 (kthreadd) S 0 0 0 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 12 0 0":  true,
		"900 (etcd) S 1 0 0 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 12 0 0":    false,
		"901 (sh) S 900 0 0 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 12 0 0":    false,
		"902 (x (2)) S 2 0 0 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 12 0 0":   true,
		"903 (y) S 22 0 0 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 12 0 0":      false,
		"3 (rcu_gp) I 2 0 0 0 -1 0 0 0 0 0 0 0 0 0 0 -20 1 0 12 0 0 0": true,
	} {
		if p, ok := parseStat([]byte(line)); !ok || p.Kernel != kernel {
			t.Errorf("parseStat(%q) = %+v, %v; want Kernel %t", line, p, ok, kernel)
		}
	}
	for _, bad := range []string{"", "12 no parens S 1", "12 (short) S 1 2 3", "12 (x) S 2 0 0 0 -1 0 0 0 0 0 a b 0", "x (y) S 2 0 0 0 -1 0 0 0 0 0 1 1 0"} {
		if _, ok := parseStat([]byte(bad)); ok {
			t.Errorf("parseStat(%q) ok, want not", bad)
		}
	}
	if name, _, ok := ProcessCPU(os.Getpid()); !ok || name == "" {
		t.Errorf("ProcessCPU(self) = %q, %v", name, ok)
	}
}

func TestParseMachineStat(t *testing.T) {
	// user 100, nice 2, system 30, idle 500, iowait 8, irq 1, softirq 7, steal 40, guest 0 ticks.
	stat := "cpu  100 2 30 500 8 1 7 40 0 0\ncpu0 50 1 15 250 4 0 3 20 0 0\nintr 1 2 3\n"
	got, ok := parseMachineStat([]byte(stat))
	want := MachineCPU{Busy: 1400 * time.Millisecond, Idle: 5080 * time.Millisecond, Steal: 400 * time.Millisecond}
	if !ok || got != want {
		t.Errorf("parseMachineStat = %+v, %v; want %+v, true", got, ok, want)
	}
	// A kernel without steal: seven figures.
	if got, ok := parseMachineStat([]byte("cpu 1 2 3 4 5 6 7\n")); !ok || got.Steal != 0 || got.Busy != 190*time.Millisecond {
		t.Errorf("seven figures: %+v, %v", got, ok)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8\n", "cpu 1 2 3\n", "cpu 1 2 x 4 5 6 7 8\n"} {
		if _, ok := parseMachineStat([]byte(bad)); ok {
			t.Errorf("parseMachineStat(%q) ok, want not", bad)
		}
	}
	if m, ok := ReadMachineCPU(); !ok || m.Busy <= 0 {
		t.Errorf("ReadMachineCPU() = %+v, %v", m, ok)
	}
}
