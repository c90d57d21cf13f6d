package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// TestBudgetWrites judges PodDisruptionBudget CREATE and UPDATE, as the validating webhook does.
func TestBudgetWrites(t *testing.T) {
	maxU := func(v intstr.IntOrString) func(*policyv1.PodDisruptionBudget) {
		return func(b *policyv1.PodDisruptionBudget) { b.Spec.MaxUnavailable = &v }
	}
	minA := func(v intstr.IntOrString) func(*policyv1.PodDisruptionBudget) {
		return func(b *policyv1.PodDisruptionBudget) { b.Spec.MaxUnavailable, b.Spec.MinAvailable = nil, &v }
	}
	inNS := func(ns string) func(*policyv1.PodDisruptionBudget) {
		return func(b *policyv1.PodDisruptionBudget) { b.Namespace = ns }
	}
	stowageOwn := func(b *policyv1.PodDisruptionBudget) {
		b.Name = BudgetName("db")
		b.Labels = map[string]string{ManagedByLabel: ManagedByValue}
	}
	selecting := func(l map[string]string) func(*policyv1.PodDisruptionBudget) {
		return func(b *policyv1.PodDisruptionBudget) { b.Spec.Selector = &metav1.LabelSelector{MatchLabels: l} }
	}
	pdb := func(mods ...func(*policyv1.PodDisruptionBudget)) *policyv1.PodDisruptionBudget {
		b := budget("chart", func(b *policyv1.PodDisruptionBudget) { b.Namespace = "data" })
		for _, m := range mods {
			m(b)
		}
		return b
	}
	five := statefulSet(replicas(5))
	three := statefulSet()
	optedOut := statefulSet(func(s *appsv1.StatefulSet) { s.Annotations = map[string]string{v1alpha1.OptOutAnnotation: "true"} })
	mu := "spec.maxUnavailable"
	ma := "spec.minAvailable"

	tests := []struct {
		name   string
		policy *v1alpha1.PlacementPolicy
		sets   []*appsv1.StatefulSet
		op     Operation
		in     *policyv1.PodDisruptionBudget
		old    *policyv1.PodDisruptionBudget
		want   []string
	}{
		{"maxUnavailable 1 over 3 replicas → fine", nil, []*appsv1.StatefulSet{three}, Create, pdb(maxU(intstr.FromInt32(1))), nil, []string{}},
		{"maxUnavailable 100% over 3 replicas → denied", nil, []*appsv1.StatefulSet{three}, Create, pdb(maxU(intstr.FromString("100%"))), nil,
			[]string{"DisruptionBudgetTooLoose error " + mu}},
		{"minAvailable 1 over 3 replicas (a chart's accident) → denied", nil, []*appsv1.StatefulSet{three}, Create, pdb(minA(intstr.FromInt32(1))), nil,
			[]string{"DisruptionBudgetTooLoose error " + ma}},
		{"minAvailable 2 over 3 replicas → fine", nil, []*appsv1.StatefulSet{three}, Create, pdb(minA(intstr.FromInt32(2))), nil, []string{}},
		{"maxUnavailable 2 over 5 replicas, policy maxUnavailable 2 → quorum allows 2, fine",
			testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.DisruptionBudget.MaxUnavailable = ptrTo(intstr.FromInt32(2)) }),
			[]*appsv1.StatefulSet{five}, Create, pdb(maxU(intstr.FromInt32(2))), nil, []string{}},
		{"maxUnavailable 3 over 5 replicas, policy maxUnavailable 3 → the quorum caps it at 2, denied",
			testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.DisruptionBudget.MaxUnavailable = ptrTo(intstr.FromInt32(3)) }),
			[]*appsv1.StatefulSet{five}, Create, pdb(maxU(intstr.FromInt32(3))), nil, []string{"DisruptionBudgetTooLoose error " + mu}},
		{"under Warn → a warning", testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.EnforcementAction = v1alpha1.Warn }),
			[]*appsv1.StatefulSet{three}, Create, pdb(maxU(intstr.FromString("100%"))), nil, []string{"DisruptionBudgetTooLoose warning " + mu}},
		{"budgets disabled by the policy → not judged", testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.DisruptionBudget.Mode = v1alpha1.Disabled }),
			[]*appsv1.StatefulSet{three}, Create, pdb(maxU(intstr.FromString("100%"))), nil, []string{}},
		{"selects no StatefulSet's pods → not judged: no policy applies to it", nil, []*appsv1.StatefulSet{three}, Create,
			pdb(maxU(intstr.FromString("100%")), selecting(map[string]string{"app": "web"})), nil, nil},
		{"another namespace → not judged", nil, []*appsv1.StatefulSet{three}, Create, pdb(maxU(intstr.FromString("100%")), inNS("other")), nil, nil},
		{"Stowage's own budget → never judged", nil, []*appsv1.StatefulSet{three}, Create, pdb(maxU(intstr.FromString("100%")), stowageOwn), nil, []string{}},
		{"the StatefulSet opted out where the policy allows it → not judged",
			testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.OptOut.Namespaces = []string{"data"} }), []*appsv1.StatefulSet{optedOut}, Create, pdb(maxU(intstr.FromString("100%"))), nil, nil},
		{"UPDATE of a budget that was already too loose → a warning", nil, []*appsv1.StatefulSet{three}, Update,
			pdb(maxU(intstr.FromString("100%"))), pdb(maxU(intstr.FromInt32(3))), []string{"DisruptionBudgetTooLoose warning " + mu}},
		{"UPDATE loosening a good budget → denied", nil, []*appsv1.StatefulSet{three}, Update,
			pdb(maxU(intstr.FromInt32(2))), pdb(maxU(intstr.FromInt32(1))), []string{"DisruptionBudgetTooLoose error " + mu}},
		{"single replica → not judged", nil, []*appsv1.StatefulSet{statefulSet(replicas(1))}, Create, pdb(maxU(intstr.FromString("100%"))), nil, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == nil {
				p = testPolicy()
			}
			set := NewSet(p)
			in := Input{Operation: tc.op, Phase: Validate, Object: tc.in, Facts: func() (Facts, error) {
				return Facts{StatefulSets: tc.sets}, nil
			}}
			if tc.old != nil {
				in.OldObject = tc.old
			}
			d, err := set.Decide(in)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if d.Result != nil {
					t.Errorf("judged under %v: %v", d.Policy.Name, d.Result.Violations)
				}
				return
			}
			if d.Result == nil {
				t.Fatalf("not judged: %+v", d)
			}
			if diff := cmp.Diff(tc.want, ruleHits(d.Result.Violations)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("the mutating phase never judges a budget", func(t *testing.T) {
		d, err := NewSet(testPolicy()).Decide(Input{Operation: Create, Phase: Mutate, Object: pdb(maxU(intstr.FromString("100%"))),
			Facts: func() (Facts, error) { return Facts{StatefulSets: []*appsv1.StatefulSet{three}}, nil }})
		if err != nil || d.Result != nil {
			t.Errorf("%+v, %v", d, err)
		}
	})
}

// A budget over one replica by statefulset.kubernetes.io/pod-name counts as covering the pods:
// a Stowage budget beside it would put that replica under two budgets, and the eviction API
// then refuses to evict it. It is not judged for looseness, which only means something over all
// the replicas.
func TestPerReplicaBudgets(t *testing.T) {
	perPod := budget("db-0", func(b *policyv1.PodDisruptionBudget) {
		b.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{
			"app.kubernetes.io/instance": "prod", appsv1.StatefulSetPodNameLabel: "db-0"}}
		b.Spec.MaxUnavailable = nil
		b.Spec.MinAvailable = ptrTo(intstr.FromInt32(0))
	})
	other := budget("web-0", func(b *policyv1.PodDisruptionBudget) {
		b.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{
			"app.kubernetes.io/instance": "other", appsv1.StatefulSetPodNameLabel: "web-0"}}
	})
	res := create(t, compliant(), testPolicy(), Facts{PDBs: []*policyv1.PodDisruptionBudget{perPod}})
	if res.PDB != nil {
		t.Errorf("a budget was generated beside a per-replica budget: %s", res.PDB.Name)
	}
	if hits := ruleHits(res.Violations); len(hits) != 0 {
		t.Errorf("violations: %v", hits)
	}
	if res := create(t, compliant(), testPolicy(), Facts{PDBs: []*policyv1.PodDisruptionBudget{other}}); res.PDB == nil {
		t.Error("a per-replica budget over another StatefulSet's pods suppressed ours")
	}
}

// TestBudgetsTooLooseFromStatefulSet judges, from a StatefulSet, the budgets over its pods: the
// warning names the budget and says which limit it passes, the policy's or the quorum's.
func TestBudgetsTooLooseFromStatefulSet(t *testing.T) {
	maxU := func(v intstr.IntOrString) func(*policyv1.PodDisruptionBudget) {
		return func(b *policyv1.PodDisruptionBudget) { b.Spec.MaxUnavailable = &v }
	}
	minA := func(v intstr.IntOrString) func(*policyv1.PodDisruptionBudget) {
		return func(b *policyv1.PodDisruptionBudget) { b.Spec.MaxUnavailable, b.Spec.MinAvailable = nil, &v }
	}
	policyMax := func(v int32) *v1alpha1.PlacementPolicy {
		return testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.DisruptionBudget.MaxUnavailable = ptrTo(intstr.FromInt32(v)) })
	}
	tests := []struct {
		name    string
		sts     *appsv1.StatefulSet
		policy  *v1alpha1.PlacementPolicy
		pdb     *policyv1.PodDisruptionBudget
		want    []string
		message string
	}{
		{"3 replicas, minAvailable 1 → 2 may go, a quorum of 2 survives only 1", compliant(), nil, budget("chart", minA(intstr.FromInt32(1))),
			[]string{"DisruptionBudgetTooLoose warning spec.selector [chart]"},
			"the PodDisruptionBudget chart lets a drain take 2 of these 3 replicas at once, but a majority quorum of 2 survives only 1; set maxUnavailable: 1"},
		{"5 replicas, policy maxUnavailable 3, budget 3 → the quorum of 3 caps it at 2", compliant(replicas(5)), policyMax(3), budget("chart", maxU(intstr.FromInt32(3))),
			[]string{"DisruptionBudgetTooLoose warning spec.selector [chart]"},
			"lets a drain take 3 of these 5 replicas at once, but a majority quorum of 3 survives only 2; set maxUnavailable: 2"},
		{"5 replicas, budget maxUnavailable 2 → within the quorum, past the policy's 1", compliant(replicas(5)), nil, budget("chart", maxU(intstr.FromInt32(2))),
			[]string{"DisruptionBudgetTooLoose warning spec.selector [chart]"},
			"lets a drain take 2 of these 5 replicas at once, but the policy's maxUnavailable allows 1; set maxUnavailable: 1"},
		{"2 replicas, maxUnavailable 2 → past the policy's 1 (a quorum of 2 would forbid any drain, so it does not count)", compliant(replicas(2)), nil,
			budget("chart", maxU(intstr.FromInt32(2))), []string{"DisruptionBudgetTooLoose warning spec.selector [chart]"},
			"but the policy's maxUnavailable allows 1"},
		{"2 replicas, maxUnavailable 1 → fine", compliant(replicas(2)), nil, budget("chart"), []string{}, ""},
		{"5 replicas, policy maxUnavailable 2, budget 2 → fine", compliant(replicas(5)), policyMax(2), budget("chart", maxU(intstr.FromInt32(2))), []string{}, ""},
		{"budgets disabled by the policy → not judged", compliant(),
			testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.DisruptionBudget.Mode = v1alpha1.Disabled }),
			budget("chart", maxU(intstr.FromString("100%"))), []string{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == nil {
				p = testPolicy()
			}
			res := create(t, tc.sts, p, Facts{PDBs: []*policyv1.PodDisruptionBudget{tc.pdb}})
			if diff := cmp.Diff(tc.want, budgetHits(res.Violations)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
			if tc.message != "" && (len(res.Violations) == 0 || !strings.Contains(res.Violations[0].Message, tc.message)) {
				t.Errorf("message %q does not contain %q", res.Violations, tc.message)
			}
		})
	}
}
