package check

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/policy"
)

// corpusDir is the shared corpus of rendered charts, next to the repository.
func corpusDir(tb testing.TB) string {
	tb.Helper()
	dir, err := filepath.Abs("../../shared/corpus")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		tb.Fatalf("the corpus is missing at %s: %v", dir, err)
	}
	return dir
}

func BenchmarkRunCorpus(b *testing.B) {
	dir := corpusDir(b)
	opts := Options{Policies: policy.NewSet(policyfile.Default()), Output: OutputJSON, Stdout: io.Discard, Stderr: io.Discard}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(context.Background(), opts, []string{dir}); err != nil {
			b.Fatal(err)
		}
	}
}
