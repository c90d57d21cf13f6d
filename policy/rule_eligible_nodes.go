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
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// RuleInsufficientEligibleNodes reports more replicas than eligible nodes.
const RuleInsufficientEligibleNodes RuleID = "InsufficientEligibleNodes"

func checkEligibleNodes(c *context) {
	if !c.facts.NodesKnown || !c.replicated() || c.pods == nil {
		return
	}
	eligible := EligibleNodes(c.podSpec(), c.facts.Nodes)
	anti := podAntiAffinity(c.podSpec())

	// The tightest required anti-affinity term over these pods decides how many domains exist.
	key, domains := v1alpha1.HostnameTopologyKey, -1
	if anti != nil {
		for i := range anti.RequiredDuringSchedulingIgnoredDuringExecution {
			t := &anti.RequiredDuringSchedulingIgnoredDuringExecution[i]
			if !coversOwnPods(t, c.sts) {
				continue
			}
			n, ok := countDomains(eligible, t.TopologyKey)
			if ok && (domains < 0 || n < domains) {
				key, domains = t.TopologyKey, n
			}
		}
	}
	if domains >= 0 {
		if int32(domains) < c.replicas {
			c.report(RuleInsufficientEligibleNodes, SeverityError, pathReplicas,
				"%d replicas need %d distinct %s values under required anti-affinity, but only %d eligible node(s) provide them "+
					"(after nodeSelector, node affinity, taints and tolerations, and cordoned nodes), so %d replica(s) would stay Pending; "+
					"reduce spec.replicas to %d or make more nodes eligible",
				c.replicas, c.replicas, key, domains, c.replicas-int32(domains), domains)
		}
		return
	}
	if hosts := countHosts(eligible); int32(hosts) < c.replicas {
		sev := SeverityWarning
		if c.policy.AntiAffinity.Mode == v1alpha1.Required {
			sev = SeverityError
		}
		c.report(RuleInsufficientEligibleNodes, sev, pathReplicas,
			"%d replicas but only %d eligible node(s) (after nodeSelector, node affinity, taints and tolerations, and cordoned nodes), "+
				"and no required anti-affinity keeps them apart, so replicas would share a node; reduce spec.replicas to %d or make more nodes eligible",
			c.replicas, hosts, hosts)
	}
}

// countDomains counts the distinct values of key among the nodes. When a node lacks the key the
// scheduler places any number of replicas there, so no bound can be given.
func countDomains(nodes []*corev1.Node, key string) (int, bool) {
	seen := sets.New[string]()
	for _, n := range nodes {
		v, ok := n.Labels[key]
		if !ok {
			if key != v1alpha1.HostnameTopologyKey {
				return 0, false
			}
			v = n.Name
		}
		seen.Insert(v)
	}
	return seen.Len(), true
}

func countHosts(nodes []*corev1.Node) int {
	seen := sets.New[string]()
	for _, n := range nodes {
		seen.Insert(NodeHostname(n))
	}
	return seen.Len()
}
