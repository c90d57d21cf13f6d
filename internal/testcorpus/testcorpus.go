// Package testcorpus locates the shared corpus of rendered Helm charts that tests and
// benchmarks run over: ../shared/corpus next to the repository, or $STOWAGE_CORPUS.
// It is for tests only.
package testcorpus

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir returns the corpus directory, failing the test when it is missing.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("STOWAGE_CORPUS")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "corpus")
	}
	if _, err := os.Stat(dir); err != nil {
		tb.Fatalf("the corpus of rendered charts is missing at %s (set STOWAGE_CORPUS): %v", dir, err)
	}
	return dir
}

// Files returns every corpus manifest, sorted.
func Files(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(Dir(tb), "*", "*.yaml"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no corpus manifests under %s: %v", Dir(tb), err)
	}
	return files
}
