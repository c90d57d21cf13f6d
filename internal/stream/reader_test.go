package stream

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// docInfo is what a test checks of a Document.
type docInfo struct {
	Line, Index, Item int
	APIVersion, Kind  string
	Ref               string
}

// errInfo is what a test checks of an error: its line, and a fragment of its message.
type errInfo struct {
	Line int
	Msg  string
}

// readAll reads src and returns the documents and errors it produced.
func readAll(t *testing.T, src string) ([]docInfo, []errInfo) {
	t.Helper()
	var docs []docInfo
	errs := Read("in.yaml", []byte(src), func(d *Document) error {
		if d.Source != "in.yaml" {
			t.Errorf("Source = %q, want in.yaml", d.Source)
		}
		if d.Node == nil || d.Root == nil {
			t.Fatalf("document at line %d has no Node or Root", d.Line)
		}
		docs = append(docs, docInfo{d.Line, d.Index, d.Item, d.APIVersion, d.Kind, d.Ref()})
		return nil
	})
	var out []errInfo
	for _, e := range errs {
		var se *Error
		if !errors.As(e, &se) {
			t.Fatalf("error %v is a %T, want *stream.Error", e, e)
		}
		if se.Source != "in.yaml" {
			t.Errorf("error %v names source %q", e, se.Source)
		}
		out = append(out, errInfo{se.Line, se.Message})
	}
	return docs, out
}

// checkErrs compares errors by line, and checks each message holds the wanted fragment.
func checkErrs(t *testing.T, got, want []errInfo) {
	t.Helper()
	lines := func(es []errInfo) []int {
		var l []int
		for _, e := range es {
			l = append(l, e.Line)
		}
		return l
	}
	if diff := cmp.Diff(lines(want), lines(got)); diff != "" {
		t.Fatalf("error lines (-want +got):\n%s\nerrors: %+v", diff, got)
	}
	for i := range want {
		if !strings.Contains(got[i].Msg, want[i].Msg) {
			t.Errorf("error %d = %q, want it to contain %q", i, got[i].Msg, want[i].Msg)
		}
	}
}

func sts(name string) string {
	return "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: " + name + "\n  namespace: data\n"
}

func TestRead(t *testing.T) {
	tests := []struct {
		name string
		src  string
		docs []docInfo
		errs []errInfo
	}{
		{
			name: "two documents split by --- → both read, each at its first key's line",
			src:  sts("a") + "---\n" + sts("b"),
			docs: []docInfo{{1, 0, -1, "apps/v1", "StatefulSet", "data/a"}, {7, 1, -1, "apps/v1", "StatefulSet", "data/b"}},
		},
		{
			name: "helm output: leading --- and # Source comments → comments skipped, lines exact",
			src:  "---\n# Source: chart/templates/a.yaml\n" + sts("a") + "---\n# Source: chart/templates/b.yaml\n" + sts("b"),
			docs: []docInfo{{3, 0, -1, "apps/v1", "StatefulSet", "data/a"}, {10, 1, -1, "apps/v1", "StatefulSet", "data/b"}},
		},
		{
			name: "--- marker with a trailing comment → next document starts on the following line",
			src:  "--- # first\n" + sts("a") + "---\t# second\n" + sts("b"),
			docs: []docInfo{{2, 0, -1, "apps/v1", "StatefulSet", "data/a"}, {8, 1, -1, "apps/v1", "StatefulSet", "data/b"}},
		},
		{
			name: "--- {inline} content on the marker line → document on the marker's line",
			src:  sts("a") + "--- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n---\n" + sts("b"),
			docs: []docInfo{
				{1, 0, -1, "apps/v1", "StatefulSet", "data/a"},
				{6, 1, -1, "v1", "ConfigMap", "c"},
				{8, 2, -1, "apps/v1", "StatefulSet", "data/b"},
			},
		},
		{
			name: "--- with a tag on the marker line and the mapping below → read, at the tag's line",
			src:  "--- !!map\napiVersion: v1\nkind: ConfigMap\n",
			docs: []docInfo{{1, 0, -1, "v1", "ConfigMap", ""}},
		},
		{
			name: "--- {inline} followed by more content in the same document → invalid YAML, next document read",
			src:  "--- {apiVersion: v1, kind: A}\nkind: B\n---\n" + sts("b"),
			docs: []docInfo{{4, 0, -1, "apps/v1", "StatefulSet", "data/b"}},
			errs: []errInfo{{2, "invalid YAML"}},
		},
		{
			name: "... end markers between and after documents → every document read",
			src:  sts("a") + "...\n---\n" + sts("b") + "...\n" + sts("c") + "...\n",
			docs: []docInfo{
				{1, 0, -1, "apps/v1", "StatefulSet", "data/a"},
				{8, 1, -1, "apps/v1", "StatefulSet", "data/b"},
				{14, 2, -1, "apps/v1", "StatefulSet", "data/c"},
			},
		},
		{
			name: "... followed by text → not an end marker: invalid YAML, next document still read",
			src:  sts("a") + "... trailing\n---\n" + sts("b"),
			docs: []docInfo{{8, 0, -1, "apps/v1", "StatefulSet", "data/b"}},
			errs: []errInfo{{6, "invalid YAML"}},
		},
		{
			name: "apiVersion and kind merged in with <<, metadata through an alias → identified",
			src:  "x-meta: &m {name: db, namespace: data}\nx-type: &t {apiVersion: v1, kind: ConfigMap}\n<<: *t\nmetadata: *m\n",
			docs: []docInfo{{1, 0, -1, "v1", "ConfigMap", "data/db"}},
		},
		{
			name: "empty documents, comment-only documents and a null document → skipped, Index counts objects only",
			src:  "---\n---\n# only a comment\n---\n~\n---\n\n\n---\n" + sts("a") + "---\n---\n",
			docs: []docInfo{{10, 0, -1, "apps/v1", "StatefulSet", "data/a"}},
		},
		{
			name: "CRLF line endings → markers found, lines counted once per CRLF",
			src:  strings.ReplaceAll("# c\n"+sts("a")+"---\n"+sts("b"), "\n", "\r\n"),
			docs: []docInfo{{2, 0, -1, "apps/v1", "StatefulSet", "data/a"}, {8, 1, -1, "apps/v1", "StatefulSet", "data/b"}},
		},
		{
			name: "lone CR line endings → markers found, no document lost",
			src:  strings.ReplaceAll("---\n"+sts("a")+"---\n"+sts("b"), "\n", "\r"),
			docs: []docInfo{{2, 0, -1, "apps/v1", "StatefulSet", "data/a"}, {8, 1, -1, "apps/v1", "StatefulSet", "data/b"}},
		},
		{
			name: "byte order marks at the start and before a --- (files concatenated with cat) → both read",
			src:  "\ufeff" + sts("a") + "\ufeff---\n" + sts("b"),
			docs: []docInfo{{1, 0, -1, "apps/v1", "StatefulSet", "data/a"}, {7, 1, -1, "apps/v1", "StatefulSet", "data/b"}},
		},
		{
			name: "--- indented inside a block scalar → part of the string, not a marker",
			src:  "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: |\n    x\n    ---\n    y\n---\napiVersion: v1\nkind: Secret\n",
			docs: []docInfo{{1, 0, -1, "v1", "ConfigMap", ""}, {9, 1, -1, "v1", "Secret", ""}},
		},
		{
			name: "%YAML directive before --- → directive ignored, document read",
			src:  "%YAML 1.2\n# a comment\n---\n" + sts("a"),
			docs: []docInfo{{4, 0, -1, "apps/v1", "StatefulSet", "data/a"}},
		},
		{
			name: "document that is a scalar → error at its line, next document still read",
			src:  "just some text\n---\n" + sts("b"),
			docs: []docInfo{{3, 0, -1, "apps/v1", "StatefulSet", "data/b"}},
			errs: []errInfo{{1, "document is a scalar, not an object"}},
		},
		{
			name: "document that is a list → error at its line, next document still read",
			src:  "# c\n- a\n- b\n---\n" + sts("b"),
			docs: []docInfo{{5, 0, -1, "apps/v1", "StatefulSet", "data/b"}},
			errs: []errInfo{{2, "document is a list, not an object"}},
		},
		{
			name: "object without apiVersion → error naming its kind",
			src:  "kind: StatefulSet\nmetadata:\n  name: a\n",
			errs: []errInfo{{1, "StatefulSet has no apiVersion"}},
		},
		{
			name: "object without kind → error",
			src:  "# c\napiVersion: v1\n",
			errs: []errInfo{{2, "object has no kind"}},
		},
		{
			name: "object without apiVersion and kind, then a good one → error, good one read",
			src:  "metadata:\n  name: a\n---\n" + sts("b"),
			docs: []docInfo{{4, 1, -1, "apps/v1", "StatefulSet", "data/b"}},
			errs: []errInfo{{1, "no apiVersion and no kind"}},
		},
		{
			name: "apiVersion and kind that are not strings → treated as missing",
			src:  "apiVersion: [v1]\nkind: {a: b}\n",
			errs: []errInfo{{1, "no apiVersion and no kind"}},
		},
		{
			name: "document with a tab indent → invalid YAML at the tab's line, next document still read",
			src:  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n---\n" + sts("b"),
			docs: []docInfo{{6, 0, -1, "apps/v1", "StatefulSet", "data/b"}},
			errs: []errInfo{{4, "replace the tab with spaces"}},
		},
		{
			name: "character that cannot start a token, and a tab in a block scalar below → no tab hint",
			src:  "apiVersion: v1\nkind: ConfigMap\nx: @bad\ndata:\n  a: |\n  \tindented with a tab\n",
			errs: []errInfo{{3, "found character that cannot start any token"}},
		},
		{
			name: "unclosed flow mapping → invalid YAML, documents before and after still read",
			src:  sts("a") + "---\napiVersion: v1\nkind: ConfigMap\ndata: {a: b\n---\n" + sts("c"),
			docs: []docInfo{{1, 0, -1, "apps/v1", "StatefulSet", "data/a"}, {11, 1, -1, "apps/v1", "StatefulSet", "data/c"}},
			errs: []errInfo{{9, "invalid YAML"}},
		},
		{
			name: "unclosed flow sequence at the end of a document → error at its last line, not at the next marker",
			src:  "---\nkey: [unclosed\n\n---\n" + sts("b"),
			docs: []docInfo{{5, 0, -1, "apps/v1", "StatefulSet", "data/b"}},
			errs: []errInfo{{2, "did not find expected ',' or ']'"}},
		},
		{
			name: "undefined alias → invalid YAML, next document still read",
			src:  "apiVersion: v1\nkind: ConfigMap\ndata: *nope\n---\n" + sts("b"),
			docs: []docInfo{{5, 0, -1, "apps/v1", "StatefulSet", "data/b"}},
			errs: []errInfo{{3, "unknown anchor 'nope'"}},
		},
		{
			name: "invalid UTF-8 on line 5 → error at line 5, next document still read",
			src:  "---\napiVersion: v1\nkind: ConfigMap\ndata:\n  a: \"\xff\xfe\"\n---\n" + sts("b"),
			docs: []docInfo{{7, 0, -1, "apps/v1", "StatefulSet", "data/b"}},
			errs: []errInfo{{5, "invalid UTF-8 (byte 0xff)"}},
		},
		{
			name: "UTF-16 with a byte order mark → rejected as not UTF-8 rather than half read",
			src:  "\xff\xfea\x00:\x00 \x00b\x00\n\x00-\x00-\x00-\x00\n\x00",
			errs: []errInfo{{1, "invalid UTF-8"}},
		},
		{
			name: "kind: List → each item read at its own line with its Item index",
			src: "apiVersion: v1\nkind: List\nitems:\n" +
				"- apiVersion: v1\n  kind: Service\n  metadata:\n    name: s\n" +
				"- apiVersion: apps/v1\n  kind: StatefulSet\n  metadata:\n    name: db\n    namespace: data\n" +
				"metadata:\n  resourceVersion: \"\"\n---\n" + sts("after"),
			docs: []docInfo{
				{4, 0, 0, "v1", "Service", "s"},
				{8, 0, 1, "apps/v1", "StatefulSet", "data/db"},
				{16, 1, -1, "apps/v1", "StatefulSet", "data/after"},
			},
		},
		{
			name: "kind: NodeList from kubectl get nodes -o yaml → one document per Node",
			src: "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata:\n    name: n1\n" +
				"- apiVersion: v1\n  kind: Node\n  metadata:\n    name: n2\nkind: NodeList\nmetadata:\n  resourceVersion: \"1\"\n",
			docs: []docInfo{{3, 0, 0, "v1", "Node", "n1"}, {7, 0, 1, "v1", "Node", "n2"}},
		},
		{
			name: "List with a scalar item and an item without kind → errors at their lines, other items read",
			src: "apiVersion: v1\nkind: List\nitems:\n- just text\n- apiVersion: v1\n  metadata: {name: x}\n" +
				"- apiVersion: v1\n  kind: ConfigMap\n",
			docs: []docInfo{{7, 0, 2, "v1", "ConfigMap", ""}},
			errs: []errInfo{{4, "items[0] of a List must be an object"}, {5, "object has no kind"}},
		},
		{
			name: "List with null or empty items → nothing read, no error",
			src:  "apiVersion: v1\nkind: List\nitems:\n---\napiVersion: v1\nkind: List\nitems: []\n",
		},
		{
			name: "List whose items is a mapping → error at items",
			src:  "apiVersion: v1\nkind: List\nitems:\n  a: b\n",
			errs: []errInfo{{4, "items of a List must be a sequence"}},
		},
		{
			name: "JSON single object → read at its first key's line",
			src:  "{\n  \"apiVersion\": \"apps/v1\",\n  \"kind\": \"StatefulSet\",\n  \"metadata\": {\"name\": \"a\"}\n}\n",
			docs: []docInfo{{1, 0, -1, "apps/v1", "StatefulSet", "a"}},
		},
		{
			name: "JSON List as kubectl get -o json prints it → items at their own lines",
			src: "{\n  \"apiVersion\": \"v1\",\n  \"items\": [\n    {\n      \"apiVersion\": \"v1\",\n      \"kind\": \"Pod\",\n" +
				"      \"metadata\": {\"name\": \"p\"}\n    },\n    {\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"q\"}}\n" +
				"  ],\n  \"kind\": \"List\"\n}\n",
			docs: []docInfo{{4, 0, 0, "v1", "Pod", "p"}, {9, 0, 1, "v1", "Pod", "q"}},
		},
		{
			name: "document over 8 MiB → error at its first line, next document still read",
			src:  "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: " + strings.Repeat("x", MaxDocumentBytes) + "\n---\n" + sts("b"),
			docs: []docInfo{{6, 0, -1, "apps/v1", "StatefulSet", "data/b"}},
			errs: []errInfo{{1, "over the 8388608-byte limit"}},
		},
		{
			name: "flow nesting 20000 deep → invalid YAML, not a crash; next document still read",
			src:  "apiVersion: v1\nkind: A\nx: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n---\n" + sts("b"),
			docs: []docInfo{{5, 0, -1, "apps/v1", "StatefulSet", "data/b"}},
			errs: []errInfo{{3, "exceeded max depth"}},
		},
		{
			name: "empty input → nothing",
			src:  "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, errs := readAll(t, tt.src)
			if diff := cmp.Diff(tt.docs, docs); diff != "" {
				t.Errorf("documents (-want +got):\n%s", diff)
			}
			checkErrs(t, errs, tt.errs)
		})
	}
}

func TestReadStopsWhenFnFails(t *testing.T) {
	stop := errors.New("stop here")
	var kinds []string
	errs := Read("in.yaml", []byte("a: [\n---\n"+sts("a")+"---\n"+sts("b")), func(d *Document) error {
		kinds = append(kinds, d.Name)
		return stop
	})
	if diff := cmp.Diff([]string{"a"}, kinds); diff != "" {
		t.Errorf("documents seen (-want +got):\n%s", diff)
	}
	if len(errs) != 2 || !errors.Is(errs[len(errs)-1], stop) {
		t.Fatalf("errors = %v, want the parse error then fn's error last", errs)
	}
}

func TestReadListItemsShareTheListTree(t *testing.T) {
	src := "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n"
	var got *Document
	Read("in.yaml", []byte(src), func(d *Document) error { got = d; return nil })
	if got == nil {
		t.Fatal("no document read")
	}
	if !bytes.Equal(got.Raw, []byte(src)) {
		t.Errorf("Raw = %q, want the whole List", got.Raw)
	}
	items := Lookup(got.Root.Content[0], "items")
	if items == nil || items.Content[0] != got.Node {
		t.Fatal("the item's Node is not the List's items[0]")
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []Chunk
	}{
		{"no marker → one chunk from line 1", "a: 1\nb: 2\n", []Chunk{{1, []byte("a: 1\nb: 2\n")}}},
		{"leading marker → chunk starts on line 2", "---\na: 1\n", []Chunk{{2, []byte("a: 1\n")}}},
		{"marker with comment → comment dropped with the marker line", "a: 1\n--- # x\nb: 2\n", []Chunk{{1, []byte("a: 1\n")}, {3, []byte("b: 2\n")}}},
		{"inline content → kept from the marker line", "--- {a: 1}\nb: 2\n", []Chunk{{1, []byte("{a: 1}\nb: 2\n")}}},
		{"---x is not a marker", "---x: 1\n", []Chunk{{1, []byte("---x: 1\n")}}},
		{"indented --- is not a marker", "a: |\n  ---\n", []Chunk{{1, []byte("a: |\n  ---\n")}}},
		{"end marker then bare document", "a: 1\n...\nb: 2", []Chunk{{1, []byte("a: 1\n")}, {3, []byte("b: 2")}}},
		{"marker at end of input without newline", "a: 1\n---", []Chunk{{1, []byte("a: 1\n")}}},
		{"CRLF marker", "a: 1\r\n---\r\nb: 2\r\n", []Chunk{{1, []byte("a: 1\r\n")}, {3, []byte("b: 2\r\n")}}},
		{"CR marker", "a: 1\r---\rb: 2\r", []Chunk{{1, []byte("a: 1\r")}, {3, []byte("b: 2\r")}}},
		{"only markers → no chunk", "---\n---\n...\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Split([]byte(tt.src))); diff != "" {
				t.Errorf("Split (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadChunkIndex(t *testing.T) {
	index := 5
	var got []int
	for _, c := range Split([]byte("---\n" + sts("a") + "---\n# empty\n---\nbroken: [\n---\n" + sts("b"))) {
		ReadChunk("in.yaml", c, &index, func(d *Document) error { got = append(got, d.Index); return nil })
	}
	if diff := cmp.Diff([]int{5, 6}, got); diff != "" {
		t.Errorf("indices (-want +got):\n%s", diff)
	}
	if index != 7 {
		t.Errorf("index after the stream = %d, want 7", index)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{Source: "a.yaml", Line: 3, Message: "bad"}, "a.yaml:3: bad"},
		{Error{Source: "-", Message: "bad"}, "-: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDocumentRef(t *testing.T) {
	for _, tt := range []struct{ ns, name, want string }{{"", "a", "a"}, {"data", "a", "data/a"}} {
		t.Run(fmt.Sprintf("%q %q", tt.ns, tt.name), func(t *testing.T) {
			if got := (&Document{Namespace: tt.ns, Name: tt.name}).Ref(); got != tt.want {
				t.Errorf("Ref() = %q, want %q", got, tt.want)
			}
		})
	}
}
