package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Every operator fixture's text report, JSON report and --fix output are golden files in
// testdata/operators/golden (UPDATE_GOLDEN=1 rewrites them), and the fixed stream needs no
// further change: the fix at the resource's fields is what the operator copies back into the
// StatefulSet the engine judged.
func TestOperatorGolden(t *testing.T) {
	fixtures, _ := filepath.Glob("testdata/operators/*.yaml")
	if len(fixtures) == 0 {
		t.Fatal("no fixtures in testdata/operators")
	}
	for _, in := range fixtures {
		base := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(base, func(t *testing.T) {
			text := check(t, Options{}, in)
			js := check(t, Options{Output: OutputJSON}, in)
			fix := check(t, Options{Fix: true}, in)
			for ext, got := range map[string]string{".txt": text.stdout, ".json": js.stdout, ".fixed.yaml": fix.stdout} {
				golden(t, filepath.Join("testdata/operators/golden", base+ext), got)
			}
			fixed := filepath.Join(t.TempDir(), base+".yaml")
			if err := os.WriteFile(fixed, []byte(fix.stdout), 0o644); err != nil {
				t.Fatal(err)
			}
			again, _ := jsonReport(t, Options{}, fixed)
			if again.Summary.Changed != 0 || again.Summary.Generated != 0 || again.Summary.InputErrors != 0 {
				t.Errorf("the fixed stream still needs changes: %+v\n%s", again.Summary, check(t, Options{}, fixed).stdout)
			}
		})
	}
}

// golden compares got with the file at path, or rewrites it with UPDATE_GOLDEN=1.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s is out of date (UPDATE_GOLDEN=1 rewrites it) (-want +got):\n%s", path, diff)
	}
}
