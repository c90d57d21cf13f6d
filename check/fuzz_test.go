package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/internal/testcorpus"
	"github.com/stowage-dev/stowage/policy"
)

// kubectlReads reports whether kubectl's decoder reads every object of a stream, each with an
// apiVersion and a kind.
func kubectlReads(data []byte) (int, bool) {
	dec := kyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	n := 0
	for {
		var ext runtime.RawExtension
		err := dec.Decode(&ext)
		if errors.Is(err, io.EOF) {
			return n, true
		}
		if err != nil {
			return n, false
		}
		if len(ext.Raw) == 0 || string(ext.Raw) == "null" {
			continue
		}
		var tm struct{ APIVersion, Kind string }
		if json.Unmarshal(ext.Raw, &tm) != nil || tm.APIVersion == "" || tm.Kind == "" {
			return n, false
		}
		n++
	}
}

// FuzzFix runs `stowage check --fix -o json` on arbitrary standard input. It must never panic
// or fail to write its report; the report must be JSON with an exit code of 0, 1 or 2; and when
// kubectl's decoder reads the input, it must read the fixed output too (byte order marks,
// anchors shared between objects, YAML 1.1 values).
func FuzzFix(f *testing.F) {
	for _, s := range []string{
		sts("db", "  namespace: mq\n") + "---\n" + budget,
		"\ufeff" + sts("a", "") + "---\n\ufeffapiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
		"apiVersion: v1\nkind: List\nitems:\n- " + indent(sts("a", "  labels: &l {x: \"on\"}\n")) + "- " + indent(sts("b", "  labels: *l\n")),
		sts("y", "  labels: {a: yes}\n"),
		"apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: p}\n",
		"",
	} {
		f.Add([]byte(s))
	}
	set := policy.NewSet(policyfile.Default())
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		var out, report bytes.Buffer
		opts := Options{Fix: true, Output: OutputJSON, Policies: set, Stdin: bytes.NewReader(data), Stdout: &out, Stderr: &report, Workers: 1}
		var code int
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			code, err = Run(context.Background(), opts, []string{"-"})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			panic(fmt.Sprintf("check took over 10s on %q", data))
		}
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		var rep Report
		if err := json.Unmarshal(report.Bytes(), &rep); err != nil {
			t.Fatalf("report is not JSON: %v\n%s", err, report.String())
		}
		if code < 0 || code > 2 || rep.Summary.ExitCode != code {
			t.Fatalf("exit %d, summary %d", code, rep.Summary.ExitCode)
		}
		if _, ok := kubectlReads(data); ok {
			if _, ok := kubectlReads(out.Bytes()); !ok {
				t.Fatalf("kubectl reads the input but not the --fix output:\ninput  %q\noutput %q", data, out.String())
			}
		}
	})
}

// indent indents every line but the first by two spaces, to put a document in a list item.
func indent(s string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte("\n"), []byte("\n  "))) + "\n"
}

// FuzzQuickMeta: wherever quickMeta reads a document and the full parse reads it without error,
// the two agree on apiVersion, kind, namespace, name and line.
func FuzzQuickMeta(f *testing.F) {
	for _, name := range testcorpus.Files(f) {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for i, c := range stream.Split(data) {
			if i < 8 {
				f.Add(c.Text)
			}
		}
	}
	for _, s := range []string{
		sts("db", "  namespace: mq # the chart's\n"),
		"# c\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b}\n  namespace: 'x'\n  name: \"n\"\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: ~\n  annotations:\n    namespace: no\n",
		"apiVersion: v1\nkind: ConfigMap\ndata: {a: b,\nmetadata: x}\nmetadata:\n  namespace: n\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: a\n    b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, ok := quickMeta(data)
		if !ok {
			return
		}
		var docs []*stream.Document
		index := 0
		errs, _ := stream.ReadChunk("fuzz", stream.Chunk{Line: 1, Text: data}, &index, func(d *stream.Document) error {
			docs = append(docs, d)
			return nil
		})
		if len(errs) > 0 || len(stream.Split(data)) != 1 {
			return // the full parse refuses it, or it is not one document: the second pass reports it
		}
		if len(docs) != 1 {
			t.Fatalf("quickMeta read %+v, the full parse %d objects", m, len(docs))
		}
		d := docs[0]
		got := meta{APIVersion: d.APIVersion, Kind: d.Kind, Namespace: d.Namespace, Name: d.Name, Line: d.Line - 1}
		if got != m {
			t.Fatalf("quickMeta %+v, full parse %+v\n%q", m, got, data)
		}
	})
}
