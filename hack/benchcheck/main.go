//go:build linux

// Command benchcheck times `stowage check` as a user runs it in CI: a built binary over the
// shared corpus of rendered charts and over ten copies of it, measuring wall time, CPU time and
// peak RSS (wait4's rusage) of each run; the full stowage binary too, when given. When given,
// the peer tools are timed over the same inputs
// with a policy equivalent to Stowage's rules: `kyverno apply` (policies/kyverno.yaml), kube-score
// (its built-in checks) and `gator test` (policies/gator/). `make bench-check` builds everything
// and runs it:
//
//	go run ./hack/benchcheck -stowage-check bin/stowage-check [-kyverno bin/…] -out bin/bench-check.md
//
// Runs are interleaved: every round runs every tool on every input, in an order that rotates
// from round to round, so load that comes and goes on the machine hits every tool alike. The
// table gives medians over the rounds, and each tool's wall and CPU time as multiples of
// stowage-check's on the same input (on a loaded machine, the CPU ratio is the steadier one).
//
// It may import the standard library only: it runs the tools as a user does, as processes.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// tool is one command to time.
type tool struct {
	name, version, path string
	// args gives the arguments for an input directory and the manifest files in it.
	args func(dir string, files []string) []string
	// ok says whether an exit code is a normal outcome (findings make most tools exit 1).
	ok func(code int) bool
}

// input is a directory of manifests.
type input struct {
	name  string
	dir   string
	files []string
	bytes int64
}

// sample is one run.
type sample struct {
	wall, cpu time.Duration
	rssKiB    int64
}

func main() {
	stowage := flag.String("stowage-check", "bin/stowage-check", "stowage-check binary (make build-check)")
	stowageVersion := flag.String("stowage-version", "dev", "version shown for stowage-check and stowage")
	full := flag.String("stowage", "", "the full stowage binary (make build), to time beside stowage-check; skipped when empty")
	kyverno := flag.String("kyverno", "", "kyverno CLI binary; skipped when empty or missing")
	kyvernoVersion := flag.String("kyverno-version", "", "version shown for kyverno")
	kubeScore := flag.String("kube-score", "", "kube-score binary; skipped when empty or missing")
	kubeScoreVersion := flag.String("kube-score-version", "", "version shown for kube-score")
	gator := flag.String("gator", "", "gator binary; skipped when empty or missing")
	gatorVersion := flag.String("gator-version", "", "version shown for gator")
	corpus := flag.String("corpus", "../shared/corpus", "corpus of rendered charts (else testdata/corpus)")
	policies := flag.String("policies", "hack/benchcheck/policies", "the peers' policies")
	rounds := flag.Int("rounds", 10, "interleaved rounds; the table gives medians")
	out := flag.String("out", "bin/bench-check.md", "markdown table")
	flag.Parse()

	if _, err := os.Stat(*corpus); err != nil {
		*corpus = "testdata/corpus"
	}
	tmp, err := os.MkdirTemp("", "benchcheck-")
	check(err)
	defer os.RemoveAll(tmp)
	one := readInput("corpus", *corpus)
	for i := 1; i <= 10; i++ {
		check(os.CopyFS(filepath.Join(tmp, fmt.Sprint(i)), os.DirFS(*corpus)))
	}
	ten := readInput("10× corpus", tmp)
	inputs := []*input{one, ten}

	exit01 := func(code int) bool { return code == 0 || code == 1 }
	tools := []*tool{{name: "stowage-check", version: *stowageVersion, path: *stowage, ok: exit01,
		args: func(dir string, _ []string) []string { return []string{"check", "-o", "json", dir} }}}
	var skipped []string
	add := func(t *tool) {
		if t.path == "" {
			skipped = append(skipped, t.name+" (not given)")
			return
		}
		if _, err := os.Stat(t.path); err != nil {
			skipped = append(skipped, fmt.Sprintf("%s (%s: not built)", t.name, t.path))
			return
		}
		tools = append(tools, t)
	}
	if *full != "" {
		add(&tool{name: "stowage check", version: *stowageVersion, path: *full, ok: exit01, args: tools[0].args})
	}
	add(&tool{name: "kyverno apply", version: *kyvernoVersion, path: *kyverno, ok: exit01,
		args: func(dir string, _ []string) []string {
			return []string{"apply", filepath.Join(*policies, "kyverno.yaml"), "--resource", dir, "--remove-color"}
		}})
	add(&tool{name: "kube-score", version: *kubeScoreVersion, path: *kubeScore, ok: exit01,
		args: func(_ string, files []string) []string { return append([]string{"score", "-o", "ci"}, files...) }})
	add(&tool{name: "gator test", version: *gatorVersion, path: *gator, ok: exit01,
		args: func(dir string, _ []string) []string {
			return []string{"test", "-f", dir, "-f", filepath.Join(*policies, "gator")}
		}})

	// A first run of each, untimed: warms the page cache, and shows that each tool read the
	// input and found what it should (the end of its output).
	for _, t := range tools {
		for _, in := range inputs {
			_, tail, err := run(t, in)
			fmt.Fprintf(os.Stderr, ">> %s on the %s: %s\n%s\n", t.name, in.name, errText(err), indent(tail))
			if err != nil {
				fmt.Fprintf(os.Stderr, "benchcheck: %s fails; fix it or leave it out\n", t.name)
				os.Exit(1)
			}
		}
	}

	load0 := loadavg()
	samples := map[string][]sample{}
	key := func(t *tool, in *input) string { return t.name + "\x00" + in.name }
	for r := 0; r < *rounds; r++ {
		for i := range tools {
			t := tools[(i+r)%len(tools)]
			for _, in := range inputs {
				s, tail, err := run(t, in)
				if err != nil {
					fmt.Fprintf(os.Stderr, "benchcheck: %s on the %s: %v\n%s\n", t.name, in.name, err, indent(tail))
					os.Exit(1)
				}
				samples[key(t, in)] = append(samples[key(t, in)], s)
			}
		}
		fmt.Fprintf(os.Stderr, ">> round %d/%d done\n", r+1, *rounds)
	}
	load1 := loadavg()

	var b strings.Builder
	fmt.Fprintf(&b, "# stowage check and its peers\n\n")
	fmt.Fprintf(&b, "%s, %d rounds interleaved (medians; min wall in brackets), GOMAXPROCS %d, load average %s at the start and %s at the end.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), *rounds, runtime.GOMAXPROCS(0), load0, load1)
	fmt.Fprintf(&b, "Inputs: the corpus (%d files, %d KiB) and ten copies of it (%d files, %d KiB). "+
		"Wall and CPU (user + system) time and peak RSS per run, from wait4.\n\n",
		len(one.files), one.bytes>>10, len(ten.files), ten.bytes>>10)
	b.WriteString("| Tool | Version | Input | Wall | CPU | Max RSS | Wall ÷ stowage-check | CPU ÷ stowage-check |\n|---|---|---|---|---|---|---|---|\n")
	for _, in := range inputs {
		base := median(samples[key(tools[0], in)], func(s sample) float64 { return s.wall.Seconds() })
		baseCPU := median(samples[key(tools[0], in)], func(s sample) float64 { return s.cpu.Seconds() })
		for _, t := range tools {
			ss := samples[key(t, in)]
			wall := median(ss, func(s sample) float64 { return s.wall.Seconds() })
			minWall := slices.MinFunc(ss, func(a, b sample) int { return int(a.wall - b.wall) }).wall.Seconds()
			cpu := median(ss, func(s sample) float64 { return s.cpu.Seconds() })
			rss := median(ss, func(s sample) float64 { return float64(s.rssKiB) / 1024 })
			fmt.Fprintf(&b, "| %s | %s | %s | %.3f s [%.3f] | %.3f s | %.1f MiB | %.1f× | %.1f× |\n",
				t.name, t.version, in.name, wall, minWall, cpu, rss, wall/base, cpu/baseCPU)
		}
	}
	if len(skipped) > 0 {
		fmt.Fprintf(&b, "\nNot timed: %s.\n", strings.Join(skipped, "; "))
	}
	b.WriteString("\nCommands:\n\n")
	for _, t := range tools {
		fmt.Fprintf(&b, "- %s: `%s %s`\n", t.name, filepath.Base(t.path), strings.Join(t.args("DIR", []string{"FILES…"}), " "))
	}
	fmt.Print(b.String())
	if *out != "" {
		check(os.MkdirAll(filepath.Dir(*out), 0o755))
		check(os.WriteFile(*out, []byte(b.String()), 0o644))
		fmt.Fprintf(os.Stderr, ">> table written to %s\n", *out)
	}
}

// run runs a tool once on an input. tail is the end of its output.
func run(t *tool, in *input) (sample, string, error) {
	cmd := exec.Command(t.path, t.args(in.dir, in.files)...)
	var buf tailBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var ee *exec.ExitError
	if errors.As(err, &ee) && t.ok(ee.ExitCode()) {
		err = nil
	}
	if err != nil {
		return sample{}, buf.String(), err
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return sample{wall: wall, cpu: cpu, rssKiB: ru.Maxrss}, buf.String(), nil
}

// tailBuffer keeps the last few KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	const keep = 4 << 10
	t.b = append(t.b, p...)
	if len(t.b) > 2*keep {
		t.b = append(t.b[:0], t.b[len(t.b)-keep:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	lines := strings.Split(strings.TrimRight(string(t.b), "\n"), "\n")
	if len(lines) > 4 {
		lines = lines[len(lines)-4:]
	}
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[len(l)-300:]
		}
	}
	return strings.Join(lines, "\n")
}

func readInput(name, dir string) *input {
	in := &input{name: name, dir: dir}
	check(filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		in.files = append(in.files, path)
		in.bytes += info.Size()
		return nil
	}))
	if len(in.files) == 0 {
		check(fmt.Errorf("no manifests in %s", dir))
	}
	return in
}

func median(ss []sample, f func(sample) float64) float64 {
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func errText(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}

func indent(s string) string { return "     " + strings.ReplaceAll(s, "\n", "\n     ") }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcheck:", err)
		os.Exit(1)
	}
}
