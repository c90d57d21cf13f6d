package policy

import (
	"encoding/json"
	"testing"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// testPolicy returns the default policy, changed by mods.
func testPolicy(mods ...func(*v1alpha1.PlacementPolicySpec)) *v1alpha1.PlacementPolicy {
	p := &v1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	for _, m := range mods {
		m(&p.Spec)
	}
	v1alpha1.SetDefaults(p)
	return p
}

var podLabels = map[string]string{"app.kubernetes.io/name": "db", "app.kubernetes.io/instance": "prod", "app.kubernetes.io/component": "primary"}

// statefulSet returns a three-replica StatefulSet "data/db" with one claim template and no
// placement settings, changed by mods.
func statefulSet(mods ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "data", Labels: map[string]string{"app.kubernetes.io/name": "db"}},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptrTo(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "db", "app.kubernetes.io/instance": "prod"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: clone(podLabels)},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "db:1"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("8Gi")}},
				},
			}},
		},
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func replicas(n int32) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) { s.Spec.Replicas = &n }
}

// stowageTerm is the anti-affinity term Stowage adds for statefulSet(): its selector, and only
// pods a StatefulSet made.
func stowageTerm() corev1.PodAffinityTerm { return ownPodsOnly(ownTerm()) }

// ownTerm is a term over exactly statefulSet()'s pods by its selector, as a chart writes it (and
// as Stowage added it before it required the pod-name label).
func ownTerm() corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "db", "app.kubernetes.io/instance": "prod"}},
		TopologyKey:   corev1.LabelHostname,
	}
}

func withRequiredAnti(terms ...corev1.PodAffinityTerm) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) {
		ensureAntiAffinity(&s.Spec.Template.Spec).RequiredDuringSchedulingIgnoredDuringExecution = terms
	}
}

func withPreferredAnti(terms ...corev1.WeightedPodAffinityTerm) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) {
		ensureAntiAffinity(&s.Spec.Template.Spec).PreferredDuringSchedulingIgnoredDuringExecution = terms
	}
}

// compliant is statefulSet() as Stowage's default policy leaves it.
func compliant(mods ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	s := statefulSet(withRequiredAnti(stowageTerm()), func(s *appsv1.StatefulSet) {
		s.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = ptrTo(v1alpha1.DefaultStorageClassName)
		s.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: v1alpha1.ZoneTopologyKey, WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector: ownTerm().LabelSelector,
		}}
	})
	for _, m := range mods {
		m(s)
	}
	return s
}

func claim(mods ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: "scratch", Namespace: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

func node(name, zone string, mods ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		corev1.LabelHostname: name, v1alpha1.ZoneTopologyKey: zone, corev1.LabelOSStable: "linux"}}}
	for _, m := range mods {
		m(n)
	}
	return n
}

func budget(name string, mods ...func(*policyv1.PodDisruptionBudget)) *policyv1.PodDisruptionBudget {
	one := intstr.FromInt32(1)
	b := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "data"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &one,
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/instance": "prod"}},
		},
	}
	for _, m := range mods {
		m(b)
	}
	return b
}

// create evaluates obj as a CREATE and checks the invariants every evaluation must keep.
func create(t *testing.T, obj runtime.Object, p *v1alpha1.PlacementPolicy, f Facts) *Result {
	t.Helper()
	return evaluate(t, Request{Operation: Create, Object: obj}, p, f)
}

// evaluate runs Evaluate and checks its invariants: the input is unchanged, the patch turns the
// input's JSON into the output's, and evaluating the output again changes nothing.
func evaluate(t *testing.T, req Request, p *v1alpha1.PlacementPolicy, f Facts) *Result {
	t.Helper()
	before := mustJSON(t, req.Object)
	res, err := Evaluate(req, p, f)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	if after := mustJSON(t, req.Object); string(after) != string(before) {
		t.Fatalf("Evaluate modified its input:\n%s", cmp.Diff(string(before), string(after)))
	}
	if req.Phase == Validate {
		// The object is judged as given; the patch is what the mutate phase computes.
		if diff := cmp.Diff(req.Object, res.Object); diff != "" {
			t.Fatalf("the validate phase changed the object:\n%s", diff)
		}
		m := req
		m.Phase = Mutate
		mut, err := Evaluate(m, p, f)
		if err != nil {
			t.Fatalf("Evaluate (mutate phase): %v", err)
		}
		if diff := cmp.Diff(mut.Patch, res.Patch); diff != "" {
			t.Fatalf("the validate phase's patch differs from the mutate phase's:\n%s", diff)
		}
		return res
	}
	checkPatch(t, before, res)
	if req.Operation == Background && len(res.Patch) > 0 {
		t.Fatalf("%s produced a patch: %v", req.Operation, res.Patch)
	}
	if req.Operation == Update {
		// What the update keeps must be kept for good: a second pass changes nothing.
		again, err := Evaluate(Request{Operation: Update, Object: res.Object, OldObject: req.OldObject}, p, f)
		if err != nil {
			t.Fatalf("second Evaluate: %v", err)
		}
		if len(again.Patch) > 0 {
			t.Fatalf("update preservation is not idempotent: second patch %s", mustJSON(t, again.Patch))
		}
	}
	if req.Operation == Create && !res.Exempt {
		again, err := Evaluate(Request{Operation: Create, Object: res.Object}, p, f)
		if err != nil {
			t.Fatalf("second Evaluate: %v", err)
		}
		if len(again.Patch) > 0 {
			t.Fatalf("evaluation is not idempotent: second patch %s", mustJSON(t, again.Patch))
		}
	}
	return res
}

// checkPatch applies the result's patch to the input JSON with an independent RFC 6902
// implementation and compares it with the output object.
func checkPatch(t *testing.T, in []byte, res *Result) {
	t.Helper()
	out := mustJSON(t, res.Object)
	if len(res.Patch) == 0 {
		if !jsonpatch5.Equal(in, out) {
			t.Fatalf("empty patch, but the output differs from the input:\n%s", cmp.Diff(string(in), string(out)))
		}
		return
	}
	patch, err := jsonpatch5.DecodePatch(mustJSON(t, res.Patch))
	if err != nil {
		t.Fatalf("decoding the patch: %v", err)
	}
	patched, err := patch.Apply(in)
	if err != nil {
		t.Fatalf("applying the patch %s: %v", mustJSON(t, res.Patch), err)
	}
	if !jsonpatch5.Equal(patched, out) {
		t.Fatalf("patch does not produce the output:\npatch %s\n%s", mustJSON(t, res.Patch), cmp.Diff(string(out), string(patched)))
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ruleHits lists "rule severity field" for each violation, for compact comparisons.
func ruleHits(vs []Violation) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, string(v.Rule)+" "+string(v.Severity)+" "+v.Field.String())
	}
	return out
}
