package check

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

type run struct {
	code           int
	stdout, stderr string
}

func check(t *testing.T, opts Options, paths ...string) run {
	t.Helper()
	var out, errb bytes.Buffer
	if opts.Policies == nil {
		opts.Policies = policy.NewSet(policyfile.Default())
	}
	opts.Stdout, opts.Stderr = &out, &errb
	if opts.Stdin == nil {
		opts.Stdin = strings.NewReader("")
	}
	code, err := Run(context.Background(), opts, paths)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return run{code, out.String(), errb.String()}
}

func jsonReport(t *testing.T, opts Options, paths ...string) (Report, int) {
	t.Helper()
	opts.Output = OutputJSON
	r := check(t, opts, paths...)
	var rep Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%s", err, r.stdout)
	}
	if rep.Summary.ExitCode != r.code {
		t.Errorf("summary.exitCode %d, process %d", rep.Summary.ExitCode, r.code)
	}
	return rep, r.code
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		paths []string
		want  int
	}{
		{"compliant StatefulSet with its own budget → 0", Options{}, []string{"testdata/compliant.yaml"}, ExitOK},
		{"mutations only → 0", Options{}, []string{"testdata/tree/a.yaml"}, ExitOK},
		{"mutations with --fail-on-change → 1", Options{FailOnChange: true}, []string{"testdata/tree/a.yaml"}, ExitViolations},
		{"compliant with --fail-on-change → 0", Options{FailOnChange: true}, []string{"testdata/compliant.yaml"}, ExitOK},
		{"co-location under Deny → 1", Options{}, []string{"testdata/colocated.yaml"}, ExitViolations},
		{"co-location under a Warn policy → 0", Options{Policies: policy.NewSet(loadPolicy(t, "testdata/warn-policy.yaml"))}, []string{"testdata/colocated.yaml"}, ExitOK},
		{"malformed YAML beside a violation → 2 wins", Options{}, []string{"testdata/broken.yaml", "testdata/colocated.yaml"}, ExitInputError},
		{"missing file → 2", Options{}, []string{"testdata/nope.yaml"}, ExitInputError},
		{"setup error (bad policy) → 2", Options{SetupErrors: []InputError{{Source: "p.yaml", Message: "bad"}}}, []string{"testdata/compliant.yaml"}, ExitInputError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := check(t, tc.opts, tc.paths...).code; got != tc.want {
				t.Errorf("exit %d, want %d", got, tc.want)
			}
		})
	}
}

func loadPolicy(t *testing.T, path string) *v1alpha1.PlacementPolicy {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps, errs := policyfile.Load(path, data)
	if len(errs) > 0 || len(ps) != 1 {
		t.Fatalf("%s: %v", path, errs)
	}
	return ps[0]
}

func TestBadInputIsReportedAndTheRestStillChecked(t *testing.T) {
	rep, code := jsonReport(t, Options{}, "testdata/broken.yaml")
	if code != ExitInputError {
		t.Fatalf("exit %d, want 2", code)
	}
	var msgs []string
	for _, e := range rep.Errors {
		msgs = append(msgs, e.Source+":"+itoa(e.Line))
	}
	// Line 13 holds the tab; line 32 the misspelt field of the StatefulSet after it.
	if diff := cmp.Diff([]string{"testdata/broken.yaml:13", "testdata/broken.yaml:32"}, msgs); diff != "" {
		t.Errorf("error positions (-want +got):\n%s\n%+v", diff, rep.Errors)
	}
	if !strings.Contains(rep.Errors[1].Message, `unknown field "spec.template.spec.containers[0].imagePullPolicyy"`) {
		t.Errorf("unknown-field message does not name the field: %q", rep.Errors[1].Message)
	}
	if len(rep.Results) != 1 || rep.Results[0].Name != "after" || len(rep.Results[0].Patch) == 0 {
		t.Fatalf("the StatefulSet after the broken document was not evaluated: %+v", rep.Results)
	}
	if rep.Summary.Objects != 2 {
		t.Errorf("objects = %d, want 2 (the broken one cannot be counted)", rep.Summary.Objects)
	}
}

func TestJSONShape(t *testing.T) {
	r := check(t, Options{Output: OutputJSON}, "testdata/colocated.yaml")
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"results", "errors", "summary"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("top-level key %q missing", k)
		}
	}
	res := raw["results"].([]any)[0].(map[string]any)
	for _, k := range []string{"source", "line", "apiVersion", "kind", "namespace", "name", "policy", "violations", "patch", "generated"} {
		if _, ok := res[k]; !ok {
			t.Errorf("result key %q missing", k)
		}
	}
	v := res["violations"].([]any)[0].(map[string]any)
	want := map[string]any{
		"rule": "HostnameNodeSelector", "field": "spec.template.spec.nodeSelector[kubernetes.io/hostname]",
		"severity": "error", "line": float64(17),
	}
	for k, w := range want {
		if v[k] != w {
			t.Errorf("violation %s = %v, want %v", k, v[k], w)
		}
	}
	if msg := v["message"].(string); !strings.Contains(msg, "remove it") {
		t.Errorf("message states no fix: %q", msg)
	}
	gen := res["generated"].([]any)
	if len(gen) != 1 || gen[0].(map[string]any)["kind"] != "PodDisruptionBudget" {
		t.Errorf("generated = %v, want one PodDisruptionBudget", gen)
	}
	if _, hasStatus := gen[0].(map[string]any)["status"]; hasStatus {
		t.Error("a generated manifest carries status")
	}
}

func TestTextReport(t *testing.T) {
	r := check(t, Options{}, "testdata/colocated.yaml")
	want := "testdata/colocated.yaml:17: error: StatefulSet data/pinned: HostnameNodeSelector: spec.template.spec.nodeSelector[kubernetes.io/hostname]: a nodeSelector on kubernetes.io/hostname admits one node for 3 replicas"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("text report lacks the file:line, object, rule, field and message:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "change: StatefulSet data/pinned: add spec.template.spec.affinity") {
		t.Errorf("text report lacks the changes:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "exit 1") {
		t.Errorf("summary line missing:\n%s", r.stdout)
	}
}

// TestFix checks the fixed stream: every document in its order, untouched ones byte for byte,
// comments kept, a budget added only where the input has none, and the result compliant.
func TestFix(t *testing.T) {
	in := "testdata/colocated.yaml"
	r := check(t, Options{Fix: true}, in, "testdata/compliant.yaml")
	if !strings.Contains(r.stderr, "HostnameNodeSelector") || strings.Contains(r.stdout, "HostnameNodeSelector") {
		t.Fatalf("with --fix the report must go to stderr:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	compliant, _ := os.ReadFile("testdata/compliant.yaml")
	for _, doc := range strings.Split(string(compliant), "---\n") {
		if !strings.Contains(r.stdout, doc) {
			t.Errorf("an unchanged document was not copied byte for byte:\n%s", doc)
		}
	}
	if !strings.Contains(r.stdout, "# Source: team-db/templates/statefulset.yaml") {
		t.Error("the head comment of a changed document was lost")
	}
	var kinds []string
	stream.Read("fixed", []byte(r.stdout), func(d *stream.Document) error {
		kinds = append(kinds, d.Kind+"/"+d.Name)
		return nil
	})
	want := []string{"StatefulSet/pinned", "PodDisruptionBudget/pinned-stowage", "StatefulSet/ok", "PodDisruptionBudget/ok"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("documents of the fixed stream (-want +got):\n%s", diff)
	}

	// The fixed stream needs no further change.
	dir := t.TempDir()
	fixed := filepath.Join(dir, "fixed.yaml")
	if err := os.WriteFile(fixed, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, _ := jsonReport(t, Options{}, fixed)
	if rep.Summary.Changed != 0 || rep.Summary.Generated != 0 {
		t.Errorf("the fixed stream still needs %d changes and %d new objects", rep.Summary.Changed, rep.Summary.Generated)
	}
}

func TestFixKeepsBrokenDocuments(t *testing.T) {
	r := check(t, Options{Fix: true}, "testdata/broken.yaml")
	if !strings.Contains(r.stdout, "name: broken\n\tnamespace: data") {
		t.Errorf("--fix dropped a document it could not parse:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "name: before") {
		t.Error("--fix dropped the first document")
	}
}

func TestDiff(t *testing.T) {
	r := check(t, Options{Diff: true}, "testdata/colocated.yaml")
	for _, want := range []string{"--- a/testdata/colocated.yaml:2", "+++ b/testdata/colocated.yaml:2", "+        podAntiAffinity:", "+kind: PodDisruptionBudget"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("diff lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestSARIF(t *testing.T) {
	r := check(t, Options{Output: OutputSARIF, Version: "test"}, "testdata/colocated.yaml", "testdata/broken.yaml")
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Invocations []struct {
				ExecutionSuccessful        bool  `json:"executionSuccessful"`
				ToolExecutionNotifications []any `json:"toolExecutionNotifications"`
			} `json:"invocations"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				Level     string `json:"level"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
						Region           struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name != "stowage" {
		t.Fatalf("not a SARIF 2.1.0 log from stowage: %+v", log)
	}
	run := log.Runs[0]
	if len(run.Tool.Driver.Rules) != len(policy.Rules()) {
		t.Errorf("%d rules described, want %d", len(run.Tool.Driver.Rules), len(policy.Rules()))
	}
	if len(run.Results) != 1 || run.Results[0].RuleID != "HostnameNodeSelector" || run.Results[0].Level != "error" ||
		run.Results[0].Locations[0].PhysicalLocation.Region.StartLine != 17 {
		t.Errorf("results = %+v", run.Results)
	}
	if run.Invocations[0].ExecutionSuccessful || len(run.Invocations[0].ToolExecutionNotifications) != 2 {
		t.Errorf("input errors must be notifications of an unsuccessful run: %+v", run.Invocations)
	}
}

func TestJUnit(t *testing.T) {
	r := check(t, Options{Output: OutputJUnit}, "testdata/colocated.yaml", "testdata/compliant.yaml", "testdata/broken.yaml")
	var suites junitSuites
	if err := xml.Unmarshal([]byte(r.stdout), &suites); err != nil {
		t.Fatalf("not XML: %v\n%s", err, r.stdout)
	}
	if suites.Tests != 5 || suites.Failures != 1 || suites.Errors != 2 {
		t.Errorf("tests=%d failures=%d errors=%d, want 5, 1, 2\n%s", suites.Tests, suites.Failures, suites.Errors, r.stdout)
	}
}

func TestInputs(t *testing.T) {
	t.Run("a directory is read recursively, hidden entries and other extensions skipped", func(t *testing.T) {
		rep, _ := jsonReport(t, Options{}, "testdata/tree")
		if rep.Summary.Files != 2 || rep.Summary.Objects != 2 || rep.Summary.Evaluated != 1 {
			t.Errorf("summary = %+v, want 2 files, 2 objects, 1 evaluated", rep.Summary)
		}
	})
	t.Run("standard input", func(t *testing.T) {
		data, _ := os.ReadFile("testdata/colocated.yaml")
		rep, code := jsonReport(t, Options{Stdin: bytes.NewReader(data)}, "-")
		if code != ExitViolations || len(rep.Results) != 1 || rep.Results[0].Source != "-" {
			t.Errorf("exit %d, results %+v", code, rep.Results)
		}
	})
	t.Run("a JSON List: items are evaluated", func(t *testing.T) {
		rep, _ := jsonReport(t, Options{}, "testdata/list.json")
		if len(rep.Results) != 1 || rep.Results[0].Name != "listed" || rep.Results[0].Line != 6 {
			t.Errorf("results = %+v", rep.Results)
		}
	})
	t.Run("objects without a namespace take --namespace", func(t *testing.T) {
		rep, _ := jsonReport(t, Options{Namespace: "team-a"}, "testdata/tree/sub/b.yml", "testdata/tree/a.yaml")
		if rep.Results[0].Namespace != "data" {
			t.Errorf("an explicit namespace was overridden: %+v", rep.Results[0])
		}
	})
	t.Run("an empty directory is an input error", func(t *testing.T) {
		_, code := jsonReport(t, Options{}, t.TempDir())
		if code != ExitInputError {
			t.Errorf("exit %d, want 2", code)
		}
	})
}

func TestNodeAwareChecks(t *testing.T) {
	data, _ := os.ReadFile("testdata/nodes.yaml")
	var nodes []*corev1.Node
	stream.Read("nodes", data, func(d *stream.Document) error {
		n := &corev1.Node{}
		stream.Decode(d, n)
		nodes = append(nodes, n)
		return nil
	})
	rep, code := jsonReport(t, Options{Nodes: nodes, NodesKnown: true}, "testdata/compliant.yaml")
	if code != ExitViolations || len(rep.Results[0].Violations) != 1 || rep.Results[0].Violations[0].Rule != policy.RuleInsufficientEligibleNodes {
		t.Fatalf("3 replicas on 2 nodes: exit %d, %+v", code, rep.Results)
	}
	if !strings.Contains(rep.Results[0].Violations[0].Message, "only 2 eligible node(s)") {
		t.Errorf("message does not name the eligible nodes: %s", rep.Results[0].Violations[0].Message)
	}
}

func TestPolicySelectionUsesNamespacesInTheInput(t *testing.T) {
	dir := t.TempDir()
	manifest := `apiVersion: v1
kind: Namespace
metadata:
  name: data
  labels: {tier: relaxed}
`
	os.WriteFile(filepath.Join(dir, "ns.yaml"), []byte(manifest), 0o644)
	relaxed := loadPolicy(t, "testdata/warn-policy.yaml")
	relaxed.Spec.Priority = 10
	relaxed.Spec.NamespaceSelector = &v1alpha1.LabelSelector{MatchLabels: map[string]v1alpha1.LabelValue{"tier": "relaxed"}}
	set := policy.NewSet(policyfile.Default(), relaxed)
	rep, code := jsonReport(t, Options{Policies: set}, filepath.Join(dir, "ns.yaml"), "testdata/colocated.yaml")
	if code != ExitOK || rep.Results[0].Policy != "warn-only" {
		t.Errorf("the namespace's labels did not select the Warn policy: exit %d, %+v", code, rep.Results)
	}
}

func TestFieldPath(t *testing.T) {
	tests := map[string]string{
		"/spec/volumeClaimTemplates/0/spec/storageClassName": "spec.volumeClaimTemplates[0].spec.storageClassName",
		"/metadata/annotations/stowage.dev~1opt-out":         "metadata.annotations[stowage.dev/opt-out]",
		"/spec/template/spec/affinity":                       "spec.template.spec.affinity",
	}
	for in, want := range tests {
		if got := FieldPath(in); got != want {
			t.Errorf("FieldPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestCancelledRunReturns(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	data, _ := os.ReadFile("testdata/colocated.yaml")
	var paths []string
	for i := range 40 {
		p := filepath.Join(dir, fmt.Sprintf("f%02d.yaml", i))
		os.WriteFile(p, data, 0o644)
		paths = append(paths, p)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Options{Policies: policy.NewSet(policyfile.Default()), Workers: 1, Stdout: io.Discard, Stderr: io.Discard}, paths)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a cancelled run reported success")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled run never returned")
	}
}

// Budgets are judged by what they select, never by name (issue 10 item 12), a StatefulSet named
// by generateName gets no budget named "-stowage" (item 13), and the control plane's namespaces
// are skipped as the webhook skips them (item 7).
func TestBudgetsByWhatTheySelect(t *testing.T) {
	sts := func(name, app, extraMeta string) string {
		return `apiVersion: apps/v1
kind: StatefulSet
metadata:
  ` + name + `
  namespace: data` + extraMeta + `
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: ` + app + `}}
  template:
    metadata: {labels: {app: ` + app + `}}
    spec: {containers: [{name: db, image: db:1}]}
`
	}
	stale := `---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: db-stowage
  namespace: data
  labels: {app.kubernetes.io/managed-by: stowage}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: old}}
`
	inPlace := strings.Replace(stale, "app: old", "app: db", 1)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	generated := func(rep Report) []string {
		var names []string
		for _, r := range rep.Results {
			for _, g := range r.Generated {
				_, name := generatedName(g)
				names = append(names, name)
			}
		}
		return names
	}
	for _, tc := range []struct {
		name, input string
		want        []string
	}{
		{"a stale budget of Stowage's name that selects other pods → generated anyway", sts("name: db", "db", "") + stale, []string{"db-stowage"}},
		{"the same budget selecting the pods → in place, nothing generated", sts("name: db", "db", "") + inPlace, nil},
		{"generateName → no budget (the controller makes it once the name exists)", sts("generateName: db-", "db", ""), nil},
		{"kube-system → skipped", strings.Replace(sts("name: db", "db", ""), "namespace: data", "namespace: kube-system", 1), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, _ := jsonReport(t, Options{}, write(strings.ReplaceAll(tc.name[:10], " ", "-")+".yaml", tc.input))
			if diff := cmp.Diff(tc.want, generated(rep)); diff != "" {
				t.Errorf("generated (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("kube-system is reported as skipped", func(t *testing.T) {
		p := write("system.yaml", strings.Replace(sts("name: db", "db", ""), "namespace: data", "namespace: kube-system", 1))
		rep, code := jsonReport(t, Options{}, p)
		if code != ExitOK || len(rep.Results) != 1 || rep.Results[0].Skipped != "SystemNamespace" || rep.Results[0].Policy != "" {
			t.Errorf("code %d, results %+v", code, rep.Results)
		}
		if r := check(t, Options{}, p); !strings.Contains(r.stdout, "skipped: StatefulSet kube-system/db") {
			t.Errorf("text report: %s", r.stdout)
		}
	})
}
