package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/policy"
)

// TestRawReviewFixtures replays raw AdmissionReview bodies from testdata/reviews, as the API
// server sends them, through both endpoints. UPDATE_GOLDEN=1 regenerates the fixtures that are
// built from the corpus; the hand-written ones (truncated, malformed) are kept as they are.
func TestRawReviewFixtures(t *testing.T) {
	dir := filepath.Join("testdata", "reviews")
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		sts := galera(t)
		res, _ := policy.Evaluate(policy.Request{Operation: policy.Create, Object: sts}, policyfile.Default(), policy.Facts{})
		scale := func(n int32) *autoscalingv1.Scale {
			return &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: sts.Name, Namespace: "data"}, Spec: autoscalingv1.ScaleSpec{Replicas: n}}
		}
		for name, body := range map[string][]byte{
			"create-galera.json":        review(t, admissionv1.Create, statefulSetsGVR, "", sts, nil),
			"create-pinned.json":        review(t, admissionv1.Create, statefulSetsGVR, "", pinned(t), nil),
			"update-stored-galera.json": review(t, admissionv1.Update, statefulSetsGVR, "", res.StatefulSet(), res.StatefulSet()),
			"scale-to-4.json":           review(t, admissionv1.Update, statefulSetsGVR, "scale", scale(4), scale(3)),
			"create-claim.json": review(t, admissionv1.Create, claimsGVR, "", &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: "scratch"}}, nil),
		} {
			var pretty bytes.Buffer
			json.Indent(&pretty, body, "", "  ")
			if err := os.WriteFile(filepath.Join(dir, name), pretty.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	stored, _ := policy.Evaluate(policy.Request{Operation: policy.Create, Object: galera(t)}, policyfile.Default(), policy.Facts{})
	c := withPolicy()
	c.sts = stored.StatefulSet()
	c.facts = policy.Facts{NodesKnown: true, Nodes: []*corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{corev1.LabelHostname: "a"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{corev1.LabelHostname: "b"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "c", Labels: map[string]string{corev1.LabelHostname: "c"}}},
	}}
	tests := []struct {
		file        string
		mode        Mode
		wantCode    int
		wantAllowed bool
		wantInBody  string // in the response body (error text, patch or status message)
	}{
		{"create-galera.json", Mutating, 200, true, `"patchType":"JSONPatch"`},
		{"create-galera.json", Validating, 200, false, "AntiAffinityMissing"}, // the mutator was skipped
		{"create-pinned.json", Validating, 200, false, `spec.template.spec.nodeSelector[kubernetes.io/hostname]`},
		{"update-stored-galera.json", Mutating, 200, true, `"allowed":true`},
		{"update-stored-galera.json", Validating, 200, true, `"allowed":true`},
		{"scale-to-4.json", Validating, 200, false, "only 3 eligible node(s)"},
		{"create-claim.json", Mutating, 200, true, "L3NwZWMvc3RvcmFnZUNsYXNzTmFtZS"}, // base64 of /spec/storageClassName
		{"delete-garbage-object.json", Validating, 200, true, `"uid":"del-1"`},
		{"truncated.json", Validating, 400, false, "could not decode the AdmissionReview"},
		{"v1beta1.json", Validating, 400, false, "admissionReviewVersions: [v1]"},
		{"unknown-resource.json", Validating, 200, true, "webhook configuration should not send it here"},
	}
	for _, tc := range tests {
		t.Run(string(tc.mode)+"/"+tc.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			h := newTestHandler(tc.mode, c)
			r := httptest.NewRequest(http.MethodPost, "/?timeout=10s", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.wantCode || !strings.Contains(w.Body.String(), tc.wantInBody) {
				t.Fatalf("got %d %s\nwant %d containing %q", w.Code, w.Body, tc.wantCode, tc.wantInBody)
			}
			if w.Code != 200 {
				return
			}
			var out admissionv1.AdmissionReview
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
				t.Fatal(err)
			}
			var in admissionv1.AdmissionReview
			json.Unmarshal(body, &in)
			if out.Response.Allowed != tc.wantAllowed || out.Response.UID != in.Request.UID {
				t.Errorf("allowed %v (want %v), uid %q (want %q)", out.Response.Allowed, tc.wantAllowed, out.Response.UID, in.Request.UID)
			}
		})
	}
}
