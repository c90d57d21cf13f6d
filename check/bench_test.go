package check

import (
	"context"
	"io"
	"testing"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/internal/testcorpus"
	"github.com/stowage-dev/stowage/policy"
)

func BenchmarkRunCorpus(b *testing.B) {
	dir := testcorpus.Dir(b)
	opts := Options{Policies: policy.NewSet(policyfile.Default()), Output: OutputJSON, Stdout: io.Discard, Stderr: io.Discard}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(context.Background(), opts, []string{dir}); err != nil {
			b.Fatal(err)
		}
	}
}
