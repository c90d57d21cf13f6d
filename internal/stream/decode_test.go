package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"
	"gomodules.xyz/jsonpatch/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// firstDoc reads the first object of src, failing the test when there is none.
func firstDoc(t *testing.T, src string) *Document {
	t.Helper()
	var got *Document
	errs := Read("in.yaml", []byte(src), func(d *Document) error {
		if got == nil {
			got = d
		}
		return nil
	})
	if got == nil {
		t.Fatalf("no object read: %v", errs)
	}
	return got
}

// parse parses one YAML document into its node.
func parse(t testing.TB, src string) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatalf("parse: %v", err)
	}
	return &n
}

func TestToJSON(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // JSON, or "error: fragment"
	}{
		{"YAML 1.1 booleans yes/no/on/off stay strings", "a: yes\nb: no\nc: on\nd: off\ne: y", `{"a":"yes","b":"no","c":"on","d":"off","e":"y"}`},
		{"YAML 1.2 booleans in any case → true/false", "a: true\nb: False\nc: TRUE", `{"a":true,"b":false,"c":true}`},
		{"integers: decimal, negative, hex, octal, underscores", "a: 42\nb: -7\nc: 0x1F\nd: 0o17\ne: 1_000\nf: 012\ng: +3", `{"a":42,"b":-7,"c":31,"d":15,"e":1000,"f":10,"g":3}`},
		{"integer beyond int64 → kept exactly as uint64", "a: 12345678901234567890", `{"a":12345678901234567890}`},
		{"integer beyond uint64 → float", "a: 123456789012345678901234", `{"a":1.2345678901234569e+23}`},
		{"floats, exponent forms", "a: 1.5\nb: 1e3\nc: -0.25\nd: 6.02e+23", `{"a":1.5,"b":1000,"c":-0.25,"d":6.02e+23}`},
		{".inf → rejected: JSON has no infinity", "a: .inf", "error: line 1: .inf cannot be represented in JSON"},
		{"-.Inf → rejected", "a: -.Inf", "error: cannot be represented in JSON"},
		{".nan → rejected", "a: .nan", "error: cannot be represented in JSON"},
		{"quoted .inf → a string", `a: ".inf"`, `{"a":".inf"}`},
		{"nulls: ~, null, empty", "a: ~\nb: null\nc:", `{"a":null,"b":null,"c":null}`},
		{"timestamps stay strings", "a: 2001-12-14t21:59:43.10-05:00\nb: 2002-12-14", `{"a":"2001-12-14t21:59:43.10-05:00","b":"2002-12-14"}`},
		{"!!binary → its base64 text with the line breaks removed", "a: !!binary |\n  aGVs\n  bG8=", `{"a":"aGVsbG8="}`},
		{"!!binary that is not base64 → error at its line", "x: 1\na: !!binary '%%%'", "error: line 2: invalid !!binary value"},
		{"!!str on a number → a string", "a: !!str 42", `{"a":"42"}`},
		{"!!int on a word → error", "a: !!int abc", `error: line 1: "abc" is not an integer`},
		{"!!float on an integer → a number", "a: !!float 3", `{"a":3}`},
		{"custom tag on a scalar → a string", "a: !vault abc", `{"a":"abc"}`},
		{"non-string keys → their text", "1: a\ntrue: b\n1.5: c\n~: d\nnull: e", `{"1":"a","true":"b","1.5":"c","~":"d","null":"e"}`},
		{"sequence as key → error", "? [a]\n: b", "error: line 1: mapping keys must be scalars"},
		{"duplicate key → error naming both lines", "a: 1\nb: 2\na: 3", `error: line 3: key "a" is repeated (first at line 1)`},
		{"merge key: explicit keys win over merged ones", "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3", `{"base":{"x":1,"y":2},"m":{"y":3,"x":1}}`},
		{"merge list: earlier maps win", "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nm:\n  <<: [*a, *b]", `{"a":{"x":1},"b":{"x":2,"y":2},"m":{"x":1,"y":2}}`},
		{"merge of an inline mapping", "m:\n  <<: {x: 1}\n  z: 2", `{"m":{"z":2,"x":1}}`},
		{"merge of merges", "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nm: {<<: *b}", `{"a":{"x":1},"b":{"y":2,"x":1},"m":{"y":2,"x":1}}`},
		{"merge of a scalar → error", "a: 1\n<<: 5", "error: line 2: a merge key (<<) takes a mapping or a list of mappings"},
		{"merge that includes itself → error, not a stack overflow", "a: &a\n  <<: *a\n", "error: nests deeper than 10000 levels"},
		{"merge of itself twice → error quickly", "a: &a\n  <<: [*a, *a]\n", "error: nests deeper than 10000 levels"},
		{"quoted << is an ordinary key (written as encoding/json writes <)", "'<<': {x: 1}", `{"\u003c\u003c":{"x":1}}`},
		{"aliases are expanded", "a: &a [1, {b: c}]\nd: *a", `{"a":[1,{"b":"c"}],"d":[1,{"b":"c"}]}`},
		{"alias to a key", "a: &k key\n*k : v", `{"a":"key","key":"v"}`},
		{"sequence that contains itself → error, not a stack overflow", "a: &a [*a]", "error: nests deeper than 10000 levels"},
		{"strings: quotes, backslashes, control characters, unicode (U+2028 escaped, as encoding/json does)", `a: "q\"b\\c\td\x01é\u2028"`, `{"a":"q\"b\\c\td\u0001é\u2028"}`},
		{"multi-line literal", "a: |\n  x\n  y\n", `{"a":"x\ny\n"}`},
		{"empty mapping and sequence", "a: {}\nb: []", `{"a":{},"b":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ToJSON(nil, parse(t, tt.src))
			if want, ok := strings.CutPrefix(tt.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("ToJSON = %s, %v; want an error containing %q", got, err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ToJSON: %v", err)
			}
			if !json.Valid(got) {
				t.Fatalf("ToJSON produced invalid JSON: %s", got)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("ToJSON (-want +got):\n%s", diff)
			}
		})
	}
}

func TestToJSONAppendsToBuf(t *testing.T) {
	got, err := ToJSON([]byte("prefix:"), parse(t, "a: 1"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(`prefix:{"a":1}`, string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	empty, err := ToJSON(nil, &yaml.Node{Kind: yaml.DocumentNode})
	if err != nil || string(empty) != "null" {
		t.Errorf("empty document = %s, %v; want null", empty, err)
	}
}

// billionLaughs builds the classic alias bomb: 9 levels of 9 aliases each, 9^9 strings.
func billionLaughs(levels int, leaf string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\n")
	fmt.Fprintf(&b, "a: &a [%s]\n", strings.TrimSuffix(strings.Repeat(leaf+",", 9), ","))
	prev := "a"
	for i := 1; i < levels; i++ {
		name := fmt.Sprintf("l%d", i)
		fmt.Fprintf(&b, "%s: &%s [%s]\n", name, name, strings.TrimSuffix(strings.Repeat("*"+prev+",", 9), ","))
		prev = name
	}
	return b.String()
}

func TestAliasBombs(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"billion laughs: 9^9 strings through 9 levels of aliases → rejected", billionLaughs(9, `"lol"`), "expands to over 1048576 nodes through aliases"},
		{"a 1 MiB string repeated through 100 aliases → rejected by size", "apiVersion: v1\nkind: ConfigMap\na: &a " + long + "\nb: [" + strings.TrimSuffix(strings.Repeat("*a,", 100), ",") + "]\n", "converts to over 67108864 bytes of JSON"},
		{"merges of merges doubling 40 times → rejected", mergeBomb(40, "{k: v}", 2), "expands to over 1048576 nodes"},
		{"empty mappings merged 9 ways, 12 levels deep → rejected", mergeBomb(12, "{}", 9), "expands to over 1048576 nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			d := firstDoc(t, tt.src)
			_, err := Decode(d, &corev1.ConfigMap{})
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode error = %v, want %q", err, tt.want)
			}
			if _, err := ToJSON(nil, d.Node); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ToJSON error = %v, want %q", err, tt.want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 512<<20 {
				t.Errorf("Decode allocated %d MiB", alloc>>20)
			}
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}

// mergeBomb builds mappings that each merge the previous one width times, so flattening them
// naively takes width^levels steps.
func mergeBomb(levels int, first string, width int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nm0: &m0 %s\n", first)
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "m%d: &m%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*m%d,", i-1), width), ","))
	}
	return b.String()
}

func TestMergeBombLookups(t *testing.T) {
	// LineOf and ApplyPatch look keys up through merges without converting the document first:
	// each merged mapping must be searched once, not once per path to it.
	node := parse(t, mergeBomb(20, "{k: v}", 9))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if got := LineOf(node, "m20.nope"); got != 23 {
			t.Errorf("LineOf(m20.nope) = %d, want 23", got)
		}
		if got := LineOf(node, "m20.k"); got != 3 {
			t.Errorf("LineOf(m20.k) = %d, want 3 (merged from m0)", got)
		}
		err := ApplyPatch(node, []jsonpatch.Operation{{Operation: "remove", Path: "/m20/nope"}})
		if err == nil || !strings.Contains(err.Error(), `no field "nope"`) {
			t.Errorf("ApplyPatch error = %v", err)
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("lookups through 9^20 merge paths did not finish")
	}
}

const statefulSet = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  labels:
    app.kubernetes.io/name: db
spec:
  replicas: 3
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      nodeSelector:
        kubernetes.io/hostname: node-1
      containers:
        - name: db
          image: postgres:17
          ports:
            - containerPort: 5432
        - name: sidecar
          image: busybox
`

const dupAdvice = "kubectl applies the last value, so that is the one checked; remove the other"

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []FieldError
		// check inspects the decoded object.
		check func(t *testing.T, s *appsv1.StatefulSet)
	}{
		{
			name: "valid StatefulSet → no field errors, fields decoded",
			src:  statefulSet,
			check: func(t *testing.T, s *appsv1.StatefulSet) {
				if diff := cmp.Diff(ptr.To[int32](3), s.Spec.Replicas); diff != "" {
					t.Errorf("replicas (-want +got):\n%s", diff)
				}
				if got := s.Spec.Template.Spec.Containers[1].Image; got != "busybox" {
					t.Errorf("containers[1].image = %q", got)
				}
			},
		},
		{
			name: "misspelt imagePullPolicy in the first container → unknown field at its line and path",
			src:  strings.Replace(statefulSet, "          image: postgres:17\n", "          image: postgres:17\n          imagePullPolicyy: Always\n", 1),
			want: []FieldError{{Line: 21, Field: "spec.template.spec.containers[0].imagePullPolicyy",
				Message: "unknown field \"spec.template.spec.containers[0].imagePullPolicyy\"; check its spelling and indentation against the API reference (`kubectl explain`)"}},
			check: func(t *testing.T, s *appsv1.StatefulSet) {
				if s.Spec.Template.Spec.Containers[0].Image != "postgres:17" {
					t.Error("the rest of the object was not decoded")
				}
			},
		},
		{
			name: "field indented one level too deep under the second container → unknown field with index 1",
			src:  strings.Replace(statefulSet, "          image: busybox\n", "          image: busybox\n          replicas: 2\n", 1),
			want: []FieldError{{Line: 25, Field: "spec.template.spec.containers[1].replicas",
				Message: "unknown field \"spec.template.spec.containers[1].replicas\"; check its spelling and indentation against the API reference (`kubectl explain`)"}},
		},
		{
			name: "key repeated in spec → warning at the second occurrence, last value kept as kubectl keeps it",
			src:  strings.Replace(statefulSet, "  serviceName: db\n", "  serviceName: db\n  replicas: 5\n", 1),
			want: []FieldError{{Line: 10, Field: "spec.replicas", Warning: true, Message: `field "spec.replicas" is set twice (first at line 8); ` + dupAdvice}},
			check: func(t *testing.T, s *appsv1.StatefulSet) {
				if s.Spec.Replicas == nil || *s.Spec.Replicas != 5 {
					t.Errorf("replicas = %v, want the last value, 5", s.Spec.Replicas)
				}
			},
		},
		{
			name: "label key with dots repeated → path in [key] form",
			src:  strings.Replace(statefulSet, "    app.kubernetes.io/name: db\n", "    app.kubernetes.io/name: db\n    app.kubernetes.io/name: x\n", 1),
			want: []FieldError{{Line: 7, Field: "metadata.labels[app.kubernetes.io/name]", Warning: true, Message: `field "metadata.labels[app.kubernetes.io/name]" is set twice (first at line 6); ` + dupAdvice}},
		},
		{
			name: "key repeated in a list item → path with its index",
			src:  strings.Replace(statefulSet, "          image: busybox\n", "          image: busybox\n          name: again\n", 1),
			want: []FieldError{{Line: 25, Field: "spec.template.spec.containers[1].name", Warning: true, Message: `field "spec.template.spec.containers[1].name" is set twice (first at line 23); ` + dupAdvice}},
		},
		{
			name: "merge keys and aliases → decoded as their expansion",
			src: `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  labels: &labels {app: db, tier: data}
spec:
  selector:
    matchLabels: *labels
  template:
    metadata:
      labels:
        <<: *labels
        tier: override
`,
			check: func(t *testing.T, s *appsv1.StatefulSet) {
				want := map[string]string{"app": "db", "tier": "override"}
				if diff := cmp.Diff(want, s.Spec.Template.Labels); diff != "" {
					t.Errorf("template labels (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(map[string]string{"app": "db", "tier": "data"}, s.Spec.Selector.MatchLabels); diff != "" {
					t.Errorf("selector (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "quoted label values yes and on → strings",
			src:  "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  labels:\n    a: \"yes\"\n    b: 'on'\n",
			check: func(t *testing.T, s *appsv1.StatefulSet) {
				if diff := cmp.Diff(map[string]string{"a": "yes", "b": "on"}, s.Labels); diff != "" {
					t.Errorf("labels (-want +got):\n%s", diff)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &appsv1.StatefulSet{}
			got, err := Decode(firstDoc(t, tt.src), s)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("field errors (-want +got):\n%s", diff)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func TestDecodeTypeErrors(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		wantLine  int
		wantField string
		wantMsg   string
	}{
		{
			name:     `replicas: "three" → error at its line naming spec.replicas`,
			src:      strings.Replace(statefulSet, "replicas: 3", `replicas: "three"`, 1),
			wantLine: 8, wantField: "spec.replicas", wantMsg: "field spec.replicas must be of type int32, not string",
		},
		{
			name:     "image: 5 in the second container → error at that container's line, with its index",
			src:      strings.Replace(statefulSet, "image: busybox", "image: 5", 1),
			wantLine: 24, wantField: "spec.template.spec.containers[1].image", wantMsg: "field spec.template.spec.containers[1].image must be of type string, not number",
		},
		{
			name:     "containerPort: http → error inside nested lists",
			src:      strings.Replace(statefulSet, "containerPort: 5432", "containerPort: http", 1),
			wantLine: 22, wantField: "spec.template.spec.containers[0].ports[0].containerPort", wantMsg: "must be of type int32, not string",
		},
		{
			name:     "numeric label value → error at the label, path in [key] form",
			src:      strings.Replace(statefulSet, "app.kubernetes.io/name: db", "app.kubernetes.io/name: 5", 1),
			wantLine: 6, wantField: "metadata.labels[app.kubernetes.io/name]", wantMsg: "must be of type string, not number",
		},
		{
			name:     "apiVersion: 1 → error at line 1 naming apiVersion, not the Go struct TypeMeta",
			src:      strings.Replace(statefulSet, "apiVersion: apps/v1", "apiVersion: 1", 1),
			wantLine: 1, wantField: "apiVersion", wantMsg: "field apiVersion must be of type string, not number",
		},
		{
			name:     "containers is a mapping → error at containers",
			src:      "apiVersion: apps/v1\nkind: StatefulSet\nspec:\n  template:\n    spec:\n      containers:\n        name: a\n",
			wantLine: 6, wantField: "spec.template.spec.containers", wantMsg: "must be of type []v1.Container, not object",
		},
		{
			name:     "replicas from a merge key is a string → error at the merged key's line",
			src:      "apiVersion: apps/v1\nkind: StatefulSet\nx: &x {replicas: many}\nspec:\n  <<: *x\n",
			wantLine: 3, wantField: "spec.replicas", wantMsg: "must be of type int32",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := firstDoc(t, tt.src)
			d.Kind = "StatefulSet"
			_, err := Decode(d, &appsv1.StatefulSet{})
			if err == nil {
				t.Fatal("Decode succeeded")
			}
			var fe *fieldTypeError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is a %T", err, err)
			}
			got := struct {
				Line  int
				Field string
			}{ErrorLine(err), fe.field}
			want := struct {
				Line  int
				Field string
			}{tt.wantLine, tt.wantField}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("position (-want +got):\n%s", diff)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestErrorLineOfOtherErrors(t *testing.T) {
	if got := ErrorLine(fmt.Errorf("plain")); got != 0 {
		t.Errorf("ErrorLine(plain error) = %d, want 0", got)
	}
	if got := ErrorLine(fmt.Errorf("wrapped: %w", &fieldTypeError{line: 7})); got != 7 {
		t.Errorf("ErrorLine(wrapped) = %d, want 7", got)
	}
}

func TestDecodeJSONDuplicateField(t *testing.T) {
	data := []byte(`{"apiVersion":"v1","kind":"ConfigMap","data":{"a":"1"},"data":{"b":"2"}}`)
	node := parse(t, string(data))
	got, err := DecodeJSON(data, node, &corev1.ConfigMap{})
	if err != nil {
		t.Fatal(err)
	}
	want := []FieldError{{Line: 1, Field: "data", Message: `field "data" is set twice; remove one`}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLineOf(t *testing.T) {
	doc := `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  labels:
    app.kubernetes.io/name: db
base: &base
  serviceName: from-merge
spec:
  <<: *base
  template:
    spec:
      nodeSelector:
        kubernetes.io/hostname: node-1
      containers:
        - name: db
          ports:
            - containerPort: 5432
        - name: sidecar
      volumes: &vols
        - name: data
  alias: *vols
`
	node := parse(t, doc)
	tests := []struct {
		path string
		want int
	}{
		{"", 1},
		{"kind", 2},
		{"metadata.name", 4},
		{"spec.template.spec.nodeSelector[kubernetes.io/hostname]", 14},
		{"spec.template.spec.containers[0].name", 16},
		{"spec.template.spec.containers[1]", 19},
		{"spec.template.spec.containers[1].name", 19},
		{"spec.template.spec.containers[0].ports[0].containerPort", 18},
		{"spec.template.spec.containers[5].name", 15},                  // no such item: the list's key
		{"spec.template.spec.containers[x]", 15},                       // not an index
		{"spec.template.spec.affinity.podAntiAffinity", 12},            // missing: the closest parent
		{"metadata.labels.app.kubernetes.io/name", 6},                  // the JSON decoder's dotted form
		{"metadata.labels[app.kubernetes.io/name]", 6},                 // field.Path's form
		{"spec.serviceName", 8},                                        // merged in through <<
		{"spec.alias[0].name", 21},                                     // through an alias
		{"metadata.name.deeper", 4},                                    // past a scalar
		{"spec.template.spec.nodeSelector[kubernetes.io/hostname", 14}, // unclosed bracket: the rest is the key
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := LineOf(node, tt.path); got != tt.want {
				t.Errorf("LineOf(%q) = %d, want %d", tt.path, got, tt.want)
			}
			if got := LineOf(node.Content[0], tt.path); got != tt.want {
				t.Errorf("LineOf(mapping, %q) = %d, want %d", tt.path, got, tt.want)
			}
		})
	}
}

func TestLineOfMergeCycle(t *testing.T) {
	node := parse(t, "a: &a\n  <<: *a\n  b: 1\n")
	if got := LineOf(node, "a.c.d"); got != 1 {
		t.Errorf("LineOf through a merge cycle = %d, want 1", got)
	}
}

func TestSplitPath(t *testing.T) {
	got := splitPath("a.b[c.d][0].e[]")
	want := []pathSeg{{"a", false}, {"b", false}, {"c.d", true}, {"0", true}, {"e", false}, {"", true}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(pathSeg{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
