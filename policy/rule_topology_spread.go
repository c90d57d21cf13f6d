package policy

// Rule TopologySpreadMissing.
//
// Reads: spec.selector and spec.template.spec.topologySpreadConstraints; the policy's
// spec.topologySpread. Writes (Create only): spec.template.spec.topologySpreadConstraints.
//
// Hostname anti-affinity keeps replicas on distinct nodes; a spread constraint also spreads them
// across wider domains such as zones, so that losing a zone costs as few replicas as possible.
// The default is zone with maxSkew 1 and ScheduleAnyway: it never blocks scheduling, so it also
// works on a single-zone cluster. A constraint the user already has on the same key is theirs
// and is kept as it is.

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// RuleTopologySpreadMissing reports an existing StatefulSet without the policy's spread constraints.
const RuleTopologySpreadMissing RuleID = "TopologySpreadMissing"

func hasSpreadKey(spec *corev1.PodSpec, key string) bool {
	return slices.ContainsFunc(spec.TopologySpreadConstraints, func(t corev1.TopologySpreadConstraint) bool {
		return t.TopologyKey == key
	})
}

func mutateTopologySpread(c *context) {
	if c.pods == nil || c.policy.TopologySpread.Mode != v1alpha1.Enabled {
		return
	}
	spec := c.podSpec()
	for _, want := range c.policy.TopologySpread.Constraints {
		if hasSpreadKey(spec, want.TopologyKey) {
			continue
		}
		spec.TopologySpreadConstraints = append(spec.TopologySpreadConstraints, corev1.TopologySpreadConstraint{
			MaxSkew:           want.MaxSkew,
			TopologyKey:       want.TopologyKey,
			WhenUnsatisfiable: corev1.UnsatisfiableConstraintAction(want.WhenUnsatisfiable),
			LabelSelector:     c.sts.Spec.Selector.DeepCopy(),
		})
	}
}

func checkTopologySpread(c *context) {
	if c.pods == nil || c.policy.TopologySpread.Mode != v1alpha1.Enabled {
		return
	}
	for _, want := range c.policy.TopologySpread.Constraints {
		if !hasSpreadKey(c.podSpec(), want.TopologyKey) {
			c.report(RuleTopologySpreadMissing, SeverityWarning, pathPodSpec.Child("topologySpreadConstraints"),
				"pods need a topology spread constraint on %s so that losing one domain costs as few replicas as possible; "+
					"add one with labelSelector equal to spec.selector (on an existing StatefulSet this rolls the pods)", want.TopologyKey)
		}
	}
}
