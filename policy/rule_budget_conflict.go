package policy

// Rule DisruptionBudgetConflict.
//
// Reads: spec.replicas, spec.selector and spec.template.metadata.labels; the
// PodDisruptionBudgets among the facts.
//
// The eviction API refuses to evict a pod that more than one budget selects, so two budgets over
// one StatefulSet's pods (a chart's and another, or a per-replica budget beside one over all of
// them) make every drain fail. A warning, because the fix is on the budgets, not on this object.
// The violation names the budgets (all in the object's own namespace) and lists them in
// Violation.Budgets, so the webhook, `stowage check` and the audit report the same thing.

import "strings"

// RuleDisruptionBudgetConflict reports two or more budgets over the same pods.
const RuleDisruptionBudgetConflict RuleID = "DisruptionBudgetConflict"

func init() {
	addChecker(&checker{
		rules: []RuleInfo{{ID: RuleDisruptionBudgetConflict, Severity: SeverityWarning,
			Summary: "exactly one PodDisruptionBudget may select a StatefulSet's pods"}},
		check: checkBudgetConflict,
	})
}

func checkBudgetConflict(c *context) {
	if !c.replicated() || c.pods == nil {
		return
	}
	if over := BudgetsSelecting(c.sts, c.facts.PDBs); len(over) > 1 {
		names := budgetNames(over)
		c.reportBudgets(RuleDisruptionBudgetConflict, SeverityWarning, pathSelector, names,
			"%d PodDisruptionBudgets (%s) select these pods, and the eviction API refuses to evict a pod that more than one "+
				"budget selects, so every drain fails; keep exactly one budget with maxUnavailable: 1", len(over), strings.Join(names, ", "))
	}
}
