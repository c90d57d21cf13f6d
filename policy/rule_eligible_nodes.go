package policy

// Rule InsufficientEligibleNodes.
//
// Reads: spec.replicas, spec.template.spec (nodeSelector, node affinity, tolerations, required
// pod anti-affinity) and the nodes among the facts; needs Facts.NodesKnown.
//
// Under required anti-affinity on kubernetes.io/hostname each replica needs its own node. When
// the replicas outnumber the nodes the pod may run on (after nodeSelector, required node
// affinity, NoSchedule and NoExecute taints against the tolerations, and cordoned nodes), the
// extra replicas stay Pending for good. Under soft or no anti-affinity the scheduler instead
// puts two replicas on one node without a word. Either way the create or scale is reported
// before it happens, at spec.replicas, with the number of eligible nodes.

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// RuleInsufficientEligibleNodes reports more replicas than eligible nodes.
const RuleInsufficientEligibleNodes RuleID = "InsufficientEligibleNodes"

func init() {
	addChecker(&checker{
		rules: []RuleInfo{{ID: RuleInsufficientEligibleNodes, Severity: SeverityError, GrowsWithReplicas: true,
			Summary: "there must be at least as many eligible nodes as replicas"}},
		check: checkEligibleNodes,
	})
}

func checkEligibleNodes(c *context) {
	if !c.facts.NodesKnown || len(c.facts.Nodes) == 0 || !c.replicated() || c.pods == nil {
		return // no nodes yet (bootstrap): the capacity is unknown, not zero
	}
	spec := c.podSpec()

	// The tightest required anti-affinity term over these pods decides how many domains exist.
	// Each term's domains, and the hostnames, are counted over the eligible nodes only up to
	// the replicas: enough is enough, and the scan stops as soon as every count has reached it,
	// so that a StatefulSet costs a few nodes' checks, not the whole cluster's (the audit
	// evaluates thousands of them against thousands of nodes).
	need := int(c.replicas)
	var terms []*domainCount
	required := requiredTerms(podAntiAffinity(spec))
	for i := range required {
		if t := &required[i]; coversOwnPods(t, c.sts, c.facts.NamespaceLabels, false) {
			terms = append(terms, &domainCount{key: t.TopologyKey})
		}
	}
	hosts := &domainCount{key: v1alpha1.HostnameTopologyKey}
	eligible := newNodeFilterFor(spec, c.facts.Nodes)
	for i, n := range c.facts.Nodes {
		if i%256 == 255 && c.facts.stopped() {
			return // Evaluate reports ErrStopped
		}
		if !eligible.eligible(n) {
			continue
		}
		done := hosts.add(n, need)
		for _, t := range terms {
			done = t.add(n, need) && done // every count sees the node
		}
		if done {
			break
		}
	}

	key, domains := v1alpha1.HostnameTopologyKey, -1
	for _, t := range terms {
		if !t.unbounded && (domains < 0 || len(t.seen) < domains) {
			key, domains = t.key, len(t.seen)
		}
	}
	if domains >= 0 {
		if int32(domains) < c.replicas {
			sev, why := c.capacitySeverity(SeverityError)
			c.report(RuleInsufficientEligibleNodes, sev, pathReplicas,
				"%d replicas need %d distinct %s values under required anti-affinity, but only %d eligible node(s) provide them "+
					"(after nodeSelector, node affinity, taints and tolerations, cordoned nodes, and DoNotSchedule spread keys), so %d replica(s) would stay Pending; "+
					"reduce spec.replicas to %d or make more nodes eligible%s",
				c.replicas, c.replicas, key, domains, c.replicas-int32(domains), domains, why)
		}
		return
	}
	if n := len(hosts.seen); int32(n) < c.replicas {
		sev, why := SeverityWarning, ""
		if c.policy.AntiAffinity.Mode == v1alpha1.Required {
			sev, why = c.capacitySeverity(SeverityError)
		}
		c.report(RuleInsufficientEligibleNodes, sev, pathReplicas,
			"%d replicas but only %d eligible node(s) (after nodeSelector, node affinity, taints and tolerations, cordoned nodes, and DoNotSchedule spread keys), "+
				"and no required anti-affinity keeps them apart, so replicas would share a node; reduce spec.replicas to %d or make more nodes eligible%s",
			c.replicas, n, n, why)
	}
}

// capacitySeverity lowers sev to a warning where the node count is not final, or where the
// policy says so, and explains why.
func (c *context) capacitySeverity(sev Severity) (Severity, string) {
	if c.policy.NodeCapacity.WhenInsufficient == v1alpha1.CapacityWarn {
		return SeverityWarning, " (a warning: the policy's nodeCapacity.whenInsufficient is Warn)"
	}
	for _, n := range c.facts.Nodes {
		for _, k := range c.policy.NodeCapacity.GrowableNodeLabels {
			if _, ok := n.Labels[k]; ok {
				return SeverityWarning, fmt.Sprintf(" (a warning, not a denial: node %s carries %s, so an autoscaler may add nodes)", n.Name, k)
			}
		}
	}
	return sev, ""
}

// domainCount counts the distinct values of a topology key among eligible nodes, up to a
// bound. A node without the key leaves the count unbounded: the scheduler places any number
// of replicas there. Nodes without a hostname label count by name, as NodeHostname does.
type domainCount struct {
	key       string
	seen      map[string]struct{}
	unbounded bool
}

// add counts the node and reports whether the count needs no more nodes: it is unbounded, or
// has reached need. A node without the key still makes a capped count unbounded, because the
// scan goes on for the other counts, and an unbounded term must not bound the domains.
func (d *domainCount) add(n *corev1.Node, need int) bool {
	if d.unbounded {
		return true
	}
	v, ok := n.Labels[d.key]
	if !ok {
		if d.key != v1alpha1.HostnameTopologyKey {
			d.unbounded = true
			return true
		}
		v = n.Name
	}
	if len(d.seen) >= need {
		return true
	}
	if d.seen == nil {
		d.seen = make(map[string]struct{}, need)
	}
	d.seen[v] = struct{}{}
	return len(d.seen) >= need
}
