package stream

import (
	"os"
	"testing"

	syaml "sigs.k8s.io/yaml"

	"github.com/stowage-dev/stowage/internal/testcorpus"
)

// The floors of reading the corpus: parsing every document as Read does (the position-aware
// tree `stowage check` needs for its lines), and converting every document as kubectl reads it
// (sigs.k8s.io/yaml). BenchmarkRunCorpus in package check is the whole check; these say how much
// of it any reader of every document pays.

func corpusFiles(b *testing.B) [][]byte {
	b.Helper()
	var out [][]byte
	for _, name := range testcorpus.Files(b) {
		data, err := os.ReadFile(name)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

func BenchmarkReadCorpus(b *testing.B) {
	files := corpusFiles(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, data := range files {
			if errs := Read("corpus", data, func(*Document) error { return nil }); len(errs) > 0 {
				b.Fatal(errs)
			}
		}
	}
}

func BenchmarkKubectlYAMLToJSONCorpus(b *testing.B) {
	files := corpusFiles(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, data := range files {
			for _, c := range Split(data) {
				if _, err := syaml.YAMLToJSON(c.Text); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

// BenchmarkReadToJudgeCorpus parses every document as `stowage check` parses those it judges.
func BenchmarkReadToJudgeCorpus(b *testing.B) {
	files := corpusFiles(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, data := range files {
			index := 0
			for _, c := range Split(data) {
				if errs, _ := ReadChunkToJudge("corpus", c, &index, func(*Document) error { return nil }); len(errs) > 0 {
					b.Fatal(errs)
				}
			}
		}
	}
}
