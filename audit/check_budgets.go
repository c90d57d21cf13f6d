package audit

// Finding NoPDB, and the state of the budgets over a StatefulSet's pods.
//
// Reads: spec.replicas; the PodDisruptionBudgets that select the pods; the engine's violations
// of the rules on budgets.
//
// A drain must not take more replicas than the application survives. Without a budget it may
// evict them all at once: NoPDB says so from two replicas up. What is wrong with the budgets
// that exist (two over one pod, one that blocks every drain, one looser than the policy or a
// majority quorum allows) is the engine's to say, with the same rules as the webhook and
// `stowage check` (DisruptionBudgetConflict, DisruptionBudgetBlocksEviction,
// DisruptionBudgetTooLoose); the audit only sums those findings up in the StatefulSet's row.

import (
	"fmt"
	"slices"

	"github.com/stowage-dev/stowage/policy"
)

// budgetStatuses are the engine's rules on budgets, with the status each gives, worst first.
var budgetStatuses = []struct {
	rule   policy.RuleID
	status PDBStatus
}{
	{policy.RuleDisruptionBudgetConflict, PDBMultiple},
	{policy.RuleDisruptionBudgetBlocksEviction, PDBBlocking},
	{policy.RuleDisruptionBudgetTooLoose, PDBLooserThanQuorum},
}

func checkBudgets(add func(Finding), v *verdict, n int32) PDBSummary {
	sum := PDBSummary{Status: PDBOK}
	for _, b := range v.budgets {
		sum.Names = append(sum.Names, b.Name)
	}
	if len(v.budgets) == 0 {
		if n < 2 {
			sum.Status = PDBNotNeeded
			return sum
		}
		sum.Status = PDBNone
		add(Finding{ID: NoPDB, Severity: SeverityWarning,
			Message: fmt.Sprintf("no PodDisruptionBudget selects these %d replicas, so a node drain may evict several at once; "+
				"add one with maxUnavailable: 1 (Stowage keeps one when the policy's disruptionBudget is Enabled)", n)})
		return sum
	}
	for _, s := range budgetStatuses {
		if slices.ContainsFunc(v.violations, func(vi policy.Violation) bool { return vi.Rule == s.rule }) {
			sum.Status = s.status
			return sum
		}
	}
	return sum
}
