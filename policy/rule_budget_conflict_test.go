package policy

import (
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestBudgetConflict(t *testing.T) {
	zero := intstr.FromInt32(0)
	runBudgetCases(t, []budgetCase{
		{"one chart budget with maxUnavailable 1 → fine", compliant(), []*policyv1.PodDisruptionBudget{budget("chart")}, []string{}},
		{"two budgets over the same pods → conflict naming both", compliant(), []*policyv1.PodDisruptionBudget{budget("extra"), budget("chart")},
			[]string{"DisruptionBudgetConflict warning spec.selector [chart extra]"}},
		{"budget with a nil selector selects nothing → no conflict", compliant(), []*policyv1.PodDisruptionBudget{budget("chart"), budget("null", func(b *policyv1.PodDisruptionBudget) { b.Spec.Selector = nil })}, []string{}},
		{"budget with an empty selector selects every pod → conflict", compliant(), []*policyv1.PodDisruptionBudget{budget("chart"), budget("all", func(b *policyv1.PodDisruptionBudget) { b.Spec.Selector = &metav1.LabelSelector{} })},
			[]string{"DisruptionBudgetConflict warning spec.selector [all chart]"}},
		{"single replica, two budgets → nothing to drain around", compliant(replicas(1)), []*policyv1.PodDisruptionBudget{budget("chart"), budget("extra")}, []string{}},
		{"two budgets, one blocking → a conflict and a blocking budget", compliant(), []*policyv1.PodDisruptionBudget{
			budget("chart"), budget("strict", func(b *policyv1.PodDisruptionBudget) { b.Spec.MaxUnavailable = &zero }),
		}, []string{"DisruptionBudgetBlocksEviction warning spec.replicas [strict]", "DisruptionBudgetConflict warning spec.selector [chart strict]"}},
	})
}
