package policy

import (
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
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
		case metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn:
			if len(r.Values) == 0 {
				return false, false
			}
			// In holds when the label has one of the values, NotIn when it has not.
			if (has && slices.Contains(r.Values, got)) != (r.Operator == metav1.LabelSelectorOpIn) {
				match = false
			}
		case metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist:
			if len(r.Values) > 0 {
				return false, false
			}
			if has != (r.Operator == metav1.LabelSelectorOpExists) {
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

// matchesEveryOwnPod reports whether a label selector matches every pod of the StatefulSet: the
// template's labels, plus the labels the controller adds. A requirement on a label the
// controller adds holds for every pod only when it is Exists (the values differ between pods or
// revisions, so In, NotIn and equality hold for some pods at most). ok is false for a malformed
// selector.
func matchesEveryOwnPod(sel *metav1.LabelSelector, tmpl map[string]string) (match, ok bool) {
	if sel == nil {
		return false, true
	}
	if !anyKey(sel, PerPodLabel) {
		return matches(sel, tmpl)
	}
	plain, everyPod := &metav1.LabelSelector{}, true
	for k, v := range sel.MatchLabels {
		if PerPodLabel(k) {
			everyPod = false
			continue
		}
		if plain.MatchLabels == nil {
			plain.MatchLabels = map[string]string{}
		}
		plain.MatchLabels[k] = v
	}
	for _, r := range sel.MatchExpressions {
		if !PerPodLabel(r.Key) {
			plain.MatchExpressions = append(plain.MatchExpressions, r)
			continue
		}
		if _, valid := matches(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{r}}, nil); !valid {
			return false, false
		}
		if r.Operator != metav1.LabelSelectorOpExists {
			everyPod = false
		}
	}
	m, ok := matches(plain, tmpl)
	return ok && m && everyPod, ok
}

// anyKey reports whether f holds for some key of a selector's matchLabels or matchExpressions.
func anyKey(sel *metav1.LabelSelector, f func(key string) bool) bool {
	for k := range sel.MatchLabels {
		if f(k) {
			return true
		}
	}
	for _, r := range sel.MatchExpressions {
		if f(r.Key) {
			return true
		}
	}
	return false
}

// coversOwnPods reports whether an affinity term reaches every pod of the StatefulSet from every
// other: its namespace scope includes the StatefulSet's namespace and its selector, merged with
// matchLabelKeys and mismatchLabelKeys as the scheduler merges them, matches the pods.
//
// The scheduler turns each matchLabelKeys key the incoming pod carries into "key In (its
// value)", and each mismatchLabelKeys key into "key NotIn (its value)"; keys the pod lacks are
// ignored. For a template label every replica has the same value, so matchLabelKeys keeps the
// replicas selected and mismatchLabelKeys excludes them. For the pod's name or ordinal the value
// is the pod's own: matchLabelKeys then selects the pod alone, mismatchLabelKeys every other
// replica. For the revision hash, replicas of one revision are selected by matchLabelKeys: with
// sameRevision, that counts as covering (pod affinity pulls such replicas together); without it,
// it does not (anti-affinity must also keep a new revision's pod off an old one's node).
func coversOwnPods(term *corev1.PodAffinityTerm, sts *appsv1.StatefulSet, nsLabels map[string]string, sameRevision bool) bool {
	if term.LabelSelector == nil || !termReachesNamespace(term, sts.Namespace, nsLabels) {
		return false
	}
	tmpl := sts.Spec.Template.Labels
	for _, k := range term.MatchLabelKeys {
		switch {
		case k == appsv1.ControllerRevisionHashLabelKey:
			if !sameRevision {
				return false
			}
		case PerPodLabel(k):
			return false // selects the incoming pod alone
		}
		// A template label: every replica has the incoming pod's value. Absent: ignored.
	}
	for _, k := range term.MismatchLabelKeys {
		switch {
		case k == appsv1.StatefulSetPodNameLabel || k == appsv1.PodIndexLabel:
			// NotIn the pod's own value: every other replica stays selected.
		case k == appsv1.ControllerRevisionHashLabelKey:
			return false // only other revisions' pods
		default:
			if _, has := tmpl[k]; has {
				return false // the replicas share the value, so they are excluded
			}
		}
	}
	m, ok := matchesEveryOwnPod(term.LabelSelector, tmpl)
	return ok && m
}

// selectsExactlyOwnPods reports whether a term covers the StatefulSet's pods and nothing wider:
// it reaches the StatefulSet's namespace only, and every requirement of spec.selector is also a
// requirement of the term. Only such a term may be upgraded from preferred to required;
// upgrading a wider term would constrain other workloads (required anti-affinity is symmetric).
func selectsExactlyOwnPods(term *corev1.PodAffinityTerm, sts *appsv1.StatefulSet) bool {
	own := sts.Spec.Selector
	if !coversOwnPods(term, sts, nil, false) || own == nil || term.NamespaceSelector != nil ||
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

// termReachesNamespace reports whether a term's namespace scope includes the namespace. With
// the namespace's labels (nsLabels, from the facts) a namespaceSelector is decided fully.
func termReachesNamespace(term *corev1.PodAffinityTerm, ns string, nsLabels map[string]string) bool {
	if sel := term.NamespaceSelector; sel != nil {
		if len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 {
			return true // {} selects every namespace
		}
		if nsLabels != nil {
			if m, ok := matches(sel, withNameLabel(nsLabels, ns)); ok && m {
				return true
			}
		} else if !anyKey(sel, func(k string) bool { return k != corev1.LabelMetadataName }) {
			// Without the namespace's labels, only its name is known: a selector on the name
			// label alone can be decided; one on any other key might not select the namespace,
			// so it is taken as not reaching it (then Stowage adds its own term rather than trust it).
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

// withNameLabel returns the labels with kubernetes.io/metadata.name, which the API server sets on
// every namespace.
func withNameLabel(l map[string]string, ns string) map[string]string {
	if l[corev1.LabelMetadataName] == ns {
		return l
	}
	out := make(map[string]string, len(l)+1)
	for k, v := range l {
		out[k] = v
	}
	out[corev1.LabelMetadataName] = ns
	return out
}

// HostnameAntiAffinity reports whether a required anti-affinity term on kubernetes.io/hostname
// keeps every pod of the StatefulSet off every other's node, as the scheduler merges the term
// (matchLabelKeys, the pod-name label the controller adds, the namespace's labels when given).
func HostnameAntiAffinity(sts *appsv1.StatefulSet, nsLabels map[string]string) bool {
	required := requiredTerms(podAntiAffinity(&sts.Spec.Template.Spec))
	for i := range required {
		if t := &required[i]; t.TopologyKey == v1alpha1.HostnameTopologyKey && coversOwnPods(t, sts, nsLabels, false) {
			return true
		}
	}
	return false
}

// selectsPods reports whether a PodDisruptionBudget-style selector reaches the template labels.
// A nil selector selects nothing and an empty one selects everything, as in policy/v1.
func selectsPods(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	m, ok := matches(sel, podLabels)
	return ok && m
}
