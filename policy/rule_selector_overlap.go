package policy

// Rule SelectorOverlap, and the narrowing of Stowage's budget around another StatefulSet's pods.
//
// Reads: spec.selector and spec.template.metadata.labels of the StatefulSet and of the other
// StatefulSets of its namespace among the facts.
//
// Charts often give two StatefulSets of one application nested selectors: Elasticsearch's
// master set selects {app: es}, its data set {app: es, role: data}. The master's selector then
// also selects the data pods. A budget over it puts every data pod under two budgets, and the
// eviction API refuses to evict a pod that two budgets select, so every drain fails; and a
// required anti-affinity term over it keeps master and data pods off each other's nodes too.
// The overlap is reported, and Stowage's own budget is narrowed with NotIn requirements that
// leave the other set's pods out, or not generated at all when no label tells the two apart.

import (
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RuleSelectorOverlap reports a selector that also selects another StatefulSet's pods.
const RuleSelectorOverlap RuleID = "SelectorOverlap"

func init() {
	addChecker(&checker{
		rules: []RuleInfo{{ID: RuleSelectorOverlap, Severity: SeverityWarning,
			Summary: "a StatefulSet's selector must not select another StatefulSet's pods"}},
		check: checkSelectorOverlap,
	})
}

// overlapping returns the other StatefulSets of the namespace whose pods sel selects.
func overlapping(sts *appsv1.StatefulSet, sel *metav1.LabelSelector, sets []*appsv1.StatefulSet) []*appsv1.StatefulSet {
	var out []*appsv1.StatefulSet
	for _, o := range sets {
		if o.Namespace != sts.Namespace || o.Name == sts.Name || o.UID != "" && o.UID == sts.UID {
			continue
		}
		if selectsPods(sel, o.Spec.Template.Labels) {
			out = append(out, o)
		}
	}
	return out
}

func checkSelectorOverlap(c *context) {
	if c.pods == nil || !c.replicated() {
		return
	}
	if n := len(overlapping(c.sts, c.pods, c.facts.StatefulSets)); n > 0 {
		c.report(RuleSelectorOverlap, SeverityWarning, pathSelector,
			"spec.selector also selects the pods of %d other StatefulSet(s) in this namespace, so a budget over it "+
				"puts their pods under two budgets (every eviction of them fails) and required anti-affinity over it keeps "+
				"their pods off this StatefulSet's nodes; give this StatefulSet a label in spec.selector and its template "+
				"that the others' pods do not carry (spec.selector is immutable: recreate the StatefulSet, e.g. with "+
				"kubectl delete --cascade=orphan)", n)
	}
}

// narrowBudgetSelector returns the selector for Stowage's budget: the StatefulSet's own, plus a
// NotIn requirement for each other StatefulSet whose pods it also selects, on a label their
// template carries and this one's does not carry with that value. ok is false when some other
// StatefulSet's pods cannot be told apart, and no budget must be generated.
func narrowBudgetSelector(sts *appsv1.StatefulSet, sets []*appsv1.StatefulSet) (*metav1.LabelSelector, bool) {
	sel := sts.Spec.Selector.DeepCopy()
	for _, o := range overlapping(sts, sts.Spec.Selector, sets) {
		keys := make([]string, 0, len(o.Spec.Template.Labels))
		for k := range o.Spec.Template.Labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		found := false
		for _, k := range keys {
			v := o.Spec.Template.Labels[k]
			if own, has := sts.Spec.Template.Labels[k]; has && own == v {
				continue
			}
			sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
				Key: k, Operator: metav1.LabelSelectorOpNotIn, Values: []string{v}})
			found = true
			break
		}
		if !found {
			return nil, false
		}
	}
	return sel, true
}
