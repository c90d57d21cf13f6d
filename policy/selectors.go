package policy

import (
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Helpers that decide which pods a label selector or affinity term reaches. A StatefulSet's pods
// carry its template's labels (plus labels the controller adds, which selectors here never need),
// so "selects this StatefulSet's pods" means "matches the template labels".
//
// Selectors are matched directly, without labels.Selector: building one validates every key
// with regular expressions, which would dominate the engine's cost. The API server has
// validated the selectors of stored objects, and an invalid operator simply matches nothing.

// matches reports whether a label selector matches a label set, with metav1.LabelSelector
// semantics: nil matches nothing, {} matches everything. ok is false for a malformed selector.
func matches(sel *metav1.LabelSelector, set map[string]string) (match, ok bool) {
	if sel == nil {
		return false, true
	}
	match = true
	for k, v := range sel.MatchLabels {
		if got, has := set[k]; !has || got != v {
			match = false
		}
	}
	for i := range sel.MatchExpressions {
		r := &sel.MatchExpressions[i]
		got, has := set[r.Key]
		switch r.Operator {
		case metav1.LabelSelectorOpIn:
			if len(r.Values) == 0 {
				return false, false
			}
			if !has || !slices.Contains(r.Values, got) {
				match = false
			}
		case metav1.LabelSelectorOpNotIn:
			if len(r.Values) == 0 {
				return false, false
			}
			if has && slices.Contains(r.Values, got) {
				match = false
			}
		case metav1.LabelSelectorOpExists:
			if len(r.Values) > 0 {
				return false, false
			}
			if !has {
				match = false
			}
		case metav1.LabelSelectorOpDoesNotExist:
			if len(r.Values) > 0 {
				return false, false
			}
			if has {
				match = false
			}
		default:
			return false, false
		}
	}
	return match, true
}

// validPodSelector reports whether a StatefulSet selector can select its pods: present,
// well-formed and not empty.
func validPodSelector(sel *metav1.LabelSelector) bool {
	if sel == nil || len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 {
		return false
	}
	_, ok := matches(sel, nil)
	return ok
}

// coversOwnPods reports whether an affinity term reaches every pod of the StatefulSet: its
// namespace scope includes the StatefulSet's namespace and its selector matches the template
// labels. A term that also reaches other pods still covers these. Terms with matchLabelKeys or
// mismatchLabelKeys depend on the incoming pod's labels and are conservatively not counted.
func coversOwnPods(term *corev1.PodAffinityTerm, sts *appsv1.StatefulSet) bool {
	if term.LabelSelector == nil || len(term.MatchLabelKeys) > 0 || len(term.MismatchLabelKeys) > 0 {
		return false
	}
	if !termReachesNamespace(term, sts.Namespace) {
		return false
	}
	m, ok := matches(term.LabelSelector, sts.Spec.Template.Labels)
	return ok && m
}

// selectsExactlyOwnPods reports whether a term covers the StatefulSet's pods and nothing wider:
// it reaches the StatefulSet's namespace only, and every requirement of spec.selector is also a
// requirement of the term. Only such a term may be upgraded from preferred to required;
// upgrading a wider term would constrain other workloads (required anti-affinity is symmetric).
func selectsExactlyOwnPods(term *corev1.PodAffinityTerm, sts *appsv1.StatefulSet) bool {
	own := sts.Spec.Selector
	if !coversOwnPods(term, sts) || own == nil || term.NamespaceSelector != nil ||
		len(term.Namespaces) > 1 || len(term.Namespaces) == 1 && term.Namespaces[0] != sts.Namespace {
		return false
	}
	theirs := term.LabelSelector
	for k, v := range own.MatchLabels {
		if got, ok := theirs.MatchLabels[k]; ok && got == v {
			continue
		}
		if !slices.ContainsFunc(theirs.MatchExpressions, func(r metav1.LabelSelectorRequirement) bool {
			return r.Key == k && r.Operator == metav1.LabelSelectorOpIn && len(r.Values) == 1 && r.Values[0] == v
		}) {
			return false
		}
	}
	for _, want := range own.MatchExpressions {
		if !slices.ContainsFunc(theirs.MatchExpressions, func(r metav1.LabelSelectorRequirement) bool {
			return r.Key == want.Key && r.Operator == want.Operator && sameSet(r.Values, want.Values)
		}) {
			return false
		}
	}
	return true
}

func sameSet(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

func termReachesNamespace(term *corev1.PodAffinityTerm, ns string) bool {
	if sel := term.NamespaceSelector; sel != nil {
		if len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 {
			return true // {} selects every namespace
		}
		// The engine does not have the namespace's labels, only its name. A selector on the name
		// label alone can be decided; one on any other key might not select the namespace, so it
		// is taken as not reaching it (then Stowage adds its own term rather than trust it).
		if onlyNameLabel(sel) {
			if m, ok := matches(sel, map[string]string{corev1.LabelMetadataName: ns}); ok && m {
				return true
			}
		}
	}
	if len(term.Namespaces) == 0 {
		return term.NamespaceSelector == nil
	}
	return slices.Contains(term.Namespaces, ns)
}

func onlyNameLabel(sel *metav1.LabelSelector) bool {
	for k := range sel.MatchLabels {
		if k != corev1.LabelMetadataName {
			return false
		}
	}
	for _, r := range sel.MatchExpressions {
		if r.Key != corev1.LabelMetadataName {
			return false
		}
	}
	return true
}

// selectsPods reports whether a PodDisruptionBudget-style selector reaches the template labels.
// A nil selector selects nothing and an empty one selects everything, as in policy/v1.
func selectsPods(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	m, ok := matches(sel, podLabels)
	return ok && m
}
