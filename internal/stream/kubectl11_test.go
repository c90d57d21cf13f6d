package stream

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"

	"github.com/stowage-dev/stowage/internal/testcorpus"
)

// hostile11 are documents on which YAML 1.1 (go-yaml v2, kubectl) and YAML 1.2 (the tree)
// disagree, or which reach the corners of either: booleans, octal and other integer forms,
// floats, big integers, timestamps, merge keys, anchors, tags, repeated and non-string keys,
// scalar styles and escapes.
var hostile11 = []string{
	"a: yes\nb: no\nc: on\nd: off\ne: y\nf: n\ng: Y\nh: N\ni: YES\nj: Off\nk: True\nl: FALSE\nm: tRue\nn: oN\n",
	"a: [yes, no, on, off, y, n, ~, null, Null, NULL, nULL, '', \"\", true, false]\n",
	"a: 010\nb: 0o17\nc: 0x1F\nd: 08\ne: 09\nf: 0\ng: -0\nh: +1\ni: 1_000\nj: 0b101\nk: -0b101\nl: 0x_1F\nm: 00\nn: 0_1\no: _1\np: 1__0\n",
	"a: 0b\nb: 0x\nc: 0o\nd: -\ne: +\nf: '-0b11'\ng: -0b11\nh: 0b1_1\ni: 0B11\nj: 0X1f\nk: 0O17\nl: -0x10\nm: +0x10\nn: -010\n",
	"a: 9223372036854775807\nb: 9223372036854775808\nc: 18446744073709551615\nd: 18446744073709551616\ne: 123456789012345678901234567890\nf: -9223372036854775808\ng: -9223372036854775809\n",
	"a: 1.5\nb: 1e3\nc: 1E3\nd: 1.\ne: .5\nf: -.5\ng: +.5\nh: 1e400\ni: 1e21\nj: 1e20\nk: 1e-7\nl: 0.000001\nm: 3.14159265358979\nn: -0.0\no: 6.02e+23\np: 1_000.5\nq: .e1\nr: 0.\ns: 1e\nt: 1e+\nu: 0x1p-2\nv: 1.5e-9\n",
	"a: .inf\n", "a: -.Inf\n", "a: .NaN\n", "a: +.INF\n", "a: [.nan]\n", "a: '.inf'\nb: .infinity\nc: inf\nd: nan\ne: +inf\n",
	"a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\nc: 2001-12-14 21:59:43.10\nd: 2001-12-14 21:59:43.10 -5\ne: 2001-1-1\nf: 20011-12-14\ng: 2001-13-14\nh: 1:30\ni: 12:30:45\nj: 190:20:30\n",
	"a: <b>&c</b>\nb: \"\\u2028\\u2029\\x01\\b\\f\\t\\r\\n\\e\\0\\a\\v\\N\\_\\L\\P\"\nc: '\\n'\nd: \"\\/\"\n",
	"a: |\n  x\n  y\nb: >\n  x\n  y\n\n  z\nc: |-\n  x\nd: >+\n  x\n\ne: |2\n   x\n",
	"a: multi\n  line\n  plain\nb: \"multi\n  line\n\n  quoted\"\nc: 'it''s'\n",
	"a: 1\nb: 2\na: 3\n", "a: 1\n\"a\": 2\n", "a:\n  b: 1\n  b: {c: 1}\n", "a: [{x: 1, x: 2}]\n",
	"yes: 1\n", "1: a\n", "\"1\": a\n", "1.5: x\n", "null: x\n", "~: x\n", "? [a]\n: b\n", "? {a: 1}\n: b\n", "'<<': {x: 1}\n",
	"base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n", "m:\n  y: 3\n  <<: {y: 4, z: 5}\n", "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nm:\n  <<: [*a, *b]\n",
	"a: &a 1\nb: *a\n", "a: &a [1, 2]\nb: [*a, *a]\n", "a: &unused 1\n",
	"a: !!str 5\n", "a: ! 5\n", "a: !custom x\n", "a: !!binary aGk=\n", "a: !!int \"5\"\n", "a: !!float 3\n", "a: &x !!str 5\n", "! a: 1\n", "a:\n  ! 5\n", "a: [! 5]\n", "a: {b: ! 5}\n",
	"a: x!y\nb: 'x !y'\nc: x !y\nd: \"!\"\n",
	"a: !\nb: 1\n", "a: [! 5, ! , !]\n", "a: !<!> 5\n", "a: ! yes\n", "- ! 1\n- 2\n", "a: |\n  [ ! -f x ]\nb: 5\n",
	"\ufeffa: ! 5\n", "\ufeffa: 5\nb: ! 6\n", "ä: ! 5\n", "{é: ! 5, ü: 6}\n", "a: ! 5\r\n", "a: 'é' # ! \nb: ! 1\n",
	"a:\n  b:\n! c: 1\n", "a: ! 5\u2028b: 1\n", "a: 'x\u0085' ! 5\nb: ! 1\n", "a: |\n  \u2029 ! x\nb: 5\n", "a: ${!x} 1\nb: 2\n", "a: \"! 1\"\nb: 2\n",
	"{\"apiVersion\": \"v1\", \"kind\": \"A\", \"n\": 1.0, \"m\": 1e2, \"b\": true, \"z\": null}\n",
	"a: {b: yes, c: [on, off]}\nb: [\"a:b\", a:b, {a:b}, {\"a\":b}]\nc: {a: }\n",
	"a: <<\nb: =\nc: '<<'\n",
	"a: 1\r\nb: |\r\n  x\r\n  y\r\n",
	"- a\n- b\n", "just a scalar\n", "010\n", "yes\n", "[]\n", "{}\n",
	"a:\n- b\n-\n- ~\n- \n",
	"a: \"\\ud800\"\n", "a: \"\\U0001F600\"\n",
	"a: # comment\n  b\n",
	"%YAML 1.1\n---\na: yes\n",
}

// docs11 returns the documents of src as kubectlJSON receives them: each chunk's text and tree,
// for the chunks that are valid UTF-8, hold one document and parse.
func docs11(src []byte) (texts [][]byte, roots []*yaml.Node) {
	for _, c := range Split(src) {
		if !utf8.Valid(c.Text) || onlyDirectives(c.Text) || len(c.Text) > 1<<20 {
			continue
		}
		dec := yaml.NewDecoder(bytes.NewReader(c.Text))
		var root, extra yaml.Node
		if dec.Decode(&root) != nil || !errors.Is(dec.Decode(&extra), io.EOF) || root.Kind == 0 || len(root.Content) == 0 {
			continue
		}
		texts, roots = append(texts, c.Text), append(roots, &root)
	}
	return texts, roots
}

// checkAgainstSigsYAML compares kubectlJSON with sigs.k8s.io/yaml on one document. fast reports
// whether it took the path through the tree.
func checkAgainstSigsYAML(t *testing.T, text []byte, root *yaml.Node) (fast bool) {
	t.Helper()
	_, _, fast = treeJSON(text, root, 1)
	if !fast && guard(text, root) != nil {
		return false // an alias bomb, refused before kubectl's decoder
	}
	if !fast && !sigsYAMLDeterministic(text) {
		return false // kubectl's own reading varies from run to run (see sigsYAMLDeterministic)
	}
	want, wantDup, wantErr := yamlToJSON(text)
	got, dup, err := kubectlJSON(text, root, 1)
	if fast && wantErr != nil {
		t.Fatalf("from the tree: %s; kubectl's decoder refuses it: %v\ndocument:\n%s", got, wantErr, text)
	}
	if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) || dup != wantDup {
		t.Fatalf("kubectlJSON (fast path %v) gives %s, dup %v, error %v;\nsigs.k8s.io/yaml gives %s, dup %v, error %v\ndocument:\n%s",
			fast, got, dup, err, want, wantDup, wantErr, text)
	}
	return fast
}

// sigsYAMLDeterministic reports whether sigs.k8s.io/yaml converts the text the same way every
// time. It does not when two keys of a mapping that go-yaml v2 holds apart (0 and 0., an int and
// a float) become the same JSON key: Go's random map order then picks the value kept. The slow
// path is that very conversion, so it can only be compared where the conversion is stable.
func sigsYAMLDeterministic(text []byte) bool {
	first, _, _ := yamlToJSON(text)
	for range 16 {
		if again, _, _ := yamlToJSON(text); !bytes.Equal(again, first) {
			return false
		}
	}
	return true
}

// TestKubectlJSONAgreesWithSigsYAML: the JSON computed from the tree is byte for byte the one
// kubectl's decoder computes from the text, on hostile documents and on every manifest of the
// corpus and the repository's fixtures; and every corpus document takes the path through the
// tree, parsed once.
func TestKubectlJSONAgreesWithSigsYAML(t *testing.T) {
	for _, src := range hostile11 {
		texts, roots := docs11([]byte(src))
		for i := range texts {
			checkAgainstSigsYAML(t, texts[i], roots[i])
		}
	}
	var slow []string
	for _, name := range testcorpus.Files(t) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		texts, roots := docs11(data)
		for i := range texts {
			if !checkAgainstSigsYAML(t, texts[i], roots[i]) {
				slow = append(slow, name+": "+firstLine(texts[i]))
			}
		}
	}
	if len(slow) > 0 {
		t.Errorf("corpus documents that are parsed twice (kubectl's decoder on their text):\n%s", strings.Join(slow, "\n"))
	}
	var fixtures []string
	for _, glob := range []string{"../../*/testdata/*/*.yaml", "../../*/testdata/*.yaml", "../../examples/*.yaml", "../../examples/*/*.yaml"} {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		fixtures = append(fixtures, m...)
	}
	if len(fixtures) < 50 {
		t.Fatalf("only %d fixtures found", len(fixtures))
	}
	for _, name := range fixtures {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		texts, roots := docs11(data)
		for i := range texts {
			checkAgainstSigsYAML(t, texts[i], roots[i])
		}
	}
}

func firstLine(text []byte) string {
	l, _, _ := bytes.Cut(text, []byte("\n"))
	return string(l)
}

// FuzzKubectlJSON: for any document, kubectlJSON gives byte for byte what kubectl's decoder
// gives (sigs.k8s.io/yaml), and whenever it takes the path through the tree, kubectl's decoder
// reads the document too.
func FuzzKubectlJSON(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	for _, s := range hostile11 {
		f.Add([]byte(s))
	}
	for _, s := range edgeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		texts, roots := docs11(data)
		for i := range texts {
			checkAgainstSigsYAML(t, texts[i], roots[i])
		}
	})
}
