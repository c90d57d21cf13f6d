package policy

// Rule PodAffinityCoLocates.
//
// Reads: spec.replicas, spec.template.metadata.labels and
// spec.template.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution.
//
// Required pod affinity to the StatefulSet's own pods on kubernetes.io/hostname tells the
// scheduler to put each replica on a node that already runs one: the first replica lands
// anywhere and every later one must join it, so all replicas share one node.

import "github.com/stowage-dev/stowage/policy/api/v1alpha1"

// RulePodAffinityCoLocates reports required pod affinity that pulls the replicas onto one node.
const RulePodAffinityCoLocates RuleID = "PodAffinityCoLocates"

var pathRequiredPodAffinity = pathAffinity.Child("podAffinity", "requiredDuringSchedulingIgnoredDuringExecution")

func init() {
	addChecker(&checker{
		rules: []RuleInfo{{ID: RulePodAffinityCoLocates, Severity: SeverityError, GrowsWithReplicas: true,
			Summary: "required pod affinity must not pull a StatefulSet's replicas onto one node"}},
		check: checkPodAffinity,
	})
}

func checkPodAffinity(c *context) {
	if !c.replicated() {
		return
	}
	a := c.podSpec().Affinity
	if a == nil || a.PodAffinity == nil {
		return
	}
	for i := range a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		t := &a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution[i]
		if t.TopologyKey == v1alpha1.HostnameTopologyKey && coversOwnPods(t, c.sts, c.facts.NamespaceLabels, true) {
			c.report(RulePodAffinityCoLocates, SeverityError, pathRequiredPodAffinity.Index(i),
				"required pod affinity on kubernetes.io/hostname to this StatefulSet's own pods puts all %d replicas on one node; "+
					"remove this term, or select another application's pods with it", c.replicas)
		}
	}
}
