package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

func TestTopologySpread(t *testing.T) {
	own := ownTerm().LabelSelector
	zoneDefault := corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: v1alpha1.ZoneTopologyKey, WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: own}
	userZone := corev1.TopologySpreadConstraint{MaxSkew: 2, TopologyKey: v1alpha1.ZoneTopologyKey, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: own}
	tests := []struct {
		name   string
		sts    *appsv1.StatefulSet
		policy *v1alpha1.PlacementPolicy
		want   []corev1.TopologySpreadConstraint
	}{
		{
			name: "no constraints → zone, maxSkew 1, ScheduleAnyway over spec.selector",
			sts:  statefulSet(),
			want: []corev1.TopologySpreadConstraint{zoneDefault},
		},
		{
			name: "user's own zone constraint → kept as it is, nothing added",
			sts: statefulSet(func(s *appsv1.StatefulSet) {
				s.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{userZone}
			}),
			want: []corev1.TopologySpreadConstraint{userZone},
		},
		{
			name: "policy with two keys, user has one → only the other added, after the user's",
			sts: statefulSet(func(s *appsv1.StatefulSet) {
				s.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{userZone}
			}),
			policy: testPolicy(func(s *v1alpha1.PlacementPolicySpec) {
				s.TopologySpread.Constraints = []v1alpha1.SpreadConstraint{{TopologyKey: v1alpha1.ZoneTopologyKey}, {TopologyKey: "topology.kubernetes.io/region", MaxSkew: 2}}
			}),
			want: []corev1.TopologySpreadConstraint{userZone,
				{MaxSkew: 2, TopologyKey: "topology.kubernetes.io/region", WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: own}},
		},
		{
			name:   "spread disabled → nothing added",
			sts:    statefulSet(),
			policy: testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.TopologySpread.Mode = v1alpha1.Disabled }),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == nil {
				p = testPolicy()
			}
			res := create(t, tc.sts, p, Facts{})
			if diff := cmp.Diff(tc.want, res.StatefulSet().Spec.Template.Spec.TopologySpreadConstraints); diff != "" {
				t.Errorf("constraints (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTopologySpreadMissingOnUpdate(t *testing.T) {
	old := compliant(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.TopologySpreadConstraints[0].MaxSkew = 2 }) // the user's
	edited := compliant(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.TopologySpreadConstraints = nil })
	res := evaluate(t, Request{Operation: Update, Object: edited, OldObject: old}, testPolicy(), Facts{})
	want := []string{"TopologySpreadMissing warning spec.template.spec.topologySpreadConstraints"}
	if diff := cmp.Diff(want, ruleHits(res.Violations)); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}
