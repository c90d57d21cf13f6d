package audit

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// goldenCases are the reports written into testdata/<name>.json and
// testdata/<name>.policyreports.json. Regenerate them with UPDATE_GOLDEN=1 go test ./audit/.
// audit/render renders the JSON ones into its own goldens.
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

func TestGolden(t *testing.T) {
	for name, r := range goldenCases() {
		t.Run(name+".json", func(t *testing.T) {
			var b bytes.Buffer
			if err := r.WriteJSON(&b); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", name+".json"), b.Bytes())
		})
		t.Run(name+".policyreports", func(t *testing.T) {
			b, err := json.MarshalIndent(r.PolicyReports(), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", name+".policyreports.json"), append(b, '\n'))
		})
	}
}

// checkGolden compares got with the file, or with UPDATE_GOLDEN set rewrites the file when it
// differs. The rewrite replaces the file in one step, because audit/render's tests may be
// reading the JSON goldens at the same time.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	want, err := os.ReadFile(path)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err == nil && bytes.Equal(want, got) {
			return
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, got, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; UPDATE_GOLDEN=1 regenerates):\n%s", path, diff)
	}
}

// TestJSONRoundTrip checks that the JSON form decodes back into the same report, so what
// audit/render draws from the JSON goldens is what it draws from a fresh report.
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
