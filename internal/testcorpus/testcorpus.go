// Package testcorpus locates the corpus of rendered Helm charts that tests and benchmarks run
// over: $STOWAGE_CORPUS when set, else ../shared/corpus next to the repository (the shared,
// authoritative copy), else the copy in testdata/corpus, so a clone anywhere still tests.
// It is for tests only, and may import the standard library only.
package testcorpus

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir returns the corpus directory, failing the test when none is found.
func Dir(tb testing.TB) string {
	tb.Helper()
	if dir := os.Getenv("STOWAGE_CORPUS"); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			tb.Fatalf("STOWAGE_CORPUS=%s: %v", dir, err)
		}
		return dir
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	for _, dir := range []string{filepath.Join(root, "..", "shared", "corpus"), filepath.Join(root, "testdata", "corpus")} {
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
	}
	tb.Fatalf("no corpus of rendered charts: set STOWAGE_CORPUS, or keep ../shared/corpus or testdata/corpus")
	return ""
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
