package policy

// Rule DisruptionBudgetBlocksEviction.
//
// Reads: spec.replicas, spec.selector and spec.template.metadata.labels; the
// PodDisruptionBudgets among the facts (spec.selector, spec.maxUnavailable, spec.minAvailable).
//
// A budget that allows no voluntary disruption (minAvailable at or above the replica count, or
// maxUnavailable 0) blocks every drain of a node that runs one of the pods. A warning, because
// the fix is on the budget, not on this object. One violation names every such budget (all in
// the object's own namespace) and lists them in Violation.Budgets.

import (
	"strings"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// RuleDisruptionBudgetBlocksEviction reports a budget over the pods that allows no eviction.
const RuleDisruptionBudgetBlocksEviction RuleID = "DisruptionBudgetBlocksEviction"

func init() {
	addChecker(&checker{
		rules: []RuleInfo{{ID: RuleDisruptionBudgetBlocksEviction, Severity: SeverityWarning,
			Summary: "the PodDisruptionBudget over a StatefulSet's pods must allow one eviction"}},
		check: checkBudgetBlocksEviction,
	})
}

// BlocksEviction reports whether a budget over n healthy pods allows no voluntary disruption.
func BlocksEviction(pdb *policyv1.PodDisruptionBudget, replicas int32) bool {
	if mu := pdb.Spec.MaxUnavailable; mu != nil {
		v, err := intstr.GetScaledValueFromIntOrPercent(mu, int(replicas), true)
		return err == nil && v <= 0
	}
	if ma := pdb.Spec.MinAvailable; ma != nil {
		v, err := intstr.GetScaledValueFromIntOrPercent(ma, int(replicas), true)
		return err == nil && int32(v) >= replicas
	}
	return false
}

func checkBudgetBlocksEviction(c *context) {
	if !c.replicated() || c.pods == nil {
		return
	}
	var blocking []*policyv1.PodDisruptionBudget
	for _, pdb := range BudgetsSelecting(c.sts, c.facts.PDBs) {
		if BlocksEviction(pdb, c.replicas) {
			blocking = append(blocking, pdb)
		}
	}
	if len(blocking) == 0 {
		return
	}
	names := budgetNames(blocking)
	which, verb, it := "the PodDisruptionBudget "+names[0], "allows", "it"
	if len(names) > 1 {
		which, verb, it = "the PodDisruptionBudgets "+strings.Join(names, ", "), "allow", "each of them"
	}
	c.reportBudgets(RuleDisruptionBudgetBlocksEviction, SeverityWarning, pathReplicas, names,
		"%s over these pods %s no voluntary disruption at %d replicas (minAvailable at or above the replica count, "+
			"or maxUnavailable 0), so every drain blocks; set maxUnavailable: 1 on %s instead", which, verb, c.replicas, it)
}
