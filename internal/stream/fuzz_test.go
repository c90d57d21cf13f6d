package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"
	"gomodules.xyz/jsonpatch/v2"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/stowage-dev/stowage/internal/testcorpus"
)

// seeds returns the streams fuzzing starts from, taken from the shared corpus of rendered charts
// and the policy engine's golden fixtures: every StatefulSet and PodDisruptionBudget document of
// the corpus, a short multi-document stream from each chart, and every fixture. Whole charts
// would make the seeds tens of kilobytes, which the fuzzer minimizes slowly.
func seeds(f *testing.F) [][]byte {
	fixtures, err := filepath.Glob(filepath.Join("..", "..", "policy", "testdata", "*", "*.in.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, name := range testcorpus.Files(f) {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var stream []byte
		for i, c := range Split(data) {
			if bytes.Contains(c.Text, []byte("\nkind: StatefulSet")) || bytes.Contains(c.Text, []byte("\nkind: PodDisruptionBudget")) {
				out = append(out, c.Text)
			}
			if i < 3 {
				stream = append(append(stream, "---\n"...), c.Text...)
			}
		}
		out = append(out, stream)
	}
	for _, name := range fixtures {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// edgeSeeds are small streams that reach the corners of the reader.
var edgeSeeds = []string{
	"--- # c\napiVersion: v1\nkind: A\n...\n--- {apiVersion: v1, kind: B}\n",
	"apiVersion: v1\r\nkind: List\r\nitems:\r\n- {apiVersion: v1, kind: Node, metadata: {name: n}}\r\n",
	"{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{\"apiVersion\": \"apps/v1\", \"kind\": \"StatefulSet\"}]}",
	"apiVersion: apps/v1\nkind: StatefulSet\nb: &b {replicas: 3}\nspec:\n  <<: *b\n  replicas: x\n",
	"apiVersion: v1\nkind: A\na: &a [1, 2]\nb: [*a, *a]\nc: !!binary aGk=\nd: .inf\ne: yes\n",
	"apiVersion: v1\nkind: A\nmetadata:\n\tname: x\n---\nkind: B\n",
	"%YAML 1.1\n---\n\ufeffapiVersion: v1\nkind: A\n? [x]\n: y\n",
	"apiVersion: v1\rkind: A\r---\rapiVersion: v1\rkind: B\r",
	billionLaughs(4, "x"),
	// Once a stack overflow: a mapping that merges itself.
	"apiVersion: v1\nkind: A\nx: &a\n  <<: *a\n",
	// Once a hang: lookups through 9^12 merge paths.
	mergeBomb(12, "{}", 9),
}

// lineCount is the number of lines a position in data can be on.
func lineCount(data []byte) int { return lineBreaks(data) + 1 }

// FuzzRead reads arbitrary streams and decodes every object as a StatefulSet. It must never
// panic; every position must be a line of the input; ToJSON must give valid JSON; and wherever
// go-yaml reads the whole stream without error, Split and ReadChunk must find the same documents.
func FuzzRead(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	for _, s := range edgeSeeds {
		f.Add([]byte(s))
	}
	paths := []string{"spec.replicas", "spec.template.spec.containers[0].image", "metadata.labels[app.kubernetes.io/name]",
		"spec.volumeClaimTemplates[0].spec.storageClassName", "a.b.c[7][x]", ""}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		last := lineCount(data)
		inRange := func(what string, line int) {
			if line < 1 || line > last {
				t.Fatalf("%s at line %d, outside 1..%d", what, line, last)
			}
		}
		errs := Read("fuzz", data, func(d *Document) error {
			inRange("document", d.Line)
			if d.Node == nil || d.Node.Kind != yaml.MappingNode || d.Root == nil {
				t.Fatalf("document at line %d has no mapping node", d.Line)
			}
			if d.APIVersion == "" || d.Kind == "" {
				t.Fatalf("document at line %d without apiVersion or kind was passed on", d.Line)
			}
			js, err := ToJSON(nil, d.Node)
			if err == nil && !json.Valid(js) {
				t.Fatalf("ToJSON gave invalid JSON %q", js)
			}
			fes, err := Decode(d, &appsv1.StatefulSet{})
			for _, fe := range fes {
				inRange("field error "+fe.Message, fe.Line)
			}
			if err != nil && ErrorLine(err) != 0 {
				inRange("decode error "+err.Error(), ErrorLine(err))
			}
			for _, p := range paths {
				inRange("LineOf "+p, LineOf(d.Node, p))
			}
			if _, err := Encode(d.Root); err != nil && !strings.Contains(err.Error(), "yaml:") {
				t.Fatalf("Encode: %v", err)
			}
			return nil
		})
		for _, e := range errs {
			var se *Error
			if !errors.As(e, &se) {
				t.Fatalf("error %v is a %T", e, e)
			}
			inRange("error "+se.Message, se.Line)
		}
		checkSplitAgreesWithYAML(t, data)
	})
}

// checkSplitAgreesWithYAML compares the documents found through Split and ReadChunk with the
// ones go-yaml finds reading the whole stream, when it reads it without error.
func checkSplitAgreesWithYAML(t *testing.T, data []byte) {
	type doc struct {
		Line int
		JSON string
	}
	convert := func(n *yaml.Node, shift int) (doc, bool) {
		if n.Kind == 0 || len(n.Content) == 0 || n.Content[0].Tag == "!!null" {
			return doc{}, false
		}
		js, err := ToJSON(nil, n)
		if err != nil {
			js = []byte("error")
		}
		return doc{n.Content[0].Line + shift, string(js)}, true
	}
	if bytes.Contains(data, []byte("--- \ufeff")) {
		// go-yaml reads a byte order mark right after "--- " as content; in a chunk it is the
		// chunk's byte order mark. No manifest has one there.
		return
	}
	var whole []doc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return
		}
		if d, ok := convert(&n, 0); ok {
			whole = append(whole, d)
		}
	}
	var split []doc
	for _, c := range Split(data) {
		if onlyDirectives(c.Text) {
			continue
		}
		var n yaml.Node
		if err := yaml.Unmarshal(c.Text, &n); err != nil {
			t.Fatalf("go-yaml reads the whole stream, but not the chunk at line %d: %v\nchunk: %q", c.Line, err, c.Text)
		}
		if d, ok := convert(&n, c.Line-1); ok {
			split = append(split, d)
		}
	}
	if diff := cmp.Diff(whole, split); diff != "" {
		t.Fatalf("documents of the whole stream vs of Split (-whole +split):\n%s", diff)
	}
}

// FuzzApplyPatch applies two arbitrary operations to an arbitrary document. It must never
// panic; a patched document must encode to YAML that reads back to the same JSON; and where an
// independent RFC 6902 implementation applies the same operations to the JSON form, the results
// must agree.
func FuzzApplyPatch(f *testing.F) {
	for i, s := range seeds(f) {
		chunks := Split(s)
		c := chunks[i%len(chunks)]
		f.Add(c.Text, uint8(0), "/spec/template/spec/affinity", `{"podAntiAffinity":{}}`, uint8(2), "/metadata/labels/a~1b", `"x"`)
	}
	f.Add([]byte(patchBase), uint8(1), "/spec/template/spec/containers/0/image", `"y"`, uint8(0), "/spec/template/spec/tolerations/-", `{"key":"k"}`)
	f.Add([]byte("a: &a {x: 1}\nb: *a\nc:\n  <<: *a\n"), uint8(0), "/b/y", `2`, uint8(2), "/c/x", `null`)
	f.Add([]byte("l: [a, b]\n"), uint8(2), "/l/0", ``, uint8(0), "/l/-", `"yes"`)
	// Patches that would leave an alias without its anchor.
	f.Add([]byte("a: &n\nb: *n\n"), uint8(0), "/a/x", `1`, uint8(2), "/a", ``)
	f.Add([]byte("a: &a {x: &b 1}\nc: *b\nl: [&x 1, *x]\n"), uint8(2), "/a/x", ``, uint8(1), "/l/0", `2`)
	ops := []string{"add", "replace", "remove", "test"}
	f.Fuzz(func(t *testing.T, data []byte, op1 uint8, path1, value1 string, op2 uint8, path2, value2 string) {
		if len(data) > 64<<10 {
			return
		}
		var root yaml.Node
		if err := yaml.Unmarshal(data, &root); err != nil || root.Kind == 0 || len(root.Content) == 0 {
			return
		}
		before, beforeErr := ToJSON(nil, &root)
		patch := []jsonpatch.Operation{
			{Operation: ops[op1%4], Path: path1, Value: jsonValue(value1)},
			{Operation: ops[op2%4], Path: path2, Value: jsonValue(value2)},
		}
		err := ApplyPatch(&root, patch)
		if err != nil {
			return
		}
		out, err := Encode(&root)
		if err != nil {
			return // go-yaml cannot write some trees it reads, such as keys that are huge lists
		}
		var back yaml.Node
		if err := yaml.Unmarshal(out, &back); err != nil {
			t.Fatalf("patched document does not read back: %v\n%s", err, out)
		}
		after, afterErr := ToJSON(nil, &root)
		reread, rereadErr := ToJSON(nil, &back)
		if afterErr == nil && (rereadErr != nil || !jsonEqual(after, reread)) {
			t.Fatalf("encoding changed the meaning:\npatched %s\nre-read %s (%v)\nYAML:\n%s", after, reread, rereadErr, out)
		}
		if beforeErr != nil || afterErr != nil || !bytes.HasPrefix(bytes.TrimSpace(before), []byte("{")) {
			return
		}
		pj, _ := json.Marshal(patch)
		p, err := jsonpatch5.DecodePatch(pj)
		if err != nil {
			return
		}
		want, err := p.Apply(before)
		if err != nil {
			return // ApplyPatch is more lenient: it creates missing parents
		}
		if !jsonEqual(want, after) {
			t.Fatalf("ApplyPatch disagrees with RFC 6902 for %s on %s:\nwant %s\ngot  %s", pj, before, want, after)
		}
	})
}

// jsonValue reads s as JSON, or takes it as a string when it is not JSON.
func jsonValue(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return s
	}
	return v
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return cmp.Equal(x, y)
}
