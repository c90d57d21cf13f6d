package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/internal/testcorpus"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// staticCluster is a Cluster with fixed answers, for testing the adapter on its own.
type staticCluster struct {
	set   *policy.Set
	facts policy.Facts
	sts   *appsv1.StatefulSet
	// block makes Facts wait for the context, to test deadlines.
	block bool
	// panics makes Facts panic, to test recovery.
	panics bool
}

func (c *staticCluster) Policies() *policy.Set { return c.set }
func (c *staticCluster) NamespaceLabels(_ context.Context, ns string) (map[string]string, error) {
	return policy.NamespaceLabels(ns), nil
}
func (c *staticCluster) Facts(ctx context.Context, _ string, _ runtime.Object, _ Need) (policy.Facts, error) {
	if c.panics {
		panic("boom")
	}
	if c.block {
		<-ctx.Done()
		return policy.Facts{}, ctx.Err()
	}
	return c.facts, nil
}
func (c *staticCluster) StatefulSet(context.Context, string, string) (*appsv1.StatefulSet, error) {
	return c.sts, nil
}

func withPolicy(mods ...func(*v1alpha1.PlacementPolicySpec)) *staticCluster {
	p := policyfile.Default()
	for _, m := range mods {
		m(&p.Spec)
	}
	return &staticCluster{set: policy.NewSet(p)}
}

// galera is the corpus MariaDB Galera StatefulSet, as the API server would send it.
func galera(t testing.TB) *appsv1.StatefulSet {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testcorpus.Dir(t), "bitnami", "mariadb-galera.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var sts *appsv1.StatefulSet
	stream.Read("galera", data, func(d *stream.Document) error {
		if d.Kind == "StatefulSet" {
			sts = &appsv1.StatefulSet{}
			if _, err := stream.Decode(d, sts); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	return sts
}

func review(t testing.TB, op admissionv1.Operation, resource metav1.GroupVersionResource, sub string, obj, old runtime.Object) []byte {
	t.Helper()
	req := &admissionv1.AdmissionRequest{
		UID: types.UID("uid-42"), Operation: op, Resource: resource, SubResource: sub,
		Namespace: "data", Name: "galera-mariadb-galera",
	}
	if obj != nil {
		req.Object.Raw, _ = json.Marshal(obj)
	}
	if old != nil {
		req.OldObject.Raw, _ = json.Marshal(old)
	}
	data, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  req,
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func serve(t testing.TB, h *Handler, body []byte, contentType, query string) (*httptest.ResponseRecorder, *admissionv1.AdmissionResponse) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/x"+query, bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		return w, nil
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("response is not an AdmissionReview: %v\n%s", err, w.Body)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || out.Response == nil {
		t.Fatalf("bad review: %s", w.Body)
	}
	return w, out.Response
}

func newTestHandler(mode Mode, c Cluster) *Handler {
	return &Handler{Mode: mode, Admitter: &Admitter{Cluster: c}, Log: logr.Discard()}
}

func TestHandlerRejectsBadRequests(t *testing.T) {
	good := review(t, admissionv1.Create, statefulSetsGVR, "", galera(t), nil)
	v1beta1 := bytes.Replace(good, []byte(`"admission.k8s.io/v1"`), []byte(`"admission.k8s.io/v1beta1"`), 1)
	tests := []struct {
		name        string
		body        []byte
		contentType string
		method      string
		limit       int64
		want        int
		wantInBody  string
	}{
		{"truncated body → 400 naming the decode error", good[:len(good)/2], "application/json", http.MethodPost, 0, 400, "could not decode the AdmissionReview"},
		{"oversized body → 413", good, "application/json", http.MethodPost, 1024, 413, "over the 1024-byte limit"},
		{"wrong content type → 415", good, "application/yaml", http.MethodPost, 0, 415, "send application/json"},
		{"GET → 405", nil, "application/json", http.MethodGet, 0, 405, "POST"},
		{"v1beta1 review → 400 asking for v1", v1beta1, "application/json", http.MethodPost, 0, 400, "admissionReviewVersions: [v1]"},
		{"review without a request → 400", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), "application/json", http.MethodPost, 0, 400, "no request"},
		{"not JSON at all → 400", []byte("\x00\x01garbage"), "application/json", http.MethodPost, 0, 400, "could not decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHandler(Validating, withPolicy())
			h.MaxBodyBytes = tc.limit
			r := httptest.NewRequest(tc.method, "/validate", bytes.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.contentType)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want || !strings.Contains(w.Body.String(), tc.wantInBody) {
				t.Errorf("got %d %q, want %d containing %q", w.Code, w.Body.String(), tc.want, tc.wantInBody)
			}
		})
	}
}

func TestDeleteIsAllowedWithoutDecoding(t *testing.T) {
	body := review(t, admissionv1.Delete, statefulSetsGVR, "", nil, nil)
	body = bytes.Replace(body, []byte(`"name":"galera-mariadb-galera"`), []byte(`"name":"galera-mariadb-galera","oldObject":{"spec":"not a spec"}`), 1)
	for _, mode := range []Mode{Mutating, Validating} {
		_, resp := serve(t, newTestHandler(mode, withPolicy()), body, "application/json", "")
		if resp == nil || !resp.Allowed || resp.UID != "uid-42" {
			t.Errorf("%s: DELETE not allowed as is: %+v", mode, resp)
		}
	}
}

func TestMutateReturnsTheEnginesPatch(t *testing.T) {
	sts := galera(t)
	_, resp := serve(t, newTestHandler(Mutating, withPolicy()), review(t, admissionv1.Create, statefulSetsGVR, "", sts, nil), "application/json; charset=utf-8", "?timeout=10s")
	if resp == nil || !resp.Allowed || resp.UID != "uid-42" || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("response = %+v", resp)
	}
	patch, err := jsonpatch5.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(sts)
	out, err := patch.Apply(in)
	if err != nil {
		t.Fatal(err)
	}
	// The patched object is what the engine itself would produce, and needs nothing more.
	res, _ := policy.Evaluate(policy.Request{Operation: policy.Create, Object: sts}, policyfile.Default(), policy.Facts{})
	want, _ := json.Marshal(res.Object)
	if !jsonpatch5.Equal(out, want) {
		t.Fatalf("patched object differs from the engine's")
	}
	patched := &appsv1.StatefulSet{}
	json.Unmarshal(out, patched)
	_, again := serve(t, newTestHandler(Mutating, withPolicy()), review(t, admissionv1.Create, statefulSetsGVR, "", patched, nil), "application/json", "")
	if len(again.Patch) != 0 {
		t.Errorf("second mutation patched again: %s", again.Patch)
	}
}

func TestMutateOnUpdateKeepsWhatStowageAdded(t *testing.T) {
	res, _ := policy.Evaluate(policy.Request{Operation: policy.Create, Object: galera(t)}, policyfile.Default(), policy.Facts{})
	stored := res.StatefulSet()
	_, resp := serve(t, newTestHandler(Mutating, withPolicy()), review(t, admissionv1.Update, statefulSetsGVR, "", stored, stored), "application/json", "")
	if !resp.Allowed || resp.Patch != nil {
		t.Fatalf("an unchanged UPDATE was mutated: %+v", resp)
	}
	reapplied := stored.DeepCopy()
	reapplied.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = nil
	_, resp = serve(t, newTestHandler(Mutating, withPolicy()), review(t, admissionv1.Update, statefulSetsGVR, "", reapplied, stored), "application/json", "")
	if string(resp.Patch) != `[{"op":"add","path":"/spec/volumeClaimTemplates/0/spec/storageClassName","value":"openebs-hostpath"}]` {
		t.Fatalf("patch = %s", resp.Patch)
	}
	// An update that drops Stowage's anti-affinity (helm's null, a replace) gets it back, exactly
	// as stored, and the validating endpoint then admits it.
	weakened := stored.DeepCopy()
	weakened.Spec.Template.Spec.Affinity = nil
	_, resp = serve(t, newTestHandler(Mutating, withPolicy()), review(t, admissionv1.Update, statefulSetsGVR, "", weakened, stored), "application/json", "")
	patch, err := jsonpatch5.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatalf("patch %s: %v", resp.Patch, err)
	}
	in, _ := json.Marshal(weakened)
	out, err := patch.Apply(in)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(stored)
	if !jsonpatch5.Equal(out, want) {
		t.Fatalf("the kept object is not the stored one:\n%s\n%s", out, want)
	}
	kept := &appsv1.StatefulSet{}
	if err := json.Unmarshal(out, kept); err != nil {
		t.Fatal(err)
	}
	_, resp = serve(t, newTestHandler(Validating, withPolicy()), review(t, admissionv1.Update, statefulSetsGVR, "", kept, stored), "application/json", "")
	if !resp.Allowed {
		t.Fatalf("the kept object was denied: %+v", resp.Result)
	}
	// Without the mutating webhook (it fails open), the validating one denies and says why.
	_, resp = serve(t, newTestHandler(Validating, withPolicy()), review(t, admissionv1.Update, statefulSetsGVR, "", weakened, stored), "application/json", "")
	if resp.Allowed || !strings.Contains(resp.Result.Message, "mutating webhook did not run") {
		t.Fatalf("removing the anti-affinity without the mutating webhook: %+v", resp.Result)
	}
}

func pinned(t testing.TB) *appsv1.StatefulSet {
	sts := galera(t)
	res, _ := policy.Evaluate(policy.Request{Operation: policy.Create, Object: sts}, policyfile.Default(), policy.Facts{})
	out := res.StatefulSet()
	out.Spec.Template.Spec.NodeSelector = map[string]string{corev1.LabelHostname: "worker-1"}
	return out
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name         string
		cluster      *staticCluster
		obj          *appsv1.StatefulSet
		wantAllowed  bool
		wantCause    string
		wantWarnings int
	}{
		{"co-locating StatefulSet under Deny → denied, cause names the field", withPolicy(), pinned(t), false, "spec.template.spec.nodeSelector[kubernetes.io/hostname]", 0},
		{"under Warn → allowed with a warning", withPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.EnforcementAction = v1alpha1.Warn }), pinned(t), true, "", 1},
		{"under Audit → allowed silently", withPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.EnforcementAction = v1alpha1.Audit }), pinned(t), true, "", 0},
		{"no policies → allowed unchanged", &staticCluster{set: policy.NewSet()}, pinned(t), true, "", 0},
		{"the mutating webhook was skipped → the missing anti-affinity is denied", withPolicy(), galera(t), false, "spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, resp := serve(t, newTestHandler(Validating, tc.cluster), review(t, admissionv1.Create, statefulSetsGVR, "", tc.obj, nil), "application/json", "")
			if resp.Allowed != tc.wantAllowed || resp.UID != "uid-42" {
				t.Fatalf("allowed = %v, want %v: %+v", resp.Allowed, tc.wantAllowed, resp.Result)
			}
			if len(resp.Warnings) != tc.wantWarnings {
				t.Errorf("warnings = %q, want %d", resp.Warnings, tc.wantWarnings)
			}
			if tc.wantCause == "" {
				return
			}
			if resp.Result == nil || resp.Result.Code != 422 || resp.Result.Reason != metav1.StatusReasonInvalid || resp.Result.Details == nil {
				t.Fatalf("denial is not an Invalid status: %+v", resp.Result)
			}
			found := false
			for _, c := range resp.Result.Details.Causes {
				if c.Field == tc.wantCause && strings.Contains(c.Message, "stowage rule") {
					found = true
				}
			}
			if !found {
				t.Errorf("no cause for %s: %+v", tc.wantCause, resp.Result.Details.Causes)
			}
			if resp.Result.Details.Kind != "StatefulSet" || resp.Result.Details.Group != "apps" {
				t.Errorf("details name %s.%s", resp.Result.Details.Kind, resp.Result.Details.Group)
			}
		})
	}
}

func TestValidateScale(t *testing.T) {
	res, _ := policy.Evaluate(policy.Request{Operation: policy.Create, Object: galera(t)}, policyfile.Default(), policy.Facts{})
	stored := res.StatefulSet()
	c := withPolicy()
	c.sts = stored
	c.facts = policy.Facts{NodesKnown: true, Nodes: []*corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{corev1.LabelHostname: "a"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{corev1.LabelHostname: "b"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "c", Labels: map[string]string{corev1.LabelHostname: "c"}}},
	}}
	scale := func(n int32) *autoscalingv1.Scale {
		return &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: stored.Name, Namespace: "data"}, Spec: autoscalingv1.ScaleSpec{Replicas: n}}
	}
	_, resp := serve(t, newTestHandler(Validating, c), review(t, admissionv1.Update, statefulSetsGVR, "scale", scale(4), scale(3)), "application/json", "")
	if resp.Allowed || resp.Result.Details.Causes[0].Field != "spec.replicas" || !strings.Contains(resp.Result.Details.Causes[0].Message, "only 3 eligible") {
		t.Fatalf("scale 3 → 4 on 3 nodes: %+v", resp.Result)
	}
	_, resp = serve(t, newTestHandler(Validating, c), review(t, admissionv1.Update, statefulSetsGVR, "scale", scale(2), scale(3)), "application/json", "")
	if !resp.Allowed {
		t.Fatalf("scale down denied: %+v", resp.Result)
	}
}

func TestPanicGivesACleanError(t *testing.T) {
	c := withPolicy()
	c.panics = true
	w, resp := serve(t, newTestHandler(Validating, c), review(t, admissionv1.Create, statefulSetsGVR, "", galera(t), nil), "application/json", "")
	if w.Code != 200 || resp == nil || resp.Allowed || resp.UID != "uid-42" || !strings.Contains(resp.Result.Message, "internal error") {
		t.Fatalf("validating: code %d, response %+v", w.Code, resp)
	}
	// The mutating endpoint never rejects, not even on a panic: it admits unchanged and warns.
	w, resp = serve(t, newTestHandler(Mutating, c), review(t, admissionv1.Create, statefulSetsGVR, "", galera(t), nil), "application/json", "")
	if w.Code != 200 || resp == nil || !resp.Allowed || resp.Patch != nil || resp.UID != "uid-42" || len(resp.Warnings) != 1 {
		t.Fatalf("mutating: code %d, response %+v", w.Code, resp)
	}
}

func TestTimeoutIsHonoured(t *testing.T) {
	c := withPolicy()
	c.block = true
	start := time.Now()
	_, resp := serve(t, newTestHandler(Validating, c), review(t, admissionv1.Create, statefulSetsGVR, "", galera(t), nil), "application/json", "?timeout=100ms")
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("answered after %s", took)
	}
	if resp.Allowed || resp.Result.Code != http.StatusGatewayTimeout {
		t.Fatalf("response = %+v", resp.Result)
	}
	_, resp = serve(t, newTestHandler(Mutating, c), review(t, admissionv1.Create, statefulSetsGVR, "", galera(t), nil), "application/json", "?timeout=100ms")
	if !resp.Allowed || resp.Patch != nil {
		t.Fatalf("the mutating endpoint rejected on a timeout: %+v", resp)
	}
}

func TestUnexpectedKindIsAllowedWithAWarning(t *testing.T) {
	deploy := metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	_, resp := serve(t, newTestHandler(Validating, withPolicy()), review(t, admissionv1.Create, deploy, "", &appsv1.Deployment{}, nil), "application/json", "")
	if !resp.Allowed || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "webhook configuration") {
		t.Fatalf("response = %+v", resp)
	}
}

func TestClaims(t *testing.T) {
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "scratch"}, Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}}}
	_, resp := serve(t, newTestHandler(Mutating, withPolicy()), review(t, admissionv1.Create, claimsGVR, "", claim, nil), "application/json", "")
	if string(resp.Patch) != `[{"op":"add","path":"/spec/storageClassName","value":"openebs-hostpath"}]` {
		t.Fatalf("claim patch = %s", resp.Patch)
	}
}

func statefulSetsIn(t testing.TB, path string) []*appsv1.StatefulSet {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*appsv1.StatefulSet
	stream.Read(path, data, func(d *stream.Document) error {
		if d.Kind == "StatefulSet" {
			s := &appsv1.StatefulSet{}
			if _, err := stream.Decode(d, s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return nil
	})
	return out
}

func TestValidateBudgets(t *testing.T) {
	sts := galera(t)
	sts.Namespace = "data"
	loose := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "galera", Namespace: "data"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromString("100%")),
			Selector:       sts.Spec.Selector.DeepCopy(),
		},
	}
	good := loose.DeepCopy()
	good.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(1))
	c := withPolicy()
	c.facts = policy.Facts{StatefulSets: []*appsv1.StatefulSet{sts}}

	_, resp := serve(t, newTestHandler(Validating, c), review(t, admissionv1.Create, budgetsGVR, "", loose, nil), "application/json", "")
	if resp.Allowed || resp.Result == nil || resp.Result.Details == nil || resp.Result.Details.Kind != "PodDisruptionBudget" ||
		len(resp.Result.Details.Causes) != 1 || resp.Result.Details.Causes[0].Field != "spec.maxUnavailable" ||
		!strings.Contains(resp.Result.Details.Causes[0].Message, "DisruptionBudgetTooLoose") {
		t.Errorf("a 100%% budget over a policed StatefulSet's pods: %+v", resp.Result)
	}
	_, resp = serve(t, newTestHandler(Validating, c), review(t, admissionv1.Create, budgetsGVR, "", good, nil), "application/json", "")
	if !resp.Allowed {
		t.Errorf("maxUnavailable 1 was denied: %+v", resp.Result)
	}
	_, resp = serve(t, newTestHandler(Mutating, c), review(t, admissionv1.Create, budgetsGVR, "", loose, nil), "application/json", "")
	if !resp.Allowed || len(resp.Patch) > 0 {
		t.Errorf("the mutating endpoint touched a budget: %+v", resp)
	}
}

// An update that only drops what Stowage stored comes back, after the mutating webhook, equal to
// the stored object but for the managedFields the API server re-stamped before admission: the
// stored ones are put back so that the API server writes nothing (no new resourceVersion). An
// update that changes anything else keeps the API server's record.
func TestMutateOnANoOpUpdateKeepsTheStoredManagedFields(t *testing.T) {
	res, _ := policy.Evaluate(policy.Request{Operation: policy.Create, Object: galera(t)}, policyfile.Default(), policy.Facts{})
	stored := res.StatefulSet()
	t0, t1 := metav1.NewTime(time.Unix(1_700_000_000, 0)), metav1.NewTime(time.Unix(1_700_000_060, 0))
	stored.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "helm", Operation: metav1.ManagedFieldsOperationUpdate,
		APIVersion: "apps/v1", Time: &t0, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:template":{"f:spec":{"f:affinity":{}}}}}`)}}}
	restamped := []metav1.ManagedFieldsEntry{{Manager: "helm", Operation: metav1.ManagedFieldsOperationUpdate,
		APIVersion: "apps/v1", Time: &t1, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:template":{"f:spec":{}}}}`)}}}

	apply := func(in *appsv1.StatefulSet) *appsv1.StatefulSet {
		t.Helper()
		_, resp := serve(t, newTestHandler(Mutating, withPolicy()), review(t, admissionv1.Update, statefulSetsGVR, "", in, stored), "application/json", "")
		patch, err := jsonpatch5.DecodePatch(resp.Patch)
		if err != nil {
			t.Fatalf("patch %s: %v", resp.Patch, err)
		}
		data, _ := json.Marshal(in)
		out, err := patch.Apply(data)
		if err != nil {
			t.Fatal(err)
		}
		got := &appsv1.StatefulSet{}
		if err := json.Unmarshal(out, got); err != nil {
			t.Fatal(err)
		}
		return got
	}

	noop := stored.DeepCopy()
	noop.Spec.Template.Spec.Affinity = nil
	noop.ManagedFields = restamped
	if got := apply(noop); !apiequality.Semantic.DeepEqual(got, stored) {
		t.Errorf("a no-op update did not come back as the stored object: managedFields %+v", got.ManagedFields)
	}

	bump := noop.DeepCopy()
	bump.Spec.Template.Spec.Containers[0].Image = "mariadb:12"
	got := apply(bump)
	if !apiequality.Semantic.DeepEqual(got.ManagedFields, restamped) {
		t.Errorf("an image change lost the API server's managedFields: %+v", got.ManagedFields)
	}
	if got.Spec.Template.Spec.Affinity == nil {
		t.Error("the term was not put back on an image change")
	}
}
