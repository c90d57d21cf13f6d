package testcorpus

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestCopyMatchesShared keeps testdata/corpus, the fallback copy, equal to the shared corpus
// whenever the shared one is there.
func TestCopyMatchesShared(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	shared, copied := filepath.Join(root, "..", "shared", "corpus"), filepath.Join(root, "testdata", "corpus")
	if _, err := os.Stat(shared); err != nil {
		t.Skipf("no shared corpus at %s to compare with", shared)
	}
	want, _ := filepath.Glob(filepath.Join(shared, "*", "*.yaml"))
	got, _ := filepath.Glob(filepath.Join(copied, "*", "*.yaml"))
	if len(want) != len(got) {
		t.Fatalf("testdata/corpus has %d files, the shared corpus %d: copy it again (cp -r ../shared/corpus testdata/)", len(got), len(want))
	}
	for _, w := range want {
		rel, _ := filepath.Rel(shared, w)
		a, _ := os.ReadFile(w)
		b, err := os.ReadFile(filepath.Join(copied, rel))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("testdata/corpus/%s differs from the shared corpus: copy it again", rel)
		}
	}
}
