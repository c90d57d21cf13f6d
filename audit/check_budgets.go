package audit

// Findings NoPDB, MultiplePDBs, PDBBlocksEviction and PDBExceedsQuorum.
//
// Reads: spec.replicas and spec.template.metadata.labels; the PodDisruptionBudgets of the
// namespace (spec.selector, spec.maxUnavailable, spec.minAvailable).
//
// A drain must not take more replicas than the application survives. Without a budget it may
// evict them all at once. Two budgets over one pod make the eviction API refuse to evict it, and
// a budget that allows no disruption blocks every drain. A budget that allows more disruptions
// than a majority quorum survives (for n replicas, more than n − (⌊n/2⌋+1)) lets a drain take the
// quorum. Only replicated StatefulSets are checked, as in the engine. With two replicas a
// majority quorum survives no disruption at all, so PDBExceedsQuorum starts at three.

import (
	"fmt"
	"strings"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/stowage-dev/stowage/policy"
)

func checkBudgets(add func(Finding), budgets []*policyv1.PodDisruptionBudget, n int32) PDBSummary {
	sum := PDBSummary{Status: PDBOK}
	for _, b := range budgets {
		sum.Names = append(sum.Names, b.Name)
	}
	if len(budgets) == 0 {
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
	if n < 2 {
		return sum
	}
	if len(budgets) > 1 {
		sum.Status = PDBMultiple
		add(Finding{ID: MultiplePDBs, Severity: SeverityWarning, Field: "spec.selector", PDBs: sum.Names,
			Message: fmt.Sprintf("%d PodDisruptionBudgets (%s) select these pods, and the eviction API refuses to evict a pod "+
				"that more than one budget selects, so every drain fails; keep exactly one budget with maxUnavailable: 1",
				len(budgets), strings.Join(sum.Names, ", "))})
	}
	var blocking []string
	for _, b := range budgets {
		if policy.BlocksEviction(b, n) {
			blocking = append(blocking, b.Name)
		}
	}
	if len(blocking) > 0 {
		if sum.Status == PDBOK {
			sum.Status = PDBBlocking
		}
		add(Finding{ID: PDBBlocksEviction, Severity: SeverityWarning, Field: "spec.replicas", PDBs: blocking,
			Message: fmt.Sprintf("the PodDisruptionBudget %s allows no voluntary disruption at %d replicas (minAvailable at or above "+
				"the replica count, or maxUnavailable 0), so every drain blocks; set maxUnavailable: 1 instead",
				strings.Join(blocking, ", "), n)})
	}
	tolerated := n - quorum(n)
	if tolerated < 1 {
		return sum
	}
	for _, b := range budgets {
		mu, ok := maxUnavailable(b, n)
		if !ok || mu <= tolerated {
			continue
		}
		if sum.Status == PDBOK {
			sum.Status = PDBLooserThanQuorum
		}
		add(Finding{ID: PDBExceedsQuorum, Severity: SeverityWarning, PDBs: []string{b.Name},
			Message: fmt.Sprintf("the PodDisruptionBudget %s lets %d of %d replicas go at once, but a majority quorum of %d survives "+
				"only %d; set maxUnavailable: %d on it", b.Name, mu, n, quorum(n), tolerated, tolerated)})
	}
	return sum
}

// maxUnavailable is how many of n pods a budget lets the eviction API take, scaled and rounded
// up as the disruption controller does.
func maxUnavailable(b *policyv1.PodDisruptionBudget, n int32) (int32, bool) {
	if mu := b.Spec.MaxUnavailable; mu != nil {
		v, err := intstr.GetScaledValueFromIntOrPercent(mu, int(n), true)
		return int32(v), err == nil
	}
	if ma := b.Spec.MinAvailable; ma != nil {
		v, err := intstr.GetScaledValueFromIntOrPercent(ma, int(n), true)
		return n - int32(v), err == nil
	}
	return 0, false
}
