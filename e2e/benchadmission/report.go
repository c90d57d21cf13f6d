//go:build linux

package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// median of a list (the lower middle for an even count, so that it is a measured value).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[(len(s)-1)/2]
}

// stats are one configuration's figures at one concurrency: per round, in round order.
type stats struct {
	p50, p99, thr, api, etcd, hook, mutated, pdbs []float64
}

func (r *Result) byKey() map[string]map[int]*stats {
	out := map[string]map[int]*stats{}
	for _, p := range r.Phases {
		if out[p.config] == nil {
			out[p.config] = map[int]*stats{}
		}
		s := out[p.config][p.concurrency]
		if s == nil {
			s = &stats{}
			out[p.config][p.concurrency] = s
		}
		n := float64(p.n)
		s.p50 = append(s.p50, ms(p.pct(0.5)))
		s.p99 = append(s.p99, ms(p.pct(0.99)))
		s.thr = append(s.thr, n/p.elapsed.Seconds())
		s.api = append(s.api, ms(p.apiCPU)/n)
		s.etcd = append(s.etcd, ms(p.etcdCPU)/n)
		s.hook = append(s.hook, ms(p.hookCPU)/n)
		s.mutated = append(s.mutated, float64(p.mutated)/n)
		s.pdbs = append(s.pdbs, float64(p.pdbs)/n)
	}
	return out
}

// ratio is the median over rounds of a figure divided by A's in the same round.
func ratio(x, a []float64) float64 {
	var v []float64
	for i := range x {
		if i < len(a) && a[i] > 0 {
			v = append(v, x[i]/a[i])
		}
	}
	return median(v)
}

// Figures returns, for the smoke test and the goal lines, a configuration's median p50 (ms),
// p99 (ms), throughput (req/s) and API server CPU per request (ms) at a concurrency.
func (r *Result) Figures(config string, conc int) (p50, p99, thr, api float64, ok bool) {
	s := r.byKey()[config][conc]
	if s == nil {
		return 0, 0, 0, 0, false
	}
	return median(s.p50), median(s.p99), median(s.thr), median(s.api), true
}

// Markdown renders the report.
func (r *Result) Markdown() string {
	by := r.byKey()
	var b strings.Builder
	o := r.Opts
	fmt.Fprintf(&b, "# Admission cost: StatefulSet CREATE on one kube-apiserver\n\n")
	fmt.Fprintf(&b, "`make bench-admission`, %s. %d rounds; each round runs every configuration at every concurrency, in an order that rotates from round to round, each in a fresh namespace; creates per phase: %s. Figures are medians over the rounds; ratios are medians of the per-round ratios to A. CPU is user+system time from /proc/<pid>/stat over the phase (10 ms ticks), divided by the creates.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), o.Rounds, creates(o))
	if r.Note != "" {
		fmt.Fprintf(&b, "%s\n\n", r.Note)
	}
	order := []string{cfgNone, cfgStowage, cfgMAP, cfgFloor, cfgPatchFloor}
	b.WriteString("| configuration | c | p50 ms | p99 ms | creates/s | API server CPU ms/req | etcd CPU ms/req | webhook CPU ms/req | p50 ms over rounds (min–max) | p50 ×A | p99 ×A | throughput ×A | API CPU ×A | stored mutated |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, conc := range o.Concurrency {
		a := by[cfgNone][conc]
		for _, cfg := range order {
			s := by[cfg][conc]
			if s == nil || a == nil {
				continue
			}
			hook := "–"
			if cfg == cfgStowage || cfg == cfgFloor || cfg == cfgPatchFloor {
				hook = fmt.Sprintf("%.2f", median(s.hook))
			}
			fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.0f | %.2f | %.2f | %s | %.2f–%.2f | %.2f× | %.2f× | %.2f× | %.2f× | %.0f%% |\n",
				configTitles[cfg], conc, median(s.p50), median(s.p99), median(s.thr), median(s.api), median(s.etcd), hook,
				minOf(s.p50), maxOf(s.p50), ratio(s.p50, a.p50), ratio(s.p99, a.p99), ratio(s.thr, a.thr), ratio(s.api, a.api), 100*median(s.mutated))
		}
	}
	b.WriteString("\n## The PodDisruptionBudget write, separately\n\n")
	b.WriteString("W + PDB is W with Stowage's budget controller acting in the namespace: the phase lasts until every budget has been seen, and its CPU includes the controller's reads and writes. The difference to W is what the budget costs per StatefulSet.\n\n")
	b.WriteString("| c | W + PDB p50 ms | W + PDB API server CPU ms/req | PDB write: API server CPU ms per StatefulSet (W + PDB − W) | Stowage CPU ms per StatefulSet (W + PDB − W) | budgets written |\n|---|---|---|---|---|---|\n")
	for _, conc := range o.Concurrency {
		wp, w := by[cfgStowagePDB][conc], by[cfgStowage][conc]
		if wp == nil || w == nil {
			continue
		}
		fmt.Fprintf(&b, "| %d | %.2f | %.2f | %+.2f | %+.2f | %.0f%% |\n", conc, median(wp.p50), median(wp.api),
			median(wp.api)-median(w.api), median(wp.hook)-median(w.hook), 100*median(wp.pdbs))
	}
	b.WriteString("\n## Goals (issue 14)\n\n")
	for _, conc := range o.Concurrency {
		a, w, m, f, pf := by[cfgNone][conc], by[cfgStowage][conc], by[cfgMAP][conc], by[cfgFloor][conc], by[cfgPatchFloor][conc]
		if a == nil || w == nil || m == nil || f == nil || pf == nil {
			continue
		}
		p := ratio(w.p50, a.p50)
		c := ratio(w.api, a.api)
		fmt.Fprintf(&b, "- c=%d: Stowage p50 %.2f× A (goal ≤ 1.30×: %s); Stowage p50 %.2f ms vs MAP %.2f ms (goal below: %s); API server CPU %.2f× A (goal ≤ 1.30×: %s). Floor: p50 %.2f× A, CPU %.2f× A. Mutating floor (what setting these fields costs any webhook): p50 %.2f× A, CPU %.2f× A.\n",
			conc, p, metStr(p <= 1.3), median(w.p50), median(m.p50), metStr(median(w.p50) < median(m.p50)), c, metStr(c <= 1.3),
			ratio(f.p50, a.p50), ratio(f.api, a.api), ratio(pf.p50, a.p50), ratio(pf.api, a.api))
	}
	fmt.Fprintf(&b, "\nMachine: %s; Stowage RSS at the end %d MiB. Noise: the load generator, etcd, kube-apiserver and the webhooks share the machine's CPUs (and, on a shared machine, other work's); compare the per-round ranges before reading a difference smaller than they are.\n",
		r.Env, r.RSS>>20)
	b.WriteString("\nAll configurations are installed for the whole run and each selects only namespaces labelled for it, so every request, A's too, pays the API server's namespaceSelector checks of the configurations' webhooks and the policy bindings, and the watch events of Stowage's informers.\n")
	return b.String()
}

func creates(o Options) string {
	var parts []string
	for i, c := range o.Concurrency {
		parts = append(parts, fmt.Sprintf("%d at c=%d", o.Creates[i], c))
	}
	return strings.Join(parts, ", ")
}

func metStr(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

func minOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}
