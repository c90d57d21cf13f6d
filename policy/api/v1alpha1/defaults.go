package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// SetDefaults fills every unset field of p with its documented default. It is idempotent.
func SetDefaults(p *PlacementPolicy) {
	s := &p.Spec
	if s.EnforcementAction == "" {
		s.EnforcementAction = Deny
	}

	if s.Storage.ClassName == "" {
		s.Storage.ClassName = DefaultStorageClassName
	}
	if s.Storage.Mode == "" {
		s.Storage.Mode = FillIfUnset
	}

	if s.AntiAffinity.Mode == "" {
		s.AntiAffinity.Mode = Required
	}
	if s.AntiAffinity.UpgradePreferred == nil {
		s.AntiAffinity.UpgradePreferred = ptr.To(true)
	}
	if s.AntiAffinity.PreferredWeight == 0 {
		s.AntiAffinity.PreferredWeight = 100
	}

	if s.TopologySpread.Mode == "" {
		s.TopologySpread.Mode = Enabled
	}
	if s.TopologySpread.Constraints == nil {
		s.TopologySpread.Constraints = []SpreadConstraint{{TopologyKey: ZoneTopologyKey}}
	}
	for i := range s.TopologySpread.Constraints {
		c := &s.TopologySpread.Constraints[i]
		if c.MaxSkew == 0 {
			c.MaxSkew = 1
		}
		if c.WhenUnsatisfiable == "" {
			c.WhenUnsatisfiable = string(corev1.ScheduleAnyway)
		}
	}

	if s.DisruptionBudget.Mode == "" {
		s.DisruptionBudget.Mode = Enabled
	}
	if s.DisruptionBudget.MaxUnavailable == nil {
		s.DisruptionBudget.MaxUnavailable = ptr.To(intstr.FromInt32(1))
	}
	if s.DisruptionBudget.MinReplicas == 0 {
		s.DisruptionBudget.MinReplicas = 2
	}
	if s.DisruptionBudget.UnhealthyPodEvictionPolicy == nil {
		s.DisruptionBudget.UnhealthyPodEvictionPolicy = ptr.To(policyv1.AlwaysAllow)
	}

	if s.NodeCapacity.WhenInsufficient == "" {
		s.NodeCapacity.WhenInsufficient = CapacityDeny
	}
	if s.NodeCapacity.GrowableNodeLabels == nil {
		s.NodeCapacity.GrowableNodeLabels = append([]string(nil), DefaultGrowableNodeLabels...)
	}
	if s.Recovery.Mode == "" {
		s.Recovery.Mode = RecoveryOff
	}
}
