package webhook

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/stowage-dev/stowage/internal/testcorpus"
)

// decodeReview's one-pass decode must give what decoding the review and then its object from
// Raw gives, for every kind of review, and fall back to that when the review is unusual.
func TestDecodeReviewAgreesWithTheTwoPassDecode(t *testing.T) {
	sts := galera(t)
	older := sts.DeepCopy()
	older.Spec.Replicas = ptr.To(int32(1))
	claim := &corev1.PersistentVolumeClaim{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: "data-db-0", Labels: map[string]string{"app": "db"}},
		Spec:       corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("fast"), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}}}
	budget := &policyv1.PodDisruptionBudget{TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromString("100%"))}}
	scale := &autoscalingv1.Scale{TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"}, Spec: autoscalingv1.ScaleSpec{Replicas: 3}}
	oldScale := &autoscalingv1.Scale{TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"}, Spec: autoscalingv1.ScaleSpec{Replicas: 1}}
	podsGVR := metav1.GroupVersionResource{Version: "v1", Resource: "pods"}

	create := review(t, admissionv1.Create, statefulSetsGVR, "", sts, nil)
	tests := []struct {
		name      string
		body      []byte
		wantTyped bool // decoded in one pass
	}{
		{"StatefulSet CREATE", create, true},
		{"StatefulSet UPDATE", review(t, admissionv1.Update, statefulSetsGVR, "", sts, older), true},
		{"StatefulSet DELETE (old object only)", review(t, admissionv1.Delete, statefulSetsGVR, "", nil, older), true},
		{"claim CREATE", review(t, admissionv1.Create, claimsGVR, "", claim, nil), true},
		{"budget UPDATE", review(t, admissionv1.Update, budgetsGVR, "", budget, budget), true},
		{"scale subresource → two passes (the object is a Scale)", review(t, admissionv1.Update, statefulSetsGVR, "scale", scale, oldScale), false},
		{"another resource → two passes", review(t, admissionv1.Create, podsGVR, "", claim, nil), false},
		{"resource after the object → two passes", resourceLast(t, create), false},
		{"resource named twice, the last a claim's → two passes",
			bytes.Replace(create, []byte(`"operation"`), []byte(`"resource":{"version":"v1","resource":"persistentvolumeclaims"},"operation"`), 1), false},
		{"no request", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), false},
	}
	for _, f := range testcorpus.Files(t)[:3] {
		for _, s := range statefulSetsIn(t, f) {
			tests = append(tests, struct {
				name      string
				body      []byte
				wantTyped bool
			}{"corpus " + s.Name, review(t, admissionv1.Create, statefulSetsGVR, "", s, nil), true})
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := &admissionv1.AdmissionReview{}
			if err := decodeJSON(tc.body, want); err != nil {
				t.Fatal(err)
			}
			got, err := decodeReview(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if want.Request == nil {
				if got.Request != nil {
					t.Fatalf("request %+v, want none", got.Request)
				}
				return
			}
			typed := got.Request.Object.Object != nil || got.Request.OldObject.Object != nil
			if typed != tc.wantTyped {
				t.Errorf("decoded in one pass: %t, want %t", typed, tc.wantTyped)
			}
			objects := func(r *admissionv1.AdmissionRequest) (obj, old runtime.Object) {
				obj, _, _ = decodeObject(r.Resource, r.Object)
				old, _, _ = decodeObject(r.Resource, r.OldObject)
				return obj, old
			}
			wantObj, wantOld := objects(want.Request)
			gotObj, gotOld := objects(got.Request)
			if diff := cmp.Diff(wantObj, gotObj); diff != "" {
				t.Errorf("object (-two passes +one):\n%s", diff)
			}
			if diff := cmp.Diff(wantOld, gotOld); diff != "" {
				t.Errorf("old object (-two passes +one):\n%s", diff)
			}
			// Everything else is the same; the typed path leaves Raw empty.
			if typed {
				want.Request.Object, want.Request.OldObject = got.Request.Object, got.Request.OldObject
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("review (-two passes +one):\n%s", diff)
			}
		})
	}
}

// resourceLast moves request.resource to the end of the request, after the object.
func resourceLast(t *testing.T, body []byte) []byte {
	const res = `"resource":{"group":"apps","version":"v1","resource":"statefulsets"}`
	out := bytes.Replace(body, []byte(res+","), nil, 1)
	if !bytes.HasSuffix(out, []byte("}}")) || len(out) == len(body) {
		t.Fatalf("unexpected review layout: ...%s", body[len(body)-80:])
	}
	return append(out[:len(out)-2:len(out)-2], []byte(","+res+"}}")...)
}
