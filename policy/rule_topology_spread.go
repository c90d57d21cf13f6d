package policy

// Rule TopologySpreadMissing.
//
// Reads: spec.selector and spec.template.spec.topologySpreadConstraints; the policy's
// spec.topologySpread. Writes: on Create, spec.template.spec.topologySpreadConstraints; on
// Update, only to keep the constraints Stowage added when the update drops them.
//
// Hostname anti-affinity keeps replicas on distinct nodes; a spread constraint also spreads them
// across wider domains such as zones, so that losing a zone costs as few replicas as possible.
// The default is zone with maxSkew 1 and ScheduleAnyway: it never blocks scheduling, so it also
// works on a single-zone cluster. A constraint the user already has on the same key is theirs
// and is kept as it is.

import (
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// RuleTopologySpreadMissing reports an existing StatefulSet without the policy's spread constraints.
const RuleTopologySpreadMissing RuleID = "TopologySpreadMissing"

func init() {
	addChecker(&checker{
		rules: []RuleInfo{{ID: RuleTopologySpreadMissing, Severity: SeverityWarning,
			Summary: "pods should carry the policy's topology spread constraints"}},
		mutate:   mutateTopologySpread,
		preserve: preserveTopologySpread,
		check:    checkTopologySpread,
	})
}

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

// stowageSpread reports whether a stored constraint is one the policy adds: the policy's
// constraint for that key, over the StatefulSet's selector, and nothing else set.
func stowageSpread(t *corev1.TopologySpreadConstraint, sts *appsv1.StatefulSet, p *v1alpha1.TopologySpreadSpec) bool {
	for _, want := range p.Constraints {
		if want.TopologyKey != t.TopologyKey {
			continue
		}
		ours := corev1.TopologySpreadConstraint{MaxSkew: want.MaxSkew, TopologyKey: want.TopologyKey,
			WhenUnsatisfiable: corev1.UnsatisfiableConstraintAction(want.WhenUnsatisfiable), LabelSelector: sts.Spec.Selector}
		return equal(reflectValue(t), reflectValue(&ours))
	}
	return false
}

// preserveTopologySpread keeps, on Update, the spread constraints Stowage added on Create when
// the update drops them (a replace or an operator's full rewrite, or a chart's explicit null),
// at their stored places, so the template stays as stored and the pods do not roll. A stored
// constraint is Stowage's when it is exactly what the policy adds for its key. A key the
// update constrains itself is the user's, and nothing is put back for it. Disabling the policy's
// spread is the way to drop them.
func preserveTopologySpread(c *context, old *appsv1.StatefulSet) {
	if c.pods == nil || c.policy.TopologySpread.Mode != v1alpha1.Enabled {
		return
	}
	spec := c.podSpec()
	for i := range old.Spec.Template.Spec.TopologySpreadConstraints {
		t := &old.Spec.Template.Spec.TopologySpreadConstraints[i]
		if !stowageSpread(t, old, &c.policy.TopologySpread) || hasSpreadKey(spec, t.TopologyKey) {
			continue
		}
		spec.TopologySpreadConstraints = slices.Insert(spec.TopologySpreadConstraints,
			min(i, len(spec.TopologySpreadConstraints)), *t.DeepCopy())
	}
}
