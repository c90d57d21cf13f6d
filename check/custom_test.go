package check

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// kube-prometheus-stack's Prometheus and Alertmanager are judged as the StatefulSets
// prometheus-operator makes of them, and fixed at their own fields: `check` reports them instead
// of "0 evaluated", and the fixed stream needs no further change.
func TestOperatorCustomResources(t *testing.T) {
	in := "testdata/operators/kube-prometheus-stack.yaml"
	rep, code := jsonReport(t, Options{}, in)
	if code != ExitOK {
		t.Errorf("exit %d, want %d", code, ExitOK)
	}
	if rep.Summary.Objects != 3 || rep.Summary.Evaluated != 2 || rep.Summary.Changed != 2 || rep.Summary.Generated != 2 {
		t.Errorf("summary %+v: want 3 objects, 2 evaluated, 2 changed, 2 generated", rep.Summary)
	}
	type change struct{ kind, op, path string }
	var got []change
	budgets := map[string]string{}
	for _, r := range rep.Results {
		for _, op := range r.Patch {
			got = append(got, change{r.Kind, op.Operation, op.Path})
		}
		for _, g := range r.Generated {
			m := g.(map[string]any)
			sel := m["spec"].(map[string]any)["selector"].(map[string]any)["matchLabels"].(map[string]any)
			budgets[r.Kind] = m["metadata"].(map[string]any)["name"].(string) + " selects " + sel["app.kubernetes.io/name"].(string) + "/" + sel["app.kubernetes.io/instance"].(string)
		}
	}
	want := []change{
		{"Alertmanager", "add", "/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution"},
		{"Alertmanager", "add", "/spec/storage/volumeClaimTemplate/spec/storageClassName"},
		{"Alertmanager", "add", "/spec/topologySpreadConstraints"},
		{"Prometheus", "add", "/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution"},
		{"Prometheus", "add", "/spec/storage/volumeClaimTemplate/spec/storageClassName"},
		{"Prometheus", "add", "/spec/topologySpreadConstraints"},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(change{})); diff != "" {
		t.Errorf("patches at the resources' fields (-want +got):\n%s", diff)
	}
	wantBudgets := map[string]string{
		"Alertmanager": "alertmanager-kps-kube-prometheus-stack-alertmanager-stowage selects alertmanager/kps-kube-prometheus-stack-alertmanager",
		"Prometheus":   "prometheus-kps-kube-prometheus-stack-prometheus-stowage selects prometheus/kps-kube-prometheus-stack-prometheus",
	}
	if diff := cmp.Diff(wantBudgets, budgets); diff != "" {
		t.Errorf("generated budgets (-want +got):\n%s", diff)
	}

	// --fix writes the fields into the resources; checked again, they need nothing more.
	r := check(t, Options{Fix: true}, in)
	if !strings.Contains(r.stdout, "kind: ServiceMonitor") || !strings.Contains(r.stdout, "storageClassName: openebs-hostpath") {
		t.Fatalf("fixed stream:\n%s", r.stdout)
	}
	fixed := filepath.Join(t.TempDir(), "fixed.yaml")
	if err := os.WriteFile(fixed, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	again, _ := jsonReport(t, Options{}, fixed)
	if again.Summary.Evaluated != 2 || again.Summary.Changed != 0 || again.Summary.Generated != 0 {
		t.Errorf("the fixed stream still needs changes: %+v\n%s", again.Summary, r.stdout)
	}
}

// A finding Stowage cannot fix is reported at the resource's field and line.
func TestOperatorCustomResourceViolationAtItsField(t *testing.T) {
	in := filepath.Join(t.TempDir(), "pinned.yaml")
	doc := `apiVersion: monitoring.coreos.com/v1
kind: Alertmanager
metadata:
  name: main
  namespace: monitoring
spec:
  replicas: 3
  nodeSelector:
    kubernetes.io/hostname: node-1
`
	if err := os.WriteFile(in, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, code := jsonReport(t, Options{}, in)
	if code != ExitViolations {
		t.Errorf("exit %d, want %d", code, ExitViolations)
	}
	if len(rep.Results) != 1 {
		t.Fatalf("results: %+v", rep.Results)
	}
	var fields []string
	for _, v := range rep.Results[0].Violations {
		fields = append(fields, v.Field+"@"+string(v.Rule)+":"+strconv.Itoa(v.Line))
	}
	if diff := cmp.Diff([]string{"spec.nodeSelector[kubernetes.io/hostname]@HostnameNodeSelector:9"}, fields); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}

// ThanosRuler, the third prometheus-operator row: the same fixes at its fields, and a budget
// over the labels the operator gives its pods.
func TestOperatorThanosRuler(t *testing.T) {
	rep, _ := jsonReport(t, Options{}, "testdata/operators/thanos-ruler.yaml")
	if rep.Summary.Evaluated != 1 || len(rep.Results) != 1 {
		t.Fatalf("summary %+v", rep.Summary)
	}
	var got []string
	for _, op := range rep.Results[0].Patch {
		got = append(got, op.Operation+" "+op.Path)
	}
	want := []string{
		"add /spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution",
		"add /spec/storage/volumeClaimTemplate/spec/storageClassName",
		"add /spec/topologySpreadConstraints",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
	if len(rep.Results[0].Generated) != 1 {
		t.Fatalf("generated: %v", rep.Results[0].Generated)
	}
	pdb := rep.Results[0].Generated[0].(map[string]any)
	sel := pdb["spec"].(map[string]any)["selector"].(map[string]any)["matchLabels"].(map[string]any)
	if sel["thanos-ruler"] != "kps-thanos-ruler" || sel["app.kubernetes.io/name"] != "thanos-ruler" || pdb["metadata"].(map[string]any)["name"] != "thanos-ruler-kps-thanos-ruler-stowage" {
		t.Errorf("budget: %v", pdb)
	}
}

// ECK: a finding in one node set is reported at that node set's field and line.
func TestOperatorElasticsearchViolationPerNodeSet(t *testing.T) {
	in := filepath.Join(t.TempDir(), "es.yaml")
	doc := `apiVersion: elasticsearch.k8s.elastic.co/v1
kind: Elasticsearch
metadata:
  name: es
  namespace: search
spec:
  version: 9.1.3
  nodeSets:
  - name: masters
    count: 3
  - name: data
    count: 2
    podTemplate:
      spec:
        containers: []
        nodeSelector:
          kubernetes.io/hostname: node-1
`
	if err := os.WriteFile(in, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, code := jsonReport(t, Options{}, in)
	if code != ExitViolations || len(rep.Results) != 1 {
		t.Fatalf("exit %d, results %+v", code, rep.Results)
	}
	var fields []string
	for _, v := range rep.Results[0].Violations {
		fields = append(fields, v.Field+"@"+string(v.Rule)+":"+strconv.Itoa(v.Line))
	}
	if diff := cmp.Diff([]string{"spec.nodeSets[1].podTemplate.spec.nodeSelector[kubernetes.io/hostname]@HostnameNodeSelector:17"}, fields); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}
