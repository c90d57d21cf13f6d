package policy

// Rule NodeAffinityTooFewHosts.
//
// Reads: spec.replicas and
// spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.
//
// Required node affinity that names hosts (kubernetes.io/hostname In [...], or matchFields on
// metadata.name) admits a fixed set of nodes. When every term is limited that way and the union
// of the hosts is smaller than the replica count, two replicas must share a node. This needs no
// cluster facts; with nodes known, InsufficientEligibleNodes also catches every other way the
// eligible set can be too small.

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// RuleNodeAffinityTooFewHosts reports required node affinity that admits fewer hosts than replicas.
const RuleNodeAffinityTooFewHosts RuleID = "NodeAffinityTooFewHosts"

var pathRequiredNodeAffinity = pathAffinity.Child("nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution")

func init() {
	addChecker(&checker{
		rules: []RuleInfo{{ID: RuleNodeAffinityTooFewHosts, Severity: SeverityError, GrowsWithReplicas: true,
			Summary: "required node affinity must admit at least as many hosts as there are replicas"}},
		check: checkNodeAffinity,
	})
}

func checkNodeAffinity(c *context) {
	if !c.replicated() {
		return
	}
	a := c.podSpec().Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return
	}
	hosts, bounded := admittedHosts(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms)
	if !bounded || int32(hosts.Len()) >= c.replicas {
		return
	}
	c.report(RuleNodeAffinityTooFewHosts, SeverityError, pathRequiredNodeAffinity.Child("nodeSelectorTerms"),
		"required node affinity admits at most %d node(s) for %d replicas, so replicas must share a node; "+
			"name at least %d hostnames, or restrict by a label that many nodes carry", hosts.Len(), c.replicas, c.replicas)
}

// admittedHosts returns an upper bound of the nodes a set of ORed node selector terms can admit,
// and whether there is a bound at all. Within a term, hostname values (the
// kubernetes.io/hostname label) and node names (matchFields on metadata.name) name nodes in
// different ways, so they are not intersected with each other: the smaller set bounds the term.
// Across terms the sets are united, which can only overcount.
func admittedHosts(terms []corev1.NodeSelectorTerm) (sets.Set[string], bool) {
	all := sets.New[string]()
	for _, t := range terms {
		if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
			continue // an empty term matches no node
		}
		hosts, names := admitted(t.MatchExpressions, corev1.LabelHostname), admitted(t.MatchFields, "metadata.name")
		bound := hosts
		switch {
		case hosts == nil && names == nil:
			return nil, false
		case hosts == nil || names != nil && names.Len() < hosts.Len():
			bound = names
		}
		for v := range bound { // in place: a Union per term would copy the growing set every time
			all.Insert(v)
		}
	}
	return all, true
}

// admitted returns the values of key that the In requirements of one term all admit, less the
// values of its NotIn requirements on key; nil when no In requirement limits key.
func admitted(reqs []corev1.NodeSelectorRequirement, key string) sets.Set[string] {
	var in sets.Set[string]
	notIn := sets.New[string]()
	for _, r := range reqs {
		switch {
		case r.Key != key:
		case r.Operator == corev1.NodeSelectorOpIn && in == nil:
			in = sets.New(r.Values...)
		case r.Operator == corev1.NodeSelectorOpIn:
			in = in.Intersection(sets.New(r.Values...))
		case r.Operator == corev1.NodeSelectorOpNotIn:
			notIn.Insert(r.Values...)
		}
	}
	if in == nil {
		return nil
	}
	return in.Difference(notIn)
}
