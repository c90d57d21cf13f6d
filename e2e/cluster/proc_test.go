package cluster

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A name with spaces and parentheses; utime 250 and stime 50 ticks.
	line := "4242 (kworker/1:2 (x) y) S 2 0 0 0 -1 69238880 0 0 0 0 250 50 0 0 20 0 1 0 12 0 0\n"
	name, cpu, ok := parseStat([]byte(line))
	if !ok || name != "kworker/1:2 (x) y" || cpu != 3*time.Second {
		t.Errorf("parseStat = %q, %v, %v; want \"kworker/1:2 (x) y\", 3s, true", name, cpu, ok)
	}
	for _, bad := range []string{"", "12 no parens S 1", "12 (short) S 1 2 3", "12 (x) S 2 0 0 0 -1 0 0 0 0 0 a b 0"} {
		if _, _, ok := parseStat([]byte(bad)); ok {
			t.Errorf("parseStat(%q) ok, want not", bad)
		}
	}
	if name, _, ok := ProcessCPU(os.Getpid()); !ok || name == "" {
		t.Errorf("ProcessCPU(self) = %q, %v", name, ok)
	}
}
