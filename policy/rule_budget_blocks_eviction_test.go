package policy

import (
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestBudgetBlocksEviction(t *testing.T) {
	zero := intstr.FromInt32(0)
	three := intstr.FromInt32(3)
	pct := intstr.FromString("67%")
	half := intstr.FromString("50%")
	minAvailable := func(v *intstr.IntOrString) func(*policyv1.PodDisruptionBudget) {
		return func(b *policyv1.PodDisruptionBudget) { b.Spec.MaxUnavailable, b.Spec.MinAvailable = nil, v }
	}
	maxZero := func(b *policyv1.PodDisruptionBudget) { b.Spec.MaxUnavailable = &zero }
	runBudgetCases(t, []budgetCase{
		{"maxUnavailable 1 → fine", compliant(), []*policyv1.PodDisruptionBudget{budget("chart")}, []string{}},
		{"maxUnavailable 0 → blocks every drain", compliant(), []*policyv1.PodDisruptionBudget{budget("chart", maxZero)},
			[]string{"DisruptionBudgetBlocksEviction warning spec.replicas [chart]"}},
		{"minAvailable 3 of 3 → blocks every drain", compliant(), []*policyv1.PodDisruptionBudget{budget("chart", minAvailable(&three))},
			[]string{"DisruptionBudgetBlocksEviction warning spec.replicas [chart]"}},
		{"minAvailable 67% of 3 rounds up to 3 → blocks every drain", compliant(), []*policyv1.PodDisruptionBudget{budget("chart", minAvailable(&pct))},
			[]string{"DisruptionBudgetBlocksEviction warning spec.replicas [chart]"}},
		{"minAvailable 50% of 3 → 2, one eviction allowed", compliant(), []*policyv1.PodDisruptionBudget{budget("chart", minAvailable(&half))}, []string{}},
		{"two budgets, both blocking → one violation naming both (and the conflict)", compliant(), []*policyv1.PodDisruptionBudget{
			budget("zz", maxZero), budget("aa", minAvailable(&three)),
		}, []string{"DisruptionBudgetBlocksEviction warning spec.replicas [aa zz]", "DisruptionBudgetConflict warning spec.selector [aa zz]"}},
		{"single replica, blocking budget → nothing to drain around", compliant(replicas(1)), []*policyv1.PodDisruptionBudget{budget("chart", maxZero)}, []string{}},
	})
}
