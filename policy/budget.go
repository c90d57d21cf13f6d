package policy

// The PodDisruptionBudget Stowage keeps for a StatefulSet, and which budgets select its pods.
//
// Reads: metadata (name, namespace, uid), spec.replicas, spec.selector and
// spec.template.metadata.labels; the PodDisruptionBudgets among the facts; the policy's
// spec.disruptionBudget.
//
// A drain must never take down more than one replica. A PodDisruptionBudget with maxUnavailable
// 1 makes the eviction API enforce that. Stowage wants one for every replicated StatefulSet,
// unless a budget that already selects the pods (a chart's own) does the job: two budgets over
// one pod make the eviction API refuse to evict it at all (rule DisruptionBudgetConflict). The
// rules on budgets are rule_budget_conflict.go, rule_budget_blocks_eviction.go and
// rule_budget_too_loose.go.

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

const (
	// ManagedByLabel and ManagedByValue mark the PodDisruptionBudgets Stowage owns.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of ManagedByLabel on Stowage's budgets.
	ManagedByValue = "stowage"
	// StatefulSetLabel names the StatefulSet a Stowage budget protects.
	StatefulSetLabel = "stowage.dev/statefulset"
	// PolicyAnnotation names the policy that asked for a Stowage budget.
	PolicyAnnotation = "stowage.dev/policy"
	// budgetSuffix is appended to the StatefulSet's name to name its budget.
	budgetSuffix = "-stowage"
)

// BudgetName is the name of the PodDisruptionBudget Stowage keeps for a StatefulSet: its name
// and "-stowage", or, when that is too long for a name, a prefix of its name and a hash of the
// whole, so two long names that share a prefix never share a budget.
func BudgetName(statefulSet string) string {
	name := statefulSet + budgetSuffix
	if len(name) <= validation.DNS1123SubdomainMaxLength {
		return name
	}
	sum := fnv.New32a()
	sum.Write([]byte(statefulSet))
	tail := fmt.Sprintf("-%08x%s", sum.Sum32(), budgetSuffix)
	prefix := strings.TrimRight(statefulSet[:validation.DNS1123SubdomainMaxLength-len(tail)], "-.")
	return prefix + tail
}

// IsOwnBudget reports whether a budget is the one Stowage keeps for the named StatefulSet.
func IsOwnBudget(pdb *policyv1.PodDisruptionBudget, statefulSet string) bool {
	return pdb.Labels[ManagedByLabel] == ManagedByValue && pdb.Name == BudgetName(statefulSet)
}

// BudgetsSelecting returns the budgets among pdbs, in the StatefulSet's namespace, that select
// its pods: all of them, or some, as a per-replica budget on statefulset.kubernetes.io/pod-name
// does. A budget over even one replica counts, because a second budget over that replica would
// make the eviction API refuse to evict it.
func BudgetsSelecting(sts *appsv1.StatefulSet, pdbs []*policyv1.PodDisruptionBudget) []*policyv1.PodDisruptionBudget {
	var out []*policyv1.PodDisruptionBudget
	for _, pdb := range pdbs {
		if pdb.Namespace == sts.Namespace && selectsSomePods(pdb.Spec.Selector, sts.Spec.Template.Labels) {
			out = append(out, pdb)
		}
	}
	return out
}

// perPodLabels are the labels the StatefulSet controller gives each pod on top of its template's:
// the pod's name and ordinal differ from pod to pod, the revision hash from revision to revision.
var perPodLabels = []string{appsv1.StatefulSetPodNameLabel, appsv1.PodIndexLabel, appsv1.ControllerRevisionHashLabelKey}

// PerPodLabel reports whether key is one of the labels the StatefulSet controller gives each pod
// on top of its template's: a budget's selector may require any value of it and still select
// some of the pods (see BudgetsSelecting).
func PerPodLabel(key string) bool { return slices.Contains(perPodLabels, key) }

// selectsSomePods reports whether a budget's selector reaches a StatefulSet's pods: their
// template labels, with any value of the labels each pod gets of its own.
func selectsSomePods(sel *metav1.LabelSelector, template map[string]string) bool {
	if selectsPods(sel, template) {
		return true
	}
	if sel == nil || !anyKey(sel, PerPodLabel) {
		return false // most selectors: no label of the pods' own to narrow
	}
	narrowed := &metav1.LabelSelector{MatchLabels: map[string]string{}}
	perPod := false
	for k, v := range sel.MatchLabels {
		if PerPodLabel(k) {
			perPod = true
			continue
		}
		narrowed.MatchLabels[k] = v
	}
	for _, r := range sel.MatchExpressions {
		if PerPodLabel(r.Key) && r.Operator != metav1.LabelSelectorOpDoesNotExist {
			perPod = true
			continue
		}
		narrowed.MatchExpressions = append(narrowed.MatchExpressions, r)
	}
	return perPod && selectsPods(narrowed, template)
}

// budgetNames returns the budgets' names, sorted.
func budgetNames(pdbs []*policyv1.PodDisruptionBudget) []string {
	names := make([]string, len(pdbs))
	for i, pdb := range pdbs {
		names[i] = pdb.Name
	}
	slices.Sort(names)
	return names
}

// desiredBudget returns the PodDisruptionBudget Stowage wants for the StatefulSet, or nil.
func desiredBudget(sts *appsv1.StatefulSet, replicas int32, p *v1alpha1.PlacementPolicy, facts *Facts) *policyv1.PodDisruptionBudget {
	b := &p.Spec.DisruptionBudget
	if b.Mode != v1alpha1.Enabled || replicas < b.MinReplicas || !validPodSelector(sts.Spec.Selector) {
		return nil
	}
	if sts.Name == "" {
		// generateName: the API server names the StatefulSet after admission, so its budget
		// cannot be named yet. The budget controller creates it once the StatefulSet exists.
		return nil
	}
	for _, pdb := range BudgetsSelecting(sts, facts.PDBs) {
		if !IsOwnBudget(pdb, sts.Name) {
			return nil // someone else's budget already protects the pods
		}
	}
	selector, ok := narrowBudgetSelector(sts, facts.StatefulSets)
	if !ok {
		return nil // another StatefulSet's pods cannot be left out: SelectorOverlap says so
	}
	pdb := &policyv1.PodDisruptionBudget{
		TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        BudgetName(sts.Name),
			Namespace:   sts.Namespace,
			Labels:      map[string]string{ManagedByLabel: ManagedByValue},
			Annotations: map[string]string{PolicyAnnotation: p.Name},
		},
		Spec: policyv1.PodDisruptionBudgetSpec{
			Selector:                   selector,
			MaxUnavailable:             ptrTo(*b.MaxUnavailable),
			UnhealthyPodEvictionPolicy: ptrTo(*b.UnhealthyPodEvictionPolicy),
		},
	}
	if len(validation.IsValidLabelValue(sts.Name)) == 0 {
		pdb.Labels[StatefulSetLabel] = sts.Name
	}
	if sts.UID != "" {
		pdb.OwnerReferences = []metav1.OwnerReference{{
			APIVersion:         "apps/v1",
			Kind:               "StatefulSet",
			Name:               sts.Name,
			UID:                sts.UID,
			Controller:         ptrTo(true),
			BlockOwnerDeletion: ptrTo(true),
		}}
	}
	return pdb
}

func ptrTo[T any](v T) *T { return &v }
