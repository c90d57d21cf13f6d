package webhook

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/stowage-dev/stowage/internal/operatorcr"
	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// threeNodes is a cluster of nodes a, b and c under the default policy.
func threeNodes(mods ...func(*v1alpha1.PlacementPolicySpec)) *staticCluster {
	c := withPolicy(mods...)
	c.facts = policy.Facts{NodesKnown: true}
	for _, n := range []string{"a", "b", "c"} {
		c.facts.Nodes = append(c.facts.Nodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{corev1.LabelHostname: n}}})
	}
	return c
}

// crReview builds the AdmissionReview the API server sends for an operator resource given as
// YAML (old is "" on CREATE).
func crReview(t testing.TB, op admissionv1.Operation, obj, old string) []byte {
	t.Helper()
	toRaw := func(doc string) (runtime []byte, m map[string]any) {
		data, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(data, &m)
		return data, m
	}
	raw, m := toRaw(obj)
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	k := operatorcr.Lookup(apiVersion, kind)
	if k == nil {
		t.Fatalf("%s %s is not in the table", apiVersion, kind)
	}
	meta, _ := m["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	req := &admissionv1.AdmissionRequest{
		UID:       types.UID("cr-1"),
		Kind:      metav1.GroupVersionKind{Group: k.Group, Version: k.Versions[0], Kind: k.Kind},
		Resource:  metav1.GroupVersionResource{Group: k.Group, Version: k.Versions[0], Resource: k.Resource()},
		Operation: op, Namespace: "monitoring", Name: name,
	}
	req.Object.Raw = raw
	if old != "" {
		req.OldObject.Raw, _ = toRaw(old)
	}
	data, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: req})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// validateCR sends a review to the validating endpoint and checks what every answer about an
// operator resource must be: allowed, unchanged, the UID echoed.
func validateCR(t *testing.T, c Cluster, body []byte) []string {
	t.Helper()
	w, resp := serve(t, newTestHandler(Validating, c), body, "application/json", "?timeout=10s")
	if resp == nil {
		t.Fatalf("answered %d: %s", w.Code, w.Body)
	}
	var in admissionv1.AdmissionReview
	json.Unmarshal(body, &in)
	if !resp.Allowed || resp.Result != nil || resp.Patch != nil || resp.UID != in.Request.UID {
		t.Fatalf("an operator resource must be allowed unchanged with its UID echoed, got %s", w.Body)
	}
	return resp.Warnings
}

const promCR = `
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec:
  replicas: 2
  storage: {volumeClaimTemplate: {spec: {storageClassName: openebs-hostpath, resources: {requests: {storage: 5Gi}}}}}
`

// The raw reviews of testdata/reviews, as the API server sends them for operator resources:
// a resource Stowage would fix or reject gets warnings at its own fields; a compliant one none.
func TestCustomResourceReviews(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // each a prefix of one warning, in order
		has  []string // substrings of the warnings
	}{
		{file: "create-prometheus.json",
			want: []string{
				"spec.affinity: ",
				"spec.topologySpreadConstraints: ",
				"spec.storage.volumeClaimTemplate.spec: ",
			},
			has: []string{
				"Stowage makes this change at spec.template.spec.affinity of the StatefulSet prometheus-k8s when prometheus-operator creates it",
				`to say so in the Prometheus, set spec.affinity to {"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[`,
				"[stowage rule AntiAffinityMissing, policy default]",
				`"storageClassName":"openebs-hostpath"`,
			}},
		{file: "create-alertmanager.json",
			want: []string{
				"spec.affinity: ",
				"spec.topologySpreadConstraints: ",
				"spec.replicas: 3 replicas need 3 distinct kubernetes.io/hostname values",
				"spec.nodeSelector[kubernetes.io/hostname]: ",
			},
			has: []string{
				"[stowage rule InsufficientEligibleNodes, policy default]",
				"Stowage will reject the StatefulSet alertmanager-main that prometheus-operator makes from this Alertmanager until it is fixed",
				"[stowage rule HostnameNodeSelector, policy default]",
			}},
		{file: "create-prometheus-compliant.json"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "reviews", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got := validateCR(t, threeNodes(), body)
			if len(got) != len(tc.want) {
				t.Fatalf("%d warnings, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("warning %d does not start with %q:\n%s", i, w, got[i])
				}
			}
			all := strings.Join(got, "\n")
			for _, s := range tc.has {
				if !strings.Contains(all, s) {
					t.Errorf("no warning says %q:\n%s", s, all)
				}
			}
			for _, w := range got {
				if n := len([]rune(w)); n > maxValueRunes+400 {
					t.Errorf("warning of %d runes: %s", n, w)
				}
			}
		})
	}
}

// What a warning tells the user to write is what Stowage does to the StatefulSet: written into
// the resource, it leaves nothing to fix.
func TestCustomResourceWarningsSayTheFix(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "reviews", "create-prometheus.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &rv); err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	json.Unmarshal(rv.Request.Object.Raw, &obj)
	for _, w := range validateCR(t, threeNodes(), body) {
		path, rest, _ := strings.Cut(w, ": ")
		_, value, ok := strings.Cut(rest, "to say so in the Prometheus, set "+path+" to ")
		if !ok {
			t.Fatalf("no value to set in %q", w)
		}
		var v any
		if err := json.Unmarshal([]byte(value), &v); err != nil {
			t.Fatalf("value of %s is not JSON: %v", path, err)
		}
		cur := obj
		steps := strings.Split(path, ".")
		for _, s := range steps[:len(steps)-1] {
			next, _ := cur[s].(map[string]any)
			if next == nil {
				next = map[string]any{}
				cur[s] = next
			}
			cur = next
		}
		cur[steps[len(steps)-1]] = v
	}
	rv.Request.Object.Raw, _ = json.Marshal(obj)
	fixed, _ := json.Marshal(rv)
	if got := validateCR(t, threeNodes(), fixed); len(got) != 0 {
		t.Errorf("the resource written as the warnings say still gets warnings:\n%s", strings.Join(got, "\n"))
	}
}

func TestCustomResourceNeverDenied(t *testing.T) {
	pinned := strings.Replace(promCR, "replicas: 2", "replicas: 2\n  nodeSelector: {kubernetes.io/hostname: a}", 1)
	for _, tc := range []struct {
		name    string
		cluster *staticCluster
		body    []byte
		want    []string // substrings of the warnings, in order; none when empty
	}{
		{"pinned to one hostname under a Deny policy → allowed, warned that the StatefulSet will be rejected", threeNodes(),
			crReview(t, admissionv1.Create, pinned, ""),
			[]string{"spec.affinity: ", "spec.topologySpreadConstraints: ", "spec.nodeSelector[kubernetes.io/hostname]: ", "Stowage will reject the StatefulSet prometheus-k8s"}},
		{"pinned under an Audit policy → allowed, no warnings (the audit reports)",
			threeNodes(func(s *v1alpha1.PlacementPolicySpec) { s.EnforcementAction = v1alpha1.Audit }),
			crReview(t, admissionv1.Create, pinned, ""), nil},
		{"replicas is a string → allowed, says it could not be read", threeNodes(),
			crReview(t, admissionv1.Create, strings.Replace(promCR, "replicas: 2", `replicas: "two"`, 1), ""),
			[]string{"stowage could not read this Prometheus: spec.replicas"}},
		{"metadata is a string → allowed, says it could not be read", threeNodes(),
			crReview(t, admissionv1.Create, strings.Replace(promCR, "metadata: {name: k8s, namespace: monitoring}", "metadata: x", 1), ""),
			[]string{"stowage could not read this Prometheus: metadata: must be an object"}},
		{"claim template is a list → allowed, says which field", threeNodes(),
			crReview(t, admissionv1.Create, "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: k8s}\nspec: {storage: {volumeClaimTemplate: [a]}}\n", ""),
			[]string{"stowage could not read this Prometheus: spec.storage.volumeClaimTemplate"}},
		{"object is null → allowed, says so", threeNodes(),
			[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"monitoring.coreos.com","version":"v1","kind":"Prometheus"},"resource":{"group":"monitoring.coreos.com","version":"v1","resource":"prometheuses"},"operation":"CREATE","object":null}}`),
			[]string{"stowage could not read this Prometheus: the request carries no object"}},
		{"being deleted → allowed, not judged", threeNodes(),
			crReview(t, admissionv1.Update, strings.Replace(pinned, "namespace: monitoring}", "namespace: monitoring, deletionTimestamp: '2026-12-02T15:00:00Z'}", 1), pinned), nil},
		{"facts panic → allowed with a warning, where a StatefulSet would be denied", func() *staticCluster { c := threeNodes(); c.panics = true; return c }(),
			crReview(t, admissionv1.Create, promCR, ""), []string{"stowage hit an internal error"}},
		{"no policy selects it → allowed, no warnings", &staticCluster{set: policy.NewSet()},
			crReview(t, admissionv1.Create, pinned, ""), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := validateCR(t, tc.cluster, tc.body)
			warnsInOrder(t, got, tc.want)
		})
	}
}

// A timeout answers an operator resource with an admission, not the validating endpoint's
// usual failure.
func TestCustomResourceTimeoutAdmits(t *testing.T) {
	c := threeNodes()
	c.block = true
	_, resp := serve(t, newTestHandler(Validating, c), crReview(t, admissionv1.Create, promCR, ""), "application/json", "?timeout=50ms")
	if resp == nil || !resp.Allowed || len(resp.Warnings) == 0 || !strings.Contains(resp.Warnings[0], "timeout") {
		t.Fatalf("want allowed with a timeout warning, got %+v", resp)
	}
}

// On UPDATE only what the change newly breaks is warned about, as Stowage will judge the
// operator's update of its StatefulSet.
func TestCustomResourceUpdate(t *testing.T) {
	with := func(repl string) string { return strings.Replace(promCR, "replicas: 2", repl, 1) }
	pinned := with("replicas: 2\n  nodeSelector: {kubernetes.io/hostname: a}")
	for _, tc := range []struct {
		name     string
		obj, old string
		want     []string
	}{
		{"nothing changes in the spec → no warnings", promCR, promCR, nil},
		{"a field Stowage also fixes is left as it was (no affinity) → no warnings", with("replicas: 3"), promCR, nil},
		{"scaled past the eligible nodes → warned that the operator's update will be rejected", with("replicas: 5"), promCR,
			[]string{"spec.replicas: ", "Stowage will reject prometheus-operator's update of the StatefulSet prometheus-k8s"}},
		{"pinned to a hostname by this change → warned", pinned, promCR,
			[]string{"spec.nodeSelector[kubernetes.io/hostname]: ", "Stowage will reject prometheus-operator's update"}},
		{"already pinned, other fields change → no warnings (said at CREATE)", strings.Replace(pinned, "5Gi", "6Gi", 1), pinned, nil},
		{"the stored resource cannot be read → judged as new", pinned, strings.Replace(promCR, "replicas: 2", `replicas: "x"`, 1),
			[]string{"judged as if it were new", "spec.nodeSelector[kubernetes.io/hostname]: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := validateCR(t, threeNodes(), crReview(t, admissionv1.Update, tc.obj, tc.old))
			warnsInOrder(t, got, tc.want)
		})
	}
}

// warnsInOrder checks that the warnings say each of want, in order, and that there are none
// when want is empty.
func warnsInOrder(t *testing.T, got, want []string) {
	t.Helper()
	all := strings.Join(got, "\n")
	if len(want) == 0 && len(got) > 0 {
		t.Fatalf("want no warnings, got:\n%s", all)
	}
	at := 0
	for _, s := range want {
		i := strings.Index(all[at:], s)
		if i < 0 {
			t.Fatalf("no warning says %q after position %d:\n%s", s, at, all)
		}
		at += i + len(s)
	}
}

// The warnings of one answer stay within what the API server passes on whole, and say how
// many were left out.
func TestWarningsBudget(t *testing.T) {
	w := &warnings{}
	long := strings.Repeat("x", 1000)
	for range 5 {
		w.add(long)
	}
	got := w.list(&operatorcr.Kinds[0])
	want := []string{long, long, long, "... and 2 more; run `stowage check` on the Prometheus's manifest for all of them"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	total := 0
	for _, s := range got {
		total += len([]rune(s))
	}
	if total > 4096 {
		t.Errorf("%d runes of warnings, over the API server's 4096", total)
	}
}

// Every operator resource of check's fixtures (each operator of the table) goes through the
// validating endpoint as a CREATE: admitted unchanged, whatever it holds.
func TestCustomResourceFixturesAdmitted(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "check", "testdata", "operators", "*.yaml"))
	seen := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stream.Read(f, data, func(d *stream.Document) error {
			if operatorcr.Lookup(d.APIVersion, d.Kind) == nil {
				return nil
			}
			seen[d.Kind] = true
			j, err := stream.ToJSON(nil, d.Node)
			if err != nil {
				t.Fatalf("%s:%d: %v", f, d.Line, err)
			}
			validateCR(t, threeNodes(), crReview(t, admissionv1.Create, string(j), ""))
			return nil
		})
	}
	for _, k := range operatorcr.Kinds {
		if !seen[k.Kind] {
			t.Errorf("no fixture of %s in check/testdata/operators", k.Kind)
		}
	}
}
