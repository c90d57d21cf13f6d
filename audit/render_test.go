package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"
)

// goldenCases are the reports rendered into testdata/<name>.<format>. Regenerate them with
// UPDATE_GOLDEN=1 go test ./audit/.
func goldenCases() map[string]*Report {
	clean := newFixture()
	clean.nodes("node-a", "node-b", "node-c")
	clean.healthy("db", "pg", "node-a", "node-b", "node-c")
	return map[string]*Report{
		"demo":  demoFixture().analyze(),
		"clean": clean.analyze(),
		"empty": Analyze(&Snapshot{}, nil, Options{Now: now}),
	}
}

var goldenExt = map[string]string{FormatTable: "txt", FormatJSON: "json", FormatMarkdown: "md", FormatHTML: "html"}

func TestGolden(t *testing.T) {
	for name, r := range goldenCases() {
		for _, format := range Formats() {
			t.Run(name+"."+format, func(t *testing.T) {
				var b bytes.Buffer
				if err := r.Write(&b, format); err != nil {
					t.Fatal(err)
				}
				checkGolden(t, filepath.Join("testdata", name+"."+goldenExt[format]), b.Bytes())
			})
		}
		t.Run(name+".policyreports", func(t *testing.T) {
			b, err := json.MarshalIndent(r.PolicyReports(), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", name+".policyreports.json"), append(b, '\n'))
		})
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

// TestJSONRoundTrip checks that the JSON form decodes back into the same report.
func TestJSONRoundTrip(t *testing.T) {
	r := demoFixture().analyze()
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	dec := json.NewDecoder(&b)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, &back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	if err := (&Report{}).Write(io.Discard, "yaml"); err == nil {
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
	for name, r := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := r.WriteHTML(&b); err != nil {
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
	r := demoFixture().analyze()
	r.Findings[0].Message = evil
	r.StatefulSets[0].Name = evil
	r.StatefulSets[0].Replicas[0].Pod = evil
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b.Bytes(), []byte("<script")) || bytes.Contains(b.Bytes(), []byte("<img")) {
		t.Error("unescaped markup in the page")
	}
	checkWellFormed(t, b.Bytes())
	var md bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(md.Bytes(), []byte("<script")) {
		t.Error("unescaped markup in the markdown")
	}
}

// TestHTMLLargeMap checks that a report too big for one picture still renders, with a note.
func TestHTMLLargeMap(t *testing.T) {
	r := Analyze(syntheticSnapshot(1000, 600, 3), emptySet(), Options{Now: now})
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
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

func TestPolicyReports(t *testing.T) {
	r := demoFixture().analyze()
	prs := r.PolicyReports()
	var namespaces []string
	for _, pr := range prs {
		namespaces = append(namespaces, pr.Namespace)
		if pr.Labels["app.kubernetes.io/managed-by"] != "stowage" || pr.Name != PolicyReportName {
			t.Errorf("%s: metadata %+v", pr.Namespace, pr.ObjectMeta)
		}
		u, err := pr.Unstructured()
		if err != nil {
			t.Fatal(err)
		}
		if u.GetAPIVersion() != "wgpolicyk8s.io/v1alpha2" || u.GetKind() != "PolicyReport" || u.GetNamespace() != pr.Namespace {
			t.Errorf("unstructured: %s %s %s", u.GetAPIVersion(), u.GetKind(), u.GetNamespace())
		}
		sum := pr.Summary.Pass + pr.Summary.Fail + pr.Summary.Warn + pr.Summary.Error + pr.Summary.Skip
		if sum != len(pr.Results) {
			t.Errorf("%s: summary %+v does not count %d results", pr.Namespace, pr.Summary, len(pr.Results))
		}
	}
	if diff := cmp.Diff([]string{"kafka", "messaging", "monitoring", "payments", "search", "tools"}, namespaces); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s", diff)
	}
	// payments/postgres is clean: one pass result.
	var pass int
	for _, res := range prs[slices.Index(namespaces, "payments")].Results {
		if res.Result == ResultPass {
			pass++
			if res.Resources[0].Name != "postgres" || res.Resources[0].UID == "" {
				t.Errorf("pass result for %+v", res.Resources)
			}
		}
	}
	if pass != 1 {
		t.Errorf("payments: %d pass results, want 1", pass)
	}
}
