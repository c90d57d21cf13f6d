package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/stowage-dev/stowage/internal/testcorpus"
	"github.com/stowage-dev/stowage/policy"
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
	managed := sts.DeepCopy()
	managed.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "helm", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "apps/v1",
		FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:replicas":{}}}`)}}}
	managed.Spec.Template.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
	tests := []struct {
		name      string
		body      []byte
		wantTyped bool // decoded in one pass
		narrow    bool // without what createdStatefulSet skips
	}{
		{"StatefulSet CREATE", create, true, true},
		{"StatefulSet CREATE with managed fields and an ephemeral container", review(t, admissionv1.Create, statefulSetsGVR, "", managed, nil), true, true},
		{"StatefulSet UPDATE with managed fields → whole", review(t, admissionv1.Update, statefulSetsGVR, "", managed, managed), true, false},
		{"operation named twice, the last UPDATE → whole",
			bytes.Replace(create, []byte(`"operation":"CREATE"`), []byte(`"operation":"CREATE","operation":"UPDATE"`), 1), true, false},
		{"operation named twice, the last CREATE → whole",
			bytes.Replace(create, []byte(`"operation":"CREATE"`), []byte(`"operation":"UPDATE","operation":"CREATE"`), 1), true, false},
		{"StatefulSet UPDATE", review(t, admissionv1.Update, statefulSetsGVR, "", sts, older), true, false},
		{"StatefulSet DELETE (old object only)", review(t, admissionv1.Delete, statefulSetsGVR, "", nil, older), true, false},
		{"claim CREATE", review(t, admissionv1.Create, claimsGVR, "", claim, nil), true, false},
		{"budget UPDATE", review(t, admissionv1.Update, budgetsGVR, "", budget, budget), true, false},
		{"scale subresource → two passes (the object is a Scale)", review(t, admissionv1.Update, statefulSetsGVR, "scale", scale, oldScale), false, false},
		{"another resource → two passes", review(t, admissionv1.Create, podsGVR, "", claim, nil), false, false},
		{"resource after the object → two passes", resourceLast(t, create), false, false},
		{"resource named twice, the last a claim's → two passes",
			bytes.Replace(create, []byte(`"operation"`), []byte(`"resource":{"version":"v1","resource":"persistentvolumeclaims"},"operation"`), 1), false, false},
		{"no request", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), false, false},
	}
	for _, f := range testcorpus.Files(t)[:3] {
		for _, s := range statefulSetsIn(t, f) {
			tests = append(tests, struct {
				name      string
				body      []byte
				wantTyped bool
				narrow    bool
			}{"corpus " + s.Name, review(t, admissionv1.Create, statefulSetsGVR, "", s, nil), true, true})
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
			if tc.narrow {
				wantObj = withoutSkipped(t, wantObj)
			} else if s, ok := gotObj.(*appsv1.StatefulSet); ok && tc.wantTyped && len(s.Spec.Template.Spec.Containers) == 0 {
				t.Errorf("decoded without its containers, want whole")
			}
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

// withoutSkipped is a StatefulSet without what createdStatefulSet skips.
func withoutSkipped(t *testing.T, obj runtime.Object) runtime.Object {
	sts, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		t.Fatalf("%T is not a StatefulSet", obj)
	}
	sts = sts.DeepCopy()
	sts.ManagedFields = nil
	spec := &sts.Spec.Template.Spec
	spec.Containers, spec.InitContainers, spec.EphemeralContainers = nil, nil, nil
	return sts
}

// A create whose skipped parts are not arrays is not taken for a StatefulSet without them: it
// is decoded the generic way, whose object then does not decode, as before the skipping.
func TestDecodeReviewDoesNotSkipWhatIsNotAnArray(t *testing.T) {
	create := review(t, admissionv1.Create, statefulSetsGVR, "", galera(t), nil)
	for _, member := range []string{`"containers":`, `"initContainers":`} {
		i := bytes.Index(create, []byte(member))
		if i < 0 {
			t.Fatalf("no %s in the review", member)
		}
		body := slices.Concat(create[:i], []byte(member+`"x",`+member), create[i+len(member):])
		r, err := decodeReview(body)
		if err != nil {
			t.Fatal(err)
		}
		if obj, _, ok := decodeObject(r.Request.Resource, r.Request.Object); !ok || obj != nil {
			t.Errorf("%s a string: object %v (ok %t), want one that does not decode", member, obj, ok)
		}
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

// Every corpus StatefulSet's CREATE is decided the same whether decodeReview skips what
// createdStatefulSet skips or decodes the whole object: the same patch from the mutating
// endpoint, the same verdict, warnings and causes from the validating one, with and without
// nodes and a budget to judge against. A rule that came to read the containers or the managed
// fields would fail here.
func TestCreateDecodedWithoutContainersIsDecidedTheSame(t *testing.T) {
	var nodes []*corev1.Node
	for i, zone := range []string{"a", "b", "b"} {
		name := "node-" + string(rune('0'+i))
		nodes = append(nodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: map[string]string{corev1.LabelHostname: name, corev1.LabelTopologyZone: zone}}})
	}
	n := 0
	for _, f := range testcorpus.Files(t) {
		for _, sts := range statefulSetsIn(t, f) {
			n++
			body := review(t, admissionv1.Create, statefulSetsGVR, "", sts, nil)
			narrow, err := decodeReview(body)
			if err != nil {
				t.Fatal(err)
			}
			if s := narrow.Request.Object.Object.(*appsv1.StatefulSet); len(s.Spec.Template.Spec.Containers) > 0 {
				t.Fatalf("%s: decoded with its containers", sts.Name)
			}
			whole := &admissionv1.AdmissionReview{}
			if err := decodeJSON(body, whole); err != nil {
				t.Fatal(err)
			}
			budget := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "pdb", Namespace: "data"},
				Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(3)), Selector: sts.Spec.Selector}}
			for _, facts := range []policy.Facts{{}, {NodesKnown: true, Nodes: nodes, PDBs: []*policyv1.PodDisruptionBudget{budget}, DefaultStorageClass: "standard"}} {
				c := withPolicy()
				c.facts = facts
				a := &Admitter{Cluster: c}
				for _, mode := range []Mode{Mutating, Validating} {
					answer := func(r *admissionv1.AdmissionReview) *admissionv1.AdmissionResponse {
						if mode == Mutating {
							resp, _ := a.Mutate(context.Background(), r.Request)
							return resp
						}
						resp, _ := a.Validate(context.Background(), r.Request)
						return resp
					}
					want, got := answer(whole), answer(narrow)
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("%s, %s, nodes known %t (-whole +without containers):\n%s", sts.Name, mode, facts.NodesKnown, diff)
					}
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d corpus StatefulSets", n)
	}
}

func TestPeekRequest(t *testing.T) {
	sts := metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	const res = `"resource":{"group":"apps","version":"v1","resource":"statefulsets"}`
	tests := []struct {
		name   string
		body   string
		want   metav1.GroupVersionResource
		wantOp admissionv1.Operation
		wantOK bool
	}{
		{"as the API server writes it", `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","kind":{"group":"apps","version":"v1","kind":"StatefulSet"},` + res + `,"name":"x","operation":"CREATE","object":{}}}`, sts, admissionv1.Create, true},
		{"space everywhere", " {\n \"request\" :\t{ \"uid\" : \"u\" ,\r\n " + res + " , \"operation\" : \"UPDATE\" } } ", sts, admissionv1.Update, true},
		{"strings holding quotes, braces and escapes before it", `{"x":"a\"}{[\\","request":{"uid":"\"}]\\\"","userInfo":{"extra":{"k":["{","]"]}},` + res + `,"operation":"DELETE"}}`, sts, admissionv1.Delete, true},
		{"numbers, literals and arrays before it", `{"n":-1.5e3,"t":true,"z":null,"a":[1,[2,{"b":"]"}]],"request":{` + res + `,"dryRun":false,"operation":"CONNECT"}}`, sts, admissionv1.Connect, true},
		{"operation after the object: resource only", `{"request":{` + res + `,"object":{"operation":"CREATE"},"operation":"CREATE"}}`, sts, "", true},
		{"resource after the object", `{"request":{"operation":"CREATE","object":{},` + res + `}}`, metav1.GroupVersionResource{}, admissionv1.Create, false},
		{"no request", `{"kind":"AdmissionReview"}`, metav1.GroupVersionResource{}, "", false},
		{"an escaped key is not matched", `{"requ\u0065st":{` + res + `}}`, metav1.GroupVersionResource{}, "", false},
		{"truncated", `{"request":{"uid":"u",` + res[:30], metav1.GroupVersionResource{}, "", false},
		{"unterminated string", `{"request":{"uid":"u`, metav1.GroupVersionResource{}, "", false},
		{"resource members in another order", `{"request":{"resource":{"resource":"statefulsets", "group":"apps","version":"v1"},"operation":"CREATE"}}`, sts, admissionv1.Create, true},
		{"core resource: no group", `{"request":{"resource":{"version":"v1","resource":"persistentvolumeclaims"},"operation":"CREATE"}}`, metav1.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}, admissionv1.Create, true},
		{"resource with an escaped value", `{"request":{"resource":{"group":"apps","version":"v1","resource":"stateful\u0073ets"},"operation":"CREATE"}}`, metav1.GroupVersionResource{}, "", false},
		{"resource with a member named twice", `{"request":{"resource":{"group":"apps","resource":"pods","resource":"statefulsets"},"operation":"CREATE"}}`, metav1.GroupVersionResource{}, "", false},
		{"resource with an unknown member", `{"request":{"resource":{"group":"apps","kind":"x"},"operation":"CREATE"}}`, metav1.GroupVersionResource{}, "", false},
		{"operation with an escape", `{"request":{` + res + `,"operation":"CR\u0045ATE"}}`, metav1.GroupVersionResource{}, "", false},
		{"resource of the wrong type", `{"request":{"resource":"statefulsets","operation":"CREATE"}}`, metav1.GroupVersionResource{}, "", false},
		{"not an object", `["request"]`, metav1.GroupVersionResource{}, "", false},
		{"empty", ``, metav1.GroupVersionResource{}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gvr, op, ok := peekRequest([]byte(tc.body))
			if ok != tc.wantOK || ok && (gvr != tc.want || op != tc.wantOp) {
				t.Errorf("peekRequest = %v, %q, %t; want %v, %q, %t", gvr, op, ok, tc.want, tc.wantOp, tc.wantOK)
			}
		})
	}
}

// FuzzPeekRequest: on any bytes the peek returns; on a review as encoding/json writes it (as the
// API server does, request members in their declared order) it reads the resource and the
// operation the decoder reads.
func FuzzPeekRequest(f *testing.F) {
	f.Add(review(f, admissionv1.Create, statefulSetsGVR, "", galera(f), nil))
	f.Add(review(f, admissionv1.Update, claimsGVR, "scale", galera(f), galera(f)))
	f.Add([]byte(`{"request":{"uid":"\"}]","resource":{"group":"apps","version":"v1","resource":"statefulsets"},"operation":"CREATE"}}`))
	f.Add([]byte(`{"request":{"resource":{"resource":"x","resource":"y"},"operation":"","operation":"DELETE"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		peekRequest(body)
		var r admissionv1.AdmissionReview
		if decodeJSON(body, &r) != nil || r.Request == nil {
			return
		}
		r.Request.Object, r.Request.OldObject = runtime.RawExtension{}, runtime.RawExtension{}
		canonical, err := json.Marshal(r)
		if err != nil {
			return
		}
		gvr, op, ok := peekRequest(canonical)
		if !ok || gvr != r.Request.Resource || op != r.Request.Operation {
			t.Fatalf("peekRequest(%s) = %v, %q, %t; want %v, %q", canonical, gvr, op, ok, r.Request.Resource, r.Request.Operation)
		}
	})
}
