package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	syaml "sigs.k8s.io/yaml"

	"github.com/stowage-dev/stowage/internal/testcorpus"
)

var plainCases = []struct {
	name  string
	text  string
	plain bool
}{
	{"helm's style", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a # the name\n  labels:\n    app.kubernetes.io/name: x\n" +
		"data:\n  my.cnf: |-\n    [mysqld]\n    \tkey = value: yes\n\n    # not a comment\n  empty: \"\"\n  list: []\n", true},
	{"sequences at and under their key's column", "a:\n- x\n- y: 1\n  z: 2\n  w:\n  - 1\nb:\n  - |\n    text\n  - 'it''s'\n  -\n  - c: \"\\u00e9\\n\"\n", true},
	{"comments and blank lines anywhere", "# head\na: 1\n\n   # deeper comment\nb:\n  # between\n  c: 2\n", true},
	{"a plain scalar with colons and hashes", "a: http://x:80/#y\nb: -1\nc: a]b\n", true},
	{"nothing but comments", "# only\n", false},
	{"a mapping not at column 0", "  a: 1\n", false},
	{"a sequence document", "- a\n", false},
	{"a tab in indentation", "a:\n\tb: 1\n", false},
	{"a tab after a value", "a: 1\t# c\n", false},
	{"CR line breaks", "a: 1\r\nb: 2\r\n", false},
	{"an anchor", "a: &x 1\nb: 2\n", false},
	{"an alias", "a: *x\n", false},
	{"a tag", "a: !!str 1\n", false},
	{"a merge key", "<<: {a: 1}\n", false},
	{"a flow mapping", "a: {b: 1}\n", false},
	{"flow sequences of words and quoted scalars", "a: [ \"x\", 'y' ]\nb: [get, list, watch]\nc: [\"\"] # c\n", true},
	{"a flow sequence with a flow mapping", "a: [{b: 1}]\n", false},
	{"a flow sequence with a trailing comma", "a: [b, ]\n", false},
	{"a flow sequence over two lines", "a: [b,\n  c]\n", false},
	{"an alias in a flow sequence", "a: [*b]\n", false},
	{"a mapping value in a plain scalar", "a: b: c\n", false},
	{"a trailing colon", "a: b:\n", false},
	{"a plain scalar over two lines", "a: b\n  c\n", false},
	{"a quoted scalar left open", "a: \"b\n  c\"\n", false},
	{"an unknown escape", "a: \"\\q\"\n", false},
	{"an escaped slash, which neither go-yaml reads", "a: \"http:\\/\\/x\"\n", false},
	{"an escaped slash in a flow sequence", "a: [\"\\/\"]\n", false},
	{"a tab opening a block scalar's first line", "a: |\n  \tx\n", false},
	{"a tab in a block scalar's later line", "a: |\n  x\n  \ty\n", true},
	{"infinity, which kubectl's JSON cannot hold", "a: .inf\nb: 1\n", false},
	{"negative infinity in a sequence", "a:\n- -.Inf\n", false},
	{"not a number", "a: .NaN # c\n", false},
	{"a surrogate escape", "a: \"\\ud800\"\n", false},
	{"text after a quoted scalar", "a: \"b\" c\n", false},
	{"an indentation indicator", "a: |2\n  x\n", false},
	{"a block scalar line between its key and content", "a: |\n    x\n  y\n", false},
	{"spaces before a block scalar's first line", "a: |\n      \n  x\n", false},
	{"a key indented between two levels", "a:\n    b: 1\n  c: 2\n", false},
	{"a sequence entry among keys", "a: 1\n- b\n", false},
	{"a key among sequence entries", "a:\n  - b\n  c: 1\n", false},
	{"a document marker", "a: 1\n---\n", false},
	{"a directive-looking line", "%YAML 1.1\na: 1\n", false},
	{"a null key", "null: 1\n", false},
	{"keys that read as numbers or dates", "8080: a\n", false},
	{"a big number key", "10000000000000000000: a\n", false},
	{"a date key", "2001-12-14: a\n", false},
	{"keys that start with a digit and read as strings", "00-init.sh: a\n1st: b\n", true},
	{"a complex key", "? a\n: 1\n", false},
	{"a control character", "a: \x01\n", false},
	{"a byte order mark", "\ufeffa: 1\n", false},
	{"invalid UTF-8", "a: \xff\n", false},
	{"a sequence in a sequence entry", "a:\n- - b\n", false},
	{"block scalars kept, stripped and clipped", "a: |+\n  x\n\n\nb: |-\n  y\n\n  \nc: |\n  z\n\n", true},
	{"folded scalars", "a: >\n  one\n  two\n\n  three\n    more\n  indented\n\n\n  end\nb: >-\n  x\n   y\n  z\n", true},
	{"spaces beyond a block scalar's indentation", "a: |\n  x\n     \n  y\n   \nb: >+\n  p\n     \n", true},
	{"an empty block scalar", "a: |\nb: >+\n\n\nc: 1\n", true},
	{"a block scalar at the end without a line break", "a: >-\n  x\n  y", true},
	{"a block scalar in a sequence", "a:\n- |\n  x\n- >\n   y\n   z\n", true},
	{"null values", "a:\nb: # c\nc:\n  -\n  - # c\n  - x\nd:   \n", true},
	{"escapes", "a: \"\\0\\a\\b\\t\\n\\v\\f\\r\\e\\ \\\"\\\\\\N\\_\\L\\P\\x41\\u00e9\"\nb: 'it''s'\n", true},
	{"tags of plain scalars", "a: 1\nb: 0x1F\nc: 1.5\nd: true\ne: yes\nf: ~\ng: 2001-12-14\nh: <<\ni: [1, true, x, \"2\", 'y']\n", true},
	{"keys and values after wide characters", "\"é\": ü\n'ñ': [\"ö\", x]\nk: \"日本\" # c\n", true},
}

func TestPlain(t *testing.T) {
	for _, tc := range plainCases {
		if got := Plain([]byte(tc.text)); got != tc.plain {
			t.Errorf("%s: Plain = %v, want %v\n%s", tc.name, got, tc.plain, tc.text)
		}
		if tc.plain {
			checkPlain(t, []byte(tc.text))
		}
	}
}

// Nearly every document of the rendered charts is plain: `stowage check` skips parsing those
// of the kinds it does not judge. Documents Plain refuses only cost a parse, so the bound is
// loose, but a Plain that refuses what helm writes would bring that parse back for every one.
func TestPlainCorpus(t *testing.T) {
	plain, total := 0, 0
	for _, name := range testcorpus.Files(t) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range Split(data) {
			if len(bytes.TrimSpace(c.Text)) == 0 {
				continue
			}
			total++
			if Plain(c.Text) {
				plain++
				checkPlain(t, c.Text)
			} else if testing.Verbose() {
				t.Logf("%s:%d is not plain", name, c.Line)
			}
		}
	}
	t.Logf("%d of %d corpus documents are plain", plain, total)
	if plain*10 < total*9 {
		t.Errorf("only %d of %d corpus documents are plain", plain, total)
	}
}

// checkPlain fails unless both YAML readers read a plain document as one mapping, without error.
func checkPlain(t *testing.T, text []byte) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(text))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("Plain, but go-yaml v3 says %v:\n%q", err, text)
	}
	if len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		t.Fatalf("Plain, but go-yaml v3 reads no mapping:\n%q", text)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		t.Fatalf("Plain, but go-yaml v3 reads a second document (%v):\n%q", err, text)
	}
	if _, err := syaml.YAMLToJSON(text); err != nil {
		t.Fatalf("Plain, but kubectl's conversion says %v:\n%q", err, text)
	}
	tree := PlainTree(text, 1)
	if tree == nil {
		t.Fatalf("Plain, but PlainTree gives nothing:\n%q", text)
	}
	if d := treeDiff(tree, &root, "$"); d != "" {
		t.Fatalf("PlainTree and go-yaml v3 differ at %s:\n%q", d, text)
	}
}

// treeDiff names the first difference between two trees, comments aside, or returns "".
func treeDiff(got, want *yaml.Node, at string) string {
	if got.Kind != want.Kind || got.Tag != want.Tag || got.Style != want.Style || got.Value != want.Value ||
		got.Line != want.Line || got.Column != want.Column || got.Anchor != want.Anchor || len(got.Content) != len(want.Content) {
		return fmt.Sprintf("%s: got kind %d tag %q style %d value %q at %d:%d with %d children; go-yaml has kind %d tag %q style %d value %q at %d:%d with %d children",
			at, got.Kind, got.Tag, got.Style, got.Value, got.Line, got.Column, len(got.Content),
			want.Kind, want.Tag, want.Style, want.Value, want.Line, want.Column, len(want.Content))
	}
	for i := range got.Content {
		if d := treeDiff(got.Content[i], want.Content[i], fmt.Sprintf("%s[%d]", at, i)); d != "" {
			return d
		}
	}
	return ""
}

// PlainTree numbers lines from the line it is given, as Read does for a chunk.
func TestPlainTreeLines(t *testing.T) {
	text := []byte("# c\na:\n  - b: 1\n")
	tree := PlainTree(text, 40)
	if tree == nil {
		t.Fatal("not plain")
	}
	if b := tree.Content[0].Content[1].Content[0]; b.Line != 42 || b.Column != 5 {
		t.Errorf("b's mapping at %d:%d, want 42:5", b.Line, b.Column)
	}
	if PlainTree([]byte("a: &x 1\n"), 1) != nil {
		t.Error("PlainTree of a document with an anchor: want nil")
	}
}

// FuzzPlain: whatever Plain accepts, both YAML readers read without error as one mapping.
func FuzzPlain(f *testing.F) {
	for _, s := range seeds(f) {
		for _, c := range Split(s) {
			f.Add(c.Text)
		}
	}
	for _, tc := range plainCases {
		f.Add([]byte(tc.text))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 || !Plain(data) {
			return
		}
		checkPlain(t, data)
	})
}

// ReadChunkToJudge gives what ReadChunk gives, comments aside: the same documents, trees, JSON
// and errors, for the corpus and for the plain cases wrapped as objects.
func TestReadChunkToJudgeReadsAsReadChunk(t *testing.T) {
	inputs := map[string][]byte{}
	for _, name := range testcorpus.Files(t) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		inputs[name] = data
	}
	for _, tc := range plainCases {
		inputs[tc.name] = []byte("# a comment\n\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n" + tc.text)
	}
	fast := 0
	for name, data := range inputs {
		for _, c := range Split(data) {
			read := func(r func(string, Chunk, *int, func(*Document) error) ([]error, bool)) (docs []*Document, out string) {
				index := 3
				errs, _ := r(name, c, &index, func(d *Document) error {
					docs = append(docs, d)
					data, warns, err := d.JSON()
					out += fmt.Sprintf("%s %d %d %d %s %s %s %s\n%s\n%v %v\n", d.Source, d.Line, d.Index, d.Item,
						d.APIVersion, d.Kind, d.Namespace, d.Name, data, warns, err)
					return nil
				})
				return docs, out + fmt.Sprintf("index %d, errors %v\n", index, errs)
			}
			slow, slowOut := read(ReadChunk)
			quick, quickOut := read(ReadChunkToJudge)
			if slowOut != quickOut {
				t.Errorf("%s:%d: ReadChunkToJudge reads\n%s\nReadChunk reads\n%s", name, c.Line, quickOut, slowOut)
				continue
			}
			for i := range slow {
				if d := treeDiff(quick[i].Root, slow[i].Root, "$"); d != "" {
					t.Errorf("%s:%d: trees differ at %s", name, c.Line, d)
				}
			}
			if PlainTree(c.Text, c.Line) != nil {
				fast++
			}
		}
	}
	if fast < 200 {
		t.Errorf("only %d documents took PlainTree", fast)
	}
}

// Random documents in the style Plain accepts, built from the parts where PlainTree must agree
// with go-yaml to the character (block scalars of every header with empty, deeper and
// space-only lines, escapes, nulls, indentless sequences, wide characters, comments), since
// FuzzPlain's byte mutations rarely keep a document well-formed. Each one Plain accepts must
// read as go-yaml reads it.
func TestPlainTreeGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	keys := []string{"a", "b1", "true", "yes", "on", "x.y/z-w", "'q k'", `"d k"`, "é", "_n", "1st", "Null-ish"}
	scalars := []string{"x", "a b", "x # c", "1", "0x1F", "1.5", "-2", "~", "yes", "2001-12-14", "http://x:80/#y", "é ü", "a#b", "<<",
		`"q\"\\\t\u00e9\x41\N\_\L\P\e\0\ "`, `'it''s'`, `""`, "''", "[]", "[a, \"b\", 'c', 1]", "{}", "[ x ]", "a   "}
	var block func(b *strings.Builder, indent int)
	value := func(b *strings.Builder, indent, depth int, owner int) {
		switch n := r.IntN(10); {
		case n < 4 || depth > 3:
			b.WriteString(" " + pick(scalars...) + pick("", "", " # c") + "\n")
		case n < 5:
			b.WriteString(pick("", " # c", "   ") + "\n") // null, or a nested collection below
			if r.IntN(2) == 0 {
				block(b, indent+2)
			}
		case n < 7: // a block scalar
			b.WriteString(" " + pick("|", ">") + pick("", "-", "+") + pick("", " # c") + "\n")
			in := strings.Repeat(" ", owner+1+r.IntN(3))
			for range 1 + r.IntN(5) {
				switch r.IntN(6) {
				case 0:
					b.WriteString("\n")
				case 1:
					b.WriteString(in + "  more\n")
				case 2:
					b.WriteString(in + strings.Repeat(" ", r.IntN(4)) + "\n")
				case 3:
					b.WriteString(in + "x\ty # not a comment\n")
				default:
					b.WriteString(in + pick("text", "é ü", "a: b", "- c", "#x") + "\n")
				}
			}
			if r.IntN(3) == 0 {
				b.WriteString(strings.Repeat("\n", r.IntN(3)))
			}
		default: // a sequence, at the key's column or deeper
			b.WriteString(pick("", " # c") + "\n")
			at := indent + 2*r.IntN(2)
			for range 1 + r.IntN(3) {
				b.WriteString(strings.Repeat(" ", at) + "-")
				switch r.IntN(4) {
				case 0:
					b.WriteString(pick("", " # c") + "\n")
				case 1:
					b.WriteString(" " + pick(scalars...) + "\n")
				case 2:
					b.WriteString(" " + pick("|", ">-", "|+") + "\n" + strings.Repeat(" ", at+2) + "line\n\n" + strings.Repeat(" ", at+3) + "deeper\n")
				default:
					b.WriteString(" " + pick(keys...) + ":" + pick(" v", "", " 'w'") + "\n")
					b.WriteString(strings.Repeat(" ", at+2) + pick(keys...) + ": " + pick(scalars...) + "\n")
				}
			}
		}
	}
	block = func(b *strings.Builder, indent int) {
		for range 1 + r.IntN(3) {
			if r.IntN(5) == 0 {
				b.WriteString(pick("", strings.Repeat(" ", indent)+"# comment", "  # deeper") + "\n")
			}
			b.WriteString(strings.Repeat(" ", indent) + pick(keys...) + ":")
			value(b, indent, indent/2, indent)
		}
	}
	plain := 0
	const docs = 20000
	for range docs {
		var b strings.Builder
		block(&b, 0)
		text := b.String()
		if r.IntN(4) == 0 {
			text = strings.TrimRight(text, "\n")
		}
		if Plain([]byte(text)) {
			plain++
			checkPlain(t, []byte(text))
		}
	}
	t.Logf("%d of %d generated documents are plain", plain, docs)
	if plain < docs/4 {
		t.Errorf("only %d of %d generated documents are plain: the generator no longer tests PlainTree", plain, docs)
	}
}
