package policy

import (
	"slices"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// EligibleNodes returns the nodes on which a pod with this spec may be scheduled, judging by
// what does not depend on other pods, as the scheduler's filters do: nodeSelector and required
// node affinity (NodeAffinity), taints with the NoSchedule or NoExecute effect against the
// tolerations (TaintToleration), cordoned nodes (NodeUnschedulable), and the topology keys of
// DoNotSchedule spread constraints, which a node must carry (PodTopologySpread: "missing
// required label"). Resources and ports are not considered. The audit uses it too, so it is
// exported.
func EligibleNodes(spec *corev1.PodSpec, nodes []*corev1.Node) []*corev1.Node {
	f := newNodeFilterFor(spec, nodes)
	var out []*corev1.Node
	for _, n := range nodes {
		if f.eligible(n) {
			out = append(out, n)
		}
	}
	return out
}

// NodeEligible reports whether a pod with this spec may be scheduled on the node (see
// EligibleNodes). To judge many nodes, EligibleNodes compiles the spec once.
func NodeEligible(spec *corev1.PodSpec, n *corev1.Node) bool {
	return newNodeFilter(spec).eligible(n)
}

// nodeFilter is a pod spec compiled for judging nodes: the scheduler's own matching, from
// k8s.io/component-helpers, so that Stowage agrees with it on every operator (In and NotIn in
// one term, Gt, Lt, matchFields) and on tolerations.
type nodeFilter struct {
	affinity    nodeaffinity.RequiredNodeAffinity
	tolerations []corev1.Toleration
	spreadKeys  []string
}

func newNodeFilter(spec *corev1.PodSpec) *nodeFilter {
	f := &nodeFilter{affinity: nodeaffinity.NewRequiredNodeAffinity(spec.NodeSelector, spec.Affinity), tolerations: spec.Tolerations}
	for _, c := range spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable == corev1.DoNotSchedule && !slices.Contains(f.spreadKeys, c.TopologyKey) {
			f.spreadKeys = append(f.spreadKeys, c.TopologyKey)
		}
	}
	return f
}

// longValueList is the length from which newNodeFilterFor cuts an In or NotIn value list down.
const longValueList = 16

// newNodeFilterFor compiles the spec for judging these nodes only. The scheduler's matching
// scans a requirement's values for every node, so a node affinity term with 100,000 values
// against 2,000 nodes would cost 200 million string comparisons. A value that no node carries
// for the key cannot decide In or NotIn on any of these nodes, so long value lists are first cut
// down to the values some node carries: one pass over the values, one over the nodes per key.
// What the scheduler would reject stays rejected: an invalid value is kept (the term then does
// not parse and matches nothing), and a list left empty keeps one value no node carries.
func newNodeFilterFor(spec *corev1.PodSpec, nodes []*corev1.Node) *nodeFilter {
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return newNodeFilter(spec)
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	long := false
	for i := range terms {
		for _, r := range terms[i].MatchExpressions {
			long = long || len(r.Values) >= longValueList
		}
	}
	if !long {
		return newNodeFilter(spec)
	}
	carried := map[string]map[string]struct{}{} // key → values some node carries
	valuesOf := func(key string) map[string]struct{} {
		if set, ok := carried[key]; ok {
			return set
		}
		set := map[string]struct{}{}
		for _, n := range nodes {
			if v, ok := n.Labels[key]; ok {
				set[v] = struct{}{}
			}
		}
		carried[key] = set
		return set
	}
	cut := make([]corev1.NodeSelectorTerm, len(terms))
	for i := range terms {
		cut[i] = *terms[i].DeepCopy()
		for j := range cut[i].MatchExpressions {
			r := &cut[i].MatchExpressions[j]
			if len(r.Values) < longValueList || r.Operator != corev1.NodeSelectorOpIn && r.Operator != corev1.NodeSelectorOpNotIn {
				continue
			}
			have := valuesOf(r.Key)
			kept := make([]string, 0, min(len(have), len(r.Values)))
			var dropped, invalid string
			for _, v := range r.Values {
				if _, ok := have[v]; ok {
					kept = append(kept, v)
					continue
				}
				if dropped == "" {
					dropped = v
				}
				if invalid == "" && !plainLabelValue(v) && len(validation.IsValidLabelValue(v)) > 0 {
					invalid = v
				}
			}
			switch {
			case invalid != "":
				kept = append(kept, invalid)
			case len(kept) == 0:
				kept = append(kept, dropped)
			}
			r.Values = kept
		}
	}
	s := *spec
	s.Affinity = a.DeepCopy()
	s.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = cut
	return newNodeFilter(&s)
}

// plainLabelValue reports, without a regular expression, whether v is certainly a valid label
// value: at most 63 ASCII letters, digits, '-', '_' or '.', beginning and ending with a letter or
// digit. Anything else goes to validation.IsValidLabelValue.
func plainLabelValue(v string) bool {
	if v == "" {
		return true
	}
	if len(v) > validation.LabelValueMaxLength {
		return false
	}
	alnum := func(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' }
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !alnum(c) && (i == 0 || i == len(v)-1 || c != '-' && c != '_' && c != '.') {
			return false
		}
	}
	return true
}

var unschedulableTaint = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

func (f *nodeFilter) eligible(n *corev1.Node) bool {
	if n.Spec.Unschedulable && !corev1helpers.TolerationsTolerateTaint(logr.Discard(), f.tolerations, &unschedulableTaint, false) {
		return false
	}
	if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(logr.Discard(), n.Spec.Taints, f.tolerations, hardTaint, false); untolerated {
		return false
	}
	for _, k := range f.spreadKeys {
		if _, ok := n.Labels[k]; !ok {
			return false
		}
	}
	ok, err := f.affinity.Match(n)
	return ok && err == nil // a selector that does not parse matches nothing, as in the scheduler
}

func hardTaint(t *corev1.Taint) bool {
	return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
}

// NodeHostname returns the node's kubernetes.io/hostname label, or its name when unlabelled.
func NodeHostname(n *corev1.Node) string {
	if h, ok := n.Labels[corev1.LabelHostname]; ok {
		return h
	}
	return n.Name
}
