package policy

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Callers that keep a namespace's budgets and StatefulSets in an index (the webhook's cache)
// hand the engine only the ones that can matter to an object, instead of the whole namespace:
// a budget is indexed under SelectorKey of its selector, a StatefulSet under LabelKeys of its
// pod template's labels. A lookup by each key of one side then finds a superset of what the
// engine matches on the other, so the answers do not change, and a namespace of a thousand
// StatefulSets costs a request a few lookups rather than a thousand matches.

// AnyLabels is the key of a selector that names no label pair every pod it reaches must carry:
// nil, empty, only expressions, or only the labels each pod gets of its own. Such a selector
// must be matched against everything.
const AnyLabels = "*"

// SelectorKey returns a label pair, "key=value", that the template labels of every pod set the
// selector reaches carry (BudgetsSelecting, overlapping, the budget rules), or AnyLabels: a key
// of spec.selector.matchLabels other than the per-pod labels. Any such key is correct; the
// narrower it is, the fewer objects a lookup returns, so it is the first of indexKeyPreference
// the selector has (labels that name one release), or else the lexically smallest. Charts label
// their StatefulSets alike (app.kubernetes.io/component=primary in every release), and a key
// they all share would make the lookup as wide as the namespace.
func SelectorKey(sel *metav1.LabelSelector) string {
	if sel == nil {
		return AnyLabels
	}
	for _, k := range indexKeyPreference {
		if v, ok := sel.MatchLabels[k]; ok {
			return k + "=" + v
		}
	}
	best := ""
	for k := range sel.MatchLabels {
		if !PerPodLabel(k) && (best == "" || k < best) {
			best = k
		}
	}
	if best == "" {
		return AnyLabels
	}
	return best + "=" + sel.MatchLabels[best]
}

// indexKeyPreference are the selector keys SelectorKey takes first: those that name one helm
// release (Kubernetes' recommended label, and helm 2's), then the application.
var indexKeyPreference = []string{"app.kubernetes.io/instance", "release", "app.kubernetes.io/name", "app"}

// LabelKeys returns the keys a selector reaching these labels may have: "key=value" for each
// label, and AnyLabels. A label key has no "=", so the pair is unambiguous.
func LabelKeys(labels map[string]string) []string {
	out := make([]string, 0, len(labels)+1)
	for k, v := range labels {
		out = append(out, k+"="+v)
	}
	return append(out, AnyLabels)
}

// ClaimOwnerNames returns the names a StatefulSet must have to have made the claim from one of
// its templates (the claim is named template-statefulset-ordinal): every suffix of the name,
// without its ordinal, that follows a dash. madeFromTemplate matches only StatefulSets so named.
func ClaimOwnerNames(claim string) []string {
	i := strings.LastIndexByte(claim, '-')
	if i < 0 || i == len(claim)-1 || strings.Trim(claim[i+1:], "0123456789") != "" {
		return nil
	}
	rest := claim[:i]
	var out []string
	for j := 0; j < len(rest)-1; j++ {
		if rest[j] == '-' {
			out = append(out, rest[j+1:])
		}
	}
	return out
}
