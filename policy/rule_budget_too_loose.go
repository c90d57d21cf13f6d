package policy

// Rule DisruptionBudgetTooLoose.
//
// Reads: a PodDisruptionBudget's spec (selector, maxUnavailable, minAvailable) and labels; the
// StatefulSets of its namespace (metadata, spec.replicas, spec.template.metadata.labels); for
// each of them the policy that selects it (spec.disruptionBudget).
//
// One budget over a StatefulSet's pods is all the eviction API needs, and Stowage leaves a chart's
// own budget in place of its own. A budget that lets a drain take more replicas at once than the
// policy's maxUnavailable, and for three replicas or more more than a majority quorum survives,
// then silently replaces Stowage's protection: anyone with PodDisruptionBudget rights (the
// default edit role) can make a database drainable all at once with a maxUnavailable: 100%
// budget, and a chart rendering minAvailable: 1 for three replicas does the same by accident.
// The budget is judged when it is written (the validating webhook denies it under Deny) and
// from each StatefulSet it covers (`stowage check` and the audit report it as a warning, since
// the fix is on the budget, and the warning names it). Stowage's own budgets are never judged.
// Two replicas are held to the policy's maxUnavailable only: a majority quorum of two survives no
// disruption, and a budget that allows none blocks every drain.

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// RuleDisruptionBudgetTooLoose reports a budget that lets a drain take more replicas than allowed.
const RuleDisruptionBudgetTooLoose RuleID = "DisruptionBudgetTooLoose"

func init() {
	addChecker(&checker{
		rules: []RuleInfo{{ID: RuleDisruptionBudgetTooLoose, Severity: SeverityError,
			Summary: "a PodDisruptionBudget over a StatefulSet's pods must not let a drain take more replicas than the policy's maxUnavailable or a majority quorum allows"}},
		check: checkBudgetsTooLoose,
	})
}

// budgetLimit is the most replicas of n that a budget may let go at once under the policy: its
// maxUnavailable, and from three replicas on no more than a majority quorum survives; never
// below one, so a drain can always proceed. why says which of these sets the limit.
func budgetLimit(p *v1alpha1.PlacementPolicySpec, n int32) (limit int32, why string) {
	limit = 1
	if mu := p.DisruptionBudget.MaxUnavailable; mu != nil {
		if v, err := intstr.GetScaledValueFromIntOrPercent(mu, int(n), true); err == nil {
			limit = int32(v)
		}
	}
	why = fmt.Sprintf("the policy's maxUnavailable allows %d", limit)
	// With two replicas a majority quorum survives no disruption at all, and a budget that
	// allows none blocks every drain, so the quorum only limits budgets from three replicas on.
	if q := Quorum(n, nil); n >= 3 && n-q <= limit {
		limit = n - q
		why = fmt.Sprintf("a majority quorum of %d survives only %d", q, limit)
	}
	if limit < 1 {
		limit, why = 1, "a drain must be able to take one"
	}
	return limit, why
}

// budgetAllows is how many of n replicas a budget lets the eviction API take at once, scaled as
// the disruption controller does (maxUnavailable rounded up, minAvailable rounded up). ok is
// false for a budget that sets neither or does not parse.
func budgetAllows(pdb *policyv1.PodDisruptionBudget, n int32) (allows int32, path *field.Path, ok bool) {
	if mu := pdb.Spec.MaxUnavailable; mu != nil {
		v, err := intstr.GetScaledValueFromIntOrPercent(mu, int(n), true)
		return int32(v), pathSpec.Child("maxUnavailable"), err == nil
	}
	if ma := pdb.Spec.MinAvailable; ma != nil {
		v, err := intstr.GetScaledValueFromIntOrPercent(ma, int(n), true)
		return n - int32(v), pathSpec.Child("minAvailable"), err == nil
	}
	return 0, nil, false
}

// budgetGuards reports whether a policy asks for budgets over this StatefulSet at all.
func budgetGuards(p *v1alpha1.PlacementPolicySpec, sts *appsv1.StatefulSet, replicas int32) bool {
	return p.DisruptionBudget.Mode == v1alpha1.Enabled && replicas >= 2 && replicas >= p.DisruptionBudget.MinReplicas &&
		sts.Name != "" && validPodSelector(sts.Spec.Selector)
}

// tooLoose reports whether a budget allows more of a StatefulSet's replicas to go at once than
// the policy does, and if so how many it allows, the limit, why, and the budget's offending field.
func tooLoose(pdb *policyv1.PodDisruptionBudget, sts *appsv1.StatefulSet, replicas int32, p *v1alpha1.PlacementPolicySpec) (allows, limit int32, why string, path *field.Path, loose bool) {
	if IsOwnBudget(pdb, sts.Name) || !budgetGuards(p, sts, replicas) || pdb.Namespace != sts.Namespace ||
		!selectsPods(pdb.Spec.Selector, sts.Spec.Template.Labels) {
		return 0, 0, "", nil, false
	}
	allows, path, ok := budgetAllows(pdb, replicas)
	limit, why = budgetLimit(p, replicas)
	if !ok || allows <= limit {
		return 0, 0, "", nil, false
	}
	return allows, limit, why, path, true
}

// checkBudgetsTooLoose judges, from a StatefulSet, the budgets over its pods. A warning: the fix
// is on the budget.
func checkBudgetsTooLoose(c *context) {
	if c.pods == nil {
		return
	}
	for _, pdb := range c.facts.PDBs {
		if allows, limit, why, _, loose := tooLoose(pdb, c.sts, c.replicas, c.policy); loose {
			c.reportBudgets(RuleDisruptionBudgetTooLoose, SeverityWarning, pathSelector, []string{pdb.Name},
				"the PodDisruptionBudget %s lets a drain take %d of these %d replicas at once, but %s; "+
					"set maxUnavailable: %d on it, or delete it and let Stowage keep its own", pdb.Name, allows, c.replicas, why, limit)
		}
	}
}

// judgeBudget judges a budget being written against one StatefulSet it covers. On Update, a
// budget that was already too loose for it only warns.
func judgeBudget(pdb, old *policyv1.PodDisruptionBudget, sts *appsv1.StatefulSet, p *v1alpha1.PlacementPolicy) []Violation {
	replicas := stsReplicas(sts)
	allows, limit, why, path, loose := tooLoose(pdb, sts, replicas, &p.Spec)
	if !loose {
		return nil
	}
	sev := SeverityError
	if old != nil {
		if _, _, _, _, was := tooLoose(old, sts, replicas, &p.Spec); was {
			sev = SeverityWarning // already so: never block an unrelated change
		}
	}
	msg := fmt.Sprintf("this budget lets a drain take %d of the %d replicas of a StatefulSet it covers at once, but %s; "+
		"set maxUnavailable: %d, or delete the budget and let Stowage keep its own", allows, replicas, why, limit)
	return finish([]Violation{{Rule: RuleDisruptionBudgetTooLoose, Field: path, Message: msg, Severity: sev}}, p.Spec.EnforcementAction)
}
