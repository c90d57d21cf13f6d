//go:build e2e && linux

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stowage-dev/stowage/e2e/cluster"
)

func TestMain(m *testing.M) {
	// The benchmark starts this binary again to serve the floor webhook.
	if cluster.ServeFloorFromEnv() {
		return
	}
	os.Exit(m.Run())
}

// TestBenchAdmissionSmoke runs `make bench-admission` in miniature so that it cannot rot: one
// round, a few creates per phase. It checks that the table is written with every configuration
// and that the figures are sane (positive, ordered, the mutating configurations stored their
// mutations), never how fast anything is.
func TestBenchAdmissionSmoke(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bench-admission.md")
	opts := Options{Root: root, Rounds: 1, Concurrency: []int{1, 2}, Creates: []int{4, 6}, Warmup: 2, Out: out, Self: self, Logf: t.Logf}
	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	table := string(data)
	t.Log("\n" + table)
	for _, cfg := range []string{cfgNone, cfgStowage, cfgMAP, cfgFloor, cfgPatchFloor} {
		if got := strings.Count(table, "| "+configTitles[cfg]+" |"); got != len(opts.Concurrency) {
			t.Errorf("the table has %d rows for %q, want %d", got, configTitles[cfg], len(opts.Concurrency))
		}
		for _, c := range opts.Concurrency {
			p50, p99, thr, api, ok := res.Figures(cfg, c)
			if !ok || p50 <= 0 || p99 < p50 || thr <= 0 || api < 0 {
				t.Errorf("%s at c=%d: p50 %.3f ms, p99 %.3f ms, %.1f creates/s, API server CPU %.3f ms/req: not sane", cfg, c, p50, p99, thr, api)
			}
		}
	}
	for _, p := range res.Phases {
		want := 0
		if p.config == cfgStowage || p.config == cfgMAP || p.config == cfgStowagePDB || p.config == cfgPatchFloor {
			want = p.n
		}
		if p.mutated != want {
			t.Errorf("%s at c=%d: %d of %d StatefulSets stored with the anti-affinity term, want %d", p.config, p.concurrency, p.mutated, p.n, want)
		}
		if wantPDB := map[bool]int{true: p.n}[p.config == cfgStowagePDB]; p.pdbs != wantPDB {
			t.Errorf("%s at c=%d: %d budgets written, want %d", p.config, p.concurrency, p.pdbs, wantPDB)
		}
		// Stowage writes its budgets as the chart's service account, which the budget webhook's
		// matchCondition leaves out: the API server never calls it for them.
		if p.budgetCalls != 0 {
			t.Errorf("%s at c=%d: the API server called the budget webhook %d times, want 0", p.config, p.concurrency, p.budgetCalls)
		}
	}
	if !strings.Contains(table, "## The PodDisruptionBudget write, separately") || !strings.Contains(table, "## Goals") {
		t.Error("the report lacks the budget or the goals section")
	}
}
