package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/stowage-dev/stowage/audit"
)

// goldenCases are the audit's own JSON goldens (../testdata/<name>.json, written by the
// audit's tests from real analyses), decoded: every format is rendered from them into
// testdata/<name>.<format>. Regenerate with UPDATE_GOLDEN=1 go test ./audit/render/ after the
// audit's goldens are up to date.
var goldenNames = []string{"clean", "demo", "empty"}

func goldenReport(t *testing.T, name string) *audit.Report {
	t.Helper()
	path := filepath.Join("..", "testdata", name+".json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := &audit.Report{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

var goldenExt = map[string]string{FormatTable: "txt", FormatJSON: "json", FormatMarkdown: "md", FormatHTML: "html"}

func TestGolden(t *testing.T) {
	for _, name := range goldenNames {
		r := goldenReport(t, name)
		for _, format := range Formats() {
			t.Run(name+"."+format, func(t *testing.T) {
				var b bytes.Buffer
				if err := Write(&b, r, format); err != nil {
					t.Fatal(err)
				}
				if format == FormatJSON {
					// The audit's own golden: rendering must give it back byte for byte.
					want, err := os.ReadFile(filepath.Join("..", "testdata", name+".json"))
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(string(want), b.String()); diff != "" {
						t.Errorf("json (-want +got):\n%s", diff)
					}
					return
				}
				checkGolden(t, filepath.Join("testdata", name+"."+goldenExt[format]), b.Bytes())
			})
		}
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; UPDATE_GOLDEN=1 regenerates):\n%s", path, diff)
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	if err := Write(io.Discard, &audit.Report{}, "yaml"); err == nil {
		t.Error("no error for an unknown format")
	}
}

// voidElements have no end tag in HTML.
var voidElements = map[string]bool{
	"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
	"input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true,
}

// TestHTMLWellFormed checks every HTML page the goldens produce: every element is closed in
// order, the document parses, and nothing is loaded from elsewhere.
func TestHTMLWellFormed(t *testing.T) {
	for _, name := range goldenNames {
		r := goldenReport(t, name)
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := HTML(&b, r); err != nil {
				t.Fatal(err)
			}
			checkWellFormed(t, b.Bytes())
			checkSelfContained(t, b.Bytes())
			doc, err := html.Parse(bytes.NewReader(b.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if got := countElements(doc, "svg"); got != 2 && name != "empty" {
				t.Errorf("%d svg elements, want the logo and the placement map", got)
			}
		})
	}
}

func checkWellFormed(t *testing.T, page []byte) {
	t.Helper()
	z := html.NewTokenizer(bytes.NewReader(page))
	var stack []string
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if !errors.Is(z.Err(), io.EOF) {
				t.Fatalf("tokenizer: %v", z.Err())
			}
			if len(stack) > 0 {
				t.Errorf("unclosed elements at the end: %v", stack)
			}
			return
		case html.StartTagToken:
			name, _ := z.TagName()
			if !voidElements[string(name)] {
				stack = append(stack, string(name))
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if len(stack) == 0 || stack[len(stack)-1] != string(name) {
				t.Fatalf("end tag </%s> does not close the open element (open: %v)", name, stack)
			}
			stack = stack[:len(stack)-1]
		}
	}
}

var externalRef = regexp.MustCompile(`(?i)(https?:|//[a-z0-9]|<script|<link|<img|<iframe|@import|src=)`)

func checkSelfContained(t *testing.T, page []byte) {
	t.Helper()
	if m := externalRef.Find(page); m != nil {
		t.Errorf("page refers to something outside itself: %q", m)
	}
	for _, url := range regexp.MustCompile(`url\(([^)]*)\)`).FindAllSubmatch(page, -1) {
		if !strings.HasPrefix(string(url[1]), "#") {
			t.Errorf("css url() not local: %s", url[0])
		}
	}
}

func countElements(n *html.Node, tag string) int {
	c := 0
	if n.Type == html.ElementNode && n.Data == tag {
		c++
	}
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		c += countElements(ch, tag)
	}
	return c
}

// TestHTMLEscapes checks that text from the cluster cannot inject markup.
func TestHTMLEscapes(t *testing.T) {
	evil := `<script>alert("x")</script><img src=x>`
	r := goldenReport(t, "demo")
	r.Findings[0].Message = evil
	r.StatefulSets[0].Name = evil
	r.StatefulSets[0].Replicas[0].Pod = evil
	var b bytes.Buffer
	if err := HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b.Bytes(), []byte("<script")) || bytes.Contains(b.Bytes(), []byte("<img")) {
		t.Error("unescaped markup in the page")
	}
	checkWellFormed(t, b.Bytes())
	var md bytes.Buffer
	if err := Markdown(&md, r); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(md.Bytes(), []byte("<script")) {
		t.Error("unescaped markup in the markdown")
	}
}

// TestHTMLLargeMap checks that a report too big for one picture still renders, with a note.
func TestHTMLLargeMap(t *testing.T) {
	r := largeReport(1000, 600, 3)
	var b bytes.Buffer
	if err := HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.Bytes(), []byte("showing the 150 StatefulSets")) {
		t.Error("no note about the rows left out")
	}
	if !bytes.Contains(b.Bytes(), []byte("other nodes")) {
		t.Error("no column summing up the nodes left out")
	}
	checkWellFormed(t, b.Bytes())
}

// largeReport is a report of sets StatefulSets of replicas each, spread round-robin over nodes
// Ready nodes; every tenth one has an error.
func largeReport(sets, nodes, replicas int) *audit.Report {
	r := &audit.Report{}
	for i := range nodes {
		r.Nodes = append(r.Nodes, audit.NodeImpact{Node: fmt.Sprintf("node-%03d", i), State: audit.NodeReady})
	}
	for i := range sets {
		s := audit.StatefulSetRow{Namespace: "ns", Name: fmt.Sprintf("db-%04d", i), DesiredReplicas: int32(replicas),
			ReadyReplicas: int32(replicas), HealthyReplicas: int32(replicas), Quorum: int32(replicas/2 + 1)}
		if i%10 == 0 {
			s.WorstSeverity = audit.SeverityError
		}
		for o := range replicas {
			node := r.Nodes[(i*replicas+o)%nodes]
			s.Replicas = append(s.Replicas, audit.Replica{Ordinal: int32(o), Pod: fmt.Sprintf("%s-%d", s.Name, o), Phase: "Running",
				Ready: true, Healthy: true, Node: node.Node, NodeState: node.State})
		}
		r.StatefulSets = append(r.StatefulSets, s)
	}
	return r
}
