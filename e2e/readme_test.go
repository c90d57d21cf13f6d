//go:build e2e

package e2e

// Every command block of the README runs, exactly as written, each on a fresh control plane of
// its own (etcd and kube-apiserver from bin/), with kubectl, helm and go on the PATH and
// ~/.kube/config pointing at that control plane. Only `make test` is not run: it is the suite
// this test belongs to. A block under a heading that names cert-manager gets cert-manager's CRDs
// installed first, as the heading promises a cluster with cert-manager. Background jobs a block
// starts are stopped when it ends.

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stowage-dev/stowage/e2e/cluster"
)

// readmeBlock is one fenced ```sh block.
type readmeBlock struct {
	line    int    // of the opening fence
	heading string // the nearest heading above it
	script  string
}

func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []readmeBlock
	var cur *readmeBlock
	heading := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && strings.HasPrefix(line, "```"):
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.script += line + "\n"
		case strings.HasPrefix(line, "```sh") || strings.HasPrefix(line, "```bash"):
			cur = &readmeBlock{line: n, heading: heading}
		case strings.HasPrefix(line, "#"):
			heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: unterminated code block", path, cur.line)
	}
	return out
}

func TestREADMECommandsWorkAsWritten(t *testing.T) {
	readme := filepath.Join(env.root, "README.md")
	blocks := readmeBlocks(t, readme)
	if len(blocks) < 3 {
		t.Fatalf("found %d command blocks in README.md; the parser is broken", len(blocks))
	}
	helm := os.Getenv("STOWAGE_HELM")
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	// HOME is the block's own, so keep Go's caches where they are, or every go command would
	// download and build everything again.
	var goEnv []string
	for _, k := range []string{"GOPATH", "GOMODCACHE", "GOCACHE"} {
		v, err := exec.Command(goBin, "env", k).Output()
		if err != nil {
			t.Fatal(err)
		}
		goEnv = append(goEnv, k+"="+strings.TrimSpace(string(v)))
	}
	for _, b := range blocks {
		t.Run(strings.ReplaceAll(b.heading, " ", "_")+"@"+strconv.Itoa(b.line), func(t *testing.T) {
			lines := strings.Split(b.script, "\n")
			kept := lines[:0]
			for _, l := range lines {
				if f := strings.Fields(l); len(f) >= 2 && f[0] == "make" && f[1] == "test" {
					continue // the suite this test runs in
				}
				kept = append(kept, l)
			}
			script := strings.Join(kept, "\n")
			if strings.TrimSpace(script) == "" {
				return
			}
			c := cluster.StartForTest(t, cluster.Options{}, false)
			home := t.TempDir()
			if err := os.MkdirAll(filepath.Join(home, ".kube"), 0o755); err != nil {
				t.Fatal(err)
			}
			kc, err := os.ReadFile(c.Kubeconfig)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(home, ".kube", "config"), kc, 0o600); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(strings.ToLower(b.heading), "cert-manager") {
				crds := filepath.Join(filepath.Dir(os.Getenv("STOWAGE_CERT_MANAGER")), "crds")
				kubectlOn(t, c, "", "apply", "--server-side", "-f", crds)
			}
			path := strings.Join([]string{filepath.Dir(helm), filepath.Dir(goBin), "/usr/local/bin", "/usr/bin", "/bin"}, string(os.PathListSeparator))
			wrapped := "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT\n" + script
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "-c", wrapped)
			cmd.Dir = env.root
			cmd.Env = append(append(os.Environ(), goEnv...), "HOME="+home, "PATH="+path, "KUBECONFIG=")
			out, err := cmd.CombinedOutput()
			t.Logf("README.md:%d (%s):\n%s\n--- output ---\n%s", b.line, b.heading, script, out)
			if err != nil {
				t.Fatalf("README.md:%d: the block under %q fails as written: %v", b.line, b.heading, err)
			}
		})
	}
}
