package stream

import (
	"encoding/json"
	"strings"
	"testing"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	"gomodules.xyz/jsonpatch/v2"
	sigsyaml "sigs.k8s.io/yaml"
)

const patchBase = `# A database.
apiVersion: apps/v1 # the group
kind: StatefulSet
metadata:
  name: db
  labels:
    a/b: x # slash
    t~n: y
spec:
  # three of them
  replicas: 3 # keep odd
  template:
    spec:
      tolerations:
      containers:
        - name: db # the main one
          image: postgres:17
        - name: sidecar
`

func op(operation, path string, value any) jsonpatch.Operation {
	return jsonpatch.Operation{Operation: operation, Path: path, Value: value}
}

func TestApplyPatch(t *testing.T) {
	tests := []struct {
		name string
		src  string
		ops  []jsonpatch.Operation
		want string // the encoded result, or "error: fragment"
	}{
		{
			name: "replace a scalar → value changed, its line comment and every other comment kept",
			src:  patchBase,
			ops:  []jsonpatch.Operation{op("replace", "/spec/replicas", 5)},
			want: strings.Replace(patchBase, "replicas: 3 # keep odd", "replicas: 5 # keep odd", 1),
		},
		{
			name: "add to an existing key → replaces it, like RFC 6902 says",
			src:  patchBase,
			ops:  []jsonpatch.Operation{op("add", "/spec/replicas", 1)},
			want: strings.Replace(patchBase, "replicas: 3 # keep odd", "replicas: 1 # keep odd", 1),
		},
		{
			name: "add under missing parents → parents created as mappings",
			src:  patchBase,
			ops:  []jsonpatch.Operation{op("add", "/spec/template/spec/affinity/podAntiAffinity", map[string]any{"x": "z"})},
			want: strings.Replace(patchBase, "        - name: sidecar\n", "        - name: sidecar\n      affinity:\n        podAntiAffinity:\n          x: z\n", 1),
		},
		{
			name: "add under a null parent → the null becomes a mapping",
			src:  "a:\nb: 1\n",
			ops:  []jsonpatch.Operation{op("add", "/a/c", "d")},
			want: "a:\n  c: d\nb: 1\n",
		},
		{
			name: "add with - under a null parent → the null becomes a list",
			src:  patchBase,
			ops:  []jsonpatch.Operation{op("add", "/spec/template/spec/tolerations/-", map[string]any{"key": "k"})},
			want: strings.Replace(patchBase, "      tolerations:\n", "      tolerations:\n        - key: k\n", 1),
		},
		{
			name: "add with - under a missing parent → a list is created",
			src:  "a: 1\n",
			ops:  []jsonpatch.Operation{op("add", "/b/-", 2)},
			want: "a: 1\nb:\n  - 2\n",
		},
		{
			name: "add at index 1 → inserted between the items",
			src:  patchBase,
			ops:  []jsonpatch.Operation{op("add", "/spec/template/spec/containers/1", map[string]any{"name": "mid"})},
			want: strings.Replace(patchBase, "        - name: sidecar\n", "        - name: mid\n        - name: sidecar\n", 1),
		},
		{
			name: "add at index len and at - → appended",
			src:  "l:\n  - a\n",
			ops:  []jsonpatch.Operation{op("add", "/l/1", "b"), op("add", "/l/-", "c")},
			want: "l:\n  - a\n  - b\n  - c\n",
		},
		{
			name: "remove a key → gone, neighbours and their comments kept",
			src:  patchBase,
			ops:  []jsonpatch.Operation{op("remove", "/spec/template/spec/containers/0/image", nil)},
			want: strings.Replace(patchBase, "          image: postgres:17\n", "", 1),
		},
		{
			name: "remove a list item → gone",
			src:  patchBase,
			ops:  []jsonpatch.Operation{op("remove", "/spec/template/spec/containers/1", nil)},
			want: strings.Replace(patchBase, "        - name: sidecar\n", "", 1),
		},
		{
			name: "replace a list item → replaced, its line comment kept",
			src:  "l:\n  - a # first\n  - b\n",
			ops:  []jsonpatch.Operation{op("replace", "/l/0", "z")},
			want: "l:\n  - z # first\n  - b\n",
		},
		{
			name: "escaped segments: ~1 is / and ~0 is ~",
			src:  patchBase,
			ops:  []jsonpatch.Operation{op("replace", "/metadata/labels/a~1b", "new"), op("remove", "/metadata/labels/t~0n", nil)},
			want: strings.Replace(strings.Replace(patchBase, "a/b: x # slash", "a/b: new # slash", 1), "    t~n: y\n", "", 1),
		},
		{
			name: "string values YAML 1.1 would misread → quoted",
			src:  "a: 1\n",
			ops: []jsonpatch.Operation{op("add", "/b", "yes"), op("add", "/c", "off"), op("add", "/d", "1:30"),
				op("add", "/e", "123"), op("add", "/f", "plain")},
			want: "a: 1\nb: \"yes\"\nc: \"off\"\nd: \"1:30\"\ne: \"123\"\nf: plain\n",
		},
		{
			name: "value through an alias → a copy is patched, the anchor and other aliases untouched",
			src:  "a: &a\n  x: 1\nb: *a\nc: *a\n",
			ops:  []jsonpatch.Operation{op("add", "/b/y", 2)},
			want: "a: &a\n  x: 1\nb:\n  x: 1\n  y: 2\nc: *a\n",
		},
		{
			name: "replace a value that is an alias → only that place changes",
			src:  "a: &a 1\nb: *a\n",
			ops:  []jsonpatch.Operation{op("replace", "/b", 2)},
			want: "a: &a 1\nb: 2\n",
		},
		{
			name: "add under a key merged in with << → an explicit copy overrides the merge",
			src:  "base: &base\n  sel:\n    app: db\nspec:\n  <<: *base\n",
			ops:  []jsonpatch.Operation{op("add", "/spec/sel/tier", "x")},
			want: "base: &base\n  sel:\n    app: db\nspec:\n  <<: *base\n  sel:\n    app: db\n    tier: x\n",
		},
		{
			name: "replace a merged key → explicit key added, merge kept",
			src:  "base: &base {n: 1}\nspec:\n  <<: *base\n",
			ops:  []jsonpatch.Operation{op("replace", "/spec/n", 2)},
			want: "base: &base {n: 1}\nspec:\n  <<: *base\n  n: 2\n",
		},
		{
			name: "remove a merged key → error: it can only be removed by hand",
			src:  "base: &base {n: 1}\nspec:\n  <<: *base\n",
			ops:  []jsonpatch.Operation{op("remove", "/spec/n", nil)},
			want: `error: remove /spec/n: field "n" comes from a merge key`,
		},
		{
			name: "replace a value that defines an anchor → the alias becomes a copy first",
			src:  "a: &a {x: 1}\nb: *a\n",
			ops:  []jsonpatch.Operation{op("replace", "/a", 2)},
			want: "a: 2\nb: {x: 1}\n",
		},
		{
			name: "add under a null that defines an anchor → the aliases keep their null",
			src:  "a: &n\nb: *n\n",
			ops:  []jsonpatch.Operation{op("add", "/a/x", 1)},
			want: "a:\n  x: 1\nb:\n",
		},
		{
			name: "remove a list item that holds an anchor → the alias becomes a copy first",
			src:  "l:\n  - {x: &x 1}\ny: *x\n",
			ops:  []jsonpatch.Operation{op("remove", "/l/0", nil)},
			want: "l: []\ny: 1\n",
		},
		{
			name: "document node given instead of the mapping → patched all the same",
			src:  "a: 1\n",
			ops:  []jsonpatch.Operation{op("replace", "/a", 2)},
			want: "a: 2\n",
		},
		{name: "replace a missing key → error", src: patchBase, ops: []jsonpatch.Operation{op("replace", "/spec/nope", 1)}, want: `error: replace /spec/nope: no field "nope"`},
		{name: "remove a missing key → error", src: patchBase, ops: []jsonpatch.Operation{op("remove", "/spec/nope", nil)}, want: `error: no field "nope"`},
		{name: "remove under a missing parent → error, nothing created", src: patchBase, ops: []jsonpatch.Operation{op("remove", "/nope/x", nil)}, want: `error: no field "nope"`},
		{name: "index out of range → error", src: patchBase, ops: []jsonpatch.Operation{op("replace", "/spec/template/spec/containers/2", 1)}, want: `error: index "2" out of range`},
		{name: "add past the end → error", src: patchBase, ops: []jsonpatch.Operation{op("add", "/spec/template/spec/containers/3", 1)}, want: `error: index "3" out of range`},
		{name: "remove at - → error", src: patchBase, ops: []jsonpatch.Operation{op("remove", "/spec/template/spec/containers/-", nil)}, want: `error: "-" is not a list index`},
		{name: "index with a leading zero → error", src: patchBase, ops: []jsonpatch.Operation{op("remove", "/spec/template/spec/containers/01", nil)}, want: `error: "01" is not a list index`},
		{name: "negative index → error", src: patchBase, ops: []jsonpatch.Operation{op("remove", "/spec/template/spec/containers/-1", nil)}, want: `error: "-1" is not a list index`},
		{name: "huge index → error, no overflow", src: patchBase, ops: []jsonpatch.Operation{op("remove", "/spec/template/spec/containers/99999999999999999999", nil)}, want: `error: is not a list index`},
		{name: "path into a scalar → error", src: patchBase, ops: []jsonpatch.Operation{op("add", "/kind/x/y", 1)}, want: `error: "x" is inside a scalar`},
		{name: "last segment under a scalar → error", src: patchBase, ops: []jsonpatch.Operation{op("add", "/kind/x", 1)}, want: "error: parent is not an object or a list"},
		{name: "pointer without leading / → error", src: patchBase, ops: []jsonpatch.Operation{op("add", "spec", 1)}, want: "error: JSON pointer must start with /"},
		{name: "empty pointer → error: whole document", src: patchBase, ops: []jsonpatch.Operation{op("replace", "", 1)}, want: "error: cannot patch the whole document"},
		{name: "bad escape ~2 → error", src: patchBase, ops: []jsonpatch.Operation{op("add", "/a~2b", 1)}, want: "error: add /a~2b: invalid escape"},
		{name: "trailing ~ → error", src: patchBase, ops: []jsonpatch.Operation{op("add", "/a~", 1)}, want: "error: invalid escape"},
		{name: "move → unsupported", src: patchBase, ops: []jsonpatch.Operation{{Operation: "move", Path: "/a"}}, want: "error: move /a: unsupported operation"},
		{name: "value JSON cannot encode → error", src: patchBase, ops: []jsonpatch.Operation{op("add", "/a", func() {})}, want: "error: json: unsupported type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := parse(t, tt.src)
			target := doc.Content[0]
			if strings.HasPrefix(tt.name, "document node") {
				target = doc
			}
			err := ApplyPatch(target, tt.ops)
			if want, ok := strings.CutPrefix(tt.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("ApplyPatch error = %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ApplyPatch: %v", err)
			}
			out, err := Encode(doc)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if diff := cmp.Diff(tt.want, string(out)); diff != "" {
				t.Errorf("patched document (-want +got):\n%s", diff)
			}
			// The result must still be YAML with the JSON meaning the patch gave it.
			if _, err := ToJSON(nil, parse(t, string(out))); err != nil {
				t.Errorf("patched document does not convert: %v", err)
			}
		})
	}
}

// TestApplyPatchInAnchorSharedByListItems: in a List where StatefulSet B aliases A's affinity
// block, patching A must not leak A's term into B, and patching B must not carry A's (issue 10,
// item 3). The written document must mean what the two JSON patches say.
func TestApplyPatchInAnchorSharedByListItems(t *testing.T) {
	src := `apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: a}
  spec:
    affinity: &aff # shared
      nodeAffinity: {x: 1}
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: b}
  spec:
    affinity: *aff
`
	var docs []*Document
	if errs := Read("list", []byte(src), func(d *Document) error { docs = append(docs, d); return nil }); len(errs) > 0 {
		t.Fatal(errs)
	}
	before := map[string][]byte{}
	for _, d := range docs {
		js, err := ToJSON(nil, d.Node)
		if err != nil {
			t.Fatal(err)
		}
		before[d.Name] = js
	}
	patches := map[string][]jsonpatch.Operation{
		"a": {op("add", "/spec/affinity/podAntiAffinity", map[string]any{"term": "a"})},
		"b": {op("add", "/spec/affinity/podAntiAffinity", map[string]any{"term": "b"})},
	}
	for _, d := range docs {
		if err := ApplyPatchIn(d.Root, d.Node, patches[d.Name]); err != nil {
			t.Fatalf("%s: %v", d.Name, err)
		}
	}
	out, err := Encode(docs[0].Root)
	if err != nil {
		t.Fatal(err)
	}
	var back []*Document
	if errs := Read("out", out, func(d *Document) error { back = append(back, d); return nil }); len(errs) > 0 || len(back) != 2 {
		t.Fatalf("output does not read back: %v\n%s", errs, out)
	}
	for _, d := range back {
		pj, _ := json.Marshal(patches[d.Name])
		p, err := jsonpatch5.DecodePatch(pj)
		if err != nil {
			t.Fatal(err)
		}
		want, err := p.Apply(before[d.Name])
		if err != nil {
			t.Fatal(err)
		}
		got, err := ToJSON(nil, d.Node)
		if err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(want, got) {
			t.Errorf("%s written as\n%s\nwant (the report's patch applied)\n%s\nYAML:\n%s", d.Name, got, want, out)
		}
	}
}

func TestApplyPatchMatchesJSONPatch(t *testing.T) {
	// The same patch applied to the JSON form by reading the result must agree with the YAML
	// result: a patch through an alias changes only that place.
	src := "a: &a\n  x: 1\nb: *a\nbase: &base {m: 1}\nc:\n  <<: *base\n  k: v\n"
	doc := parse(t, src)
	ops := []jsonpatch.Operation{op("add", "/b/y", 2), op("add", "/c/m", 3), op("remove", "/c/k", nil)}
	if err := ApplyPatch(doc, ops); err != nil {
		t.Fatal(err)
	}
	got, err := ToJSON(nil, doc)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":{"x":1},"b":{"x":1,"y":2},"base":{"m":1},"c":{"m":3}}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestValueNodeReadsBackTheSameInYAML11(t *testing.T) {
	// kubectl and the API server read YAML 1.1 (sigs.k8s.io/yaml): what ValueNode writes must
	// mean the same value there.
	values := []any{"yes", "No", "on", "OFF", "y", "n", "1:30", "-1:30:00", "0777", "0x1F", "1e3", ".inf", "~", "null", "",
		"true", "12", "1_000", "2001-12-14", "a: b", "- x", " lead", "#x", "multi\nline\n", "<<", "=", "plain",
		map[string]any{"k": []any{1, "2", true, nil, 1.5}}}
	for _, v := range values {
		n, err := ValueNode(v)
		if err != nil {
			t.Fatalf("ValueNode(%#v): %v", v, err)
		}
		out, err := Encode(n)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", v, err)
		}
		got, err := sigsyaml.YAMLToJSON(out)
		if err != nil {
			t.Fatalf("YAMLToJSON(%q): %v", out, err)
		}
		want, err := sigsyaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		wantJSON, _ := sigsyaml.YAMLToJSON(want)
		if diff := cmp.Diff(string(wantJSON), string(got)); diff != "" {
			t.Errorf("ValueNode(%#v) wrote %q, which YAML 1.1 reads differently (-want +got):\n%s", v, out, diff)
		}
	}
}

func TestValueNodeIsBlockStyle(t *testing.T) {
	n, err := ValueNode(map[string]any{"a": []any{map[string]any{"b": "c"}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Encode(n)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("a:\n  - b: c\n", string(out)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestEncodeKeepsComments(t *testing.T) {
	doc := parse(t, patchBase)
	out, err := Encode(doc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(patchBase, string(out)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}
