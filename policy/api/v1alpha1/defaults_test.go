package v1alpha1

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// defaultedSpec is the spec SetDefaults makes of an empty one: every documented default.
func defaultedSpec() PlacementPolicySpec {
	return PlacementPolicySpec{
		EnforcementAction: Deny,
		Storage:           StorageSpec{ClassName: "openebs-hostpath", Mode: FillIfUnset},
		AntiAffinity:      AntiAffinitySpec{Mode: Required, UpgradePreferred: ptr.To(true), PreferredWeight: 100},
		TopologySpread: TopologySpreadSpec{Mode: Enabled, Constraints: []SpreadConstraint{
			{TopologyKey: "topology.kubernetes.io/zone", MaxSkew: 1, WhenUnsatisfiable: "ScheduleAnyway"},
		}},
		DisruptionBudget: DisruptionBudgetSpec{
			Mode:                       Enabled,
			MaxUnavailable:             ptr.To(intstr.FromInt32(1)),
			MinReplicas:                2,
			UnhealthyPodEvictionPolicy: ptr.To(policyv1.AlwaysAllow),
		},
		NodeCapacity: NodeCapacitySpec{WhenInsufficient: CapacityDeny, GrowableNodeLabels: DefaultGrowableNodeLabels},
		Recovery:     RecoverySpec{Mode: RecoveryOff},
	}
}

func TestSetDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   PlacementPolicySpec
		want PlacementPolicySpec
	}{
		{
			name: "empty spec → every documented default",
			in:   PlacementPolicySpec{},
			want: defaultedSpec(),
		},
		{
			name: "every field set explicitly → nothing changed",
			in: PlacementPolicySpec{
				Priority:          7,
				EnforcementAction: Audit,
				Storage:           StorageSpec{ClassName: "fast", Mode: Enforce, AllowedClassNames: []string{"slow"}, TreatDefaultClassAsUnset: true},
				AntiAffinity:      AntiAffinitySpec{Mode: Preferred, UpgradePreferred: ptr.To(false), PreferredWeight: 30},
				TopologySpread: TopologySpreadSpec{Mode: Disabled, Constraints: []SpreadConstraint{
					{TopologyKey: "rack", MaxSkew: 2, WhenUnsatisfiable: "DoNotSchedule"},
				}},
				DisruptionBudget: DisruptionBudgetSpec{Mode: Disabled, MaxUnavailable: ptr.To(intstr.FromString("25%")),
					MinReplicas: 3, UnhealthyPodEvictionPolicy: ptr.To(policyv1.IfHealthyBudget)},
				OptOut:       OptOutSpec{Namespaces: []string{"legacy"}},
				NodeCapacity: NodeCapacitySpec{WhenInsufficient: CapacityWarn, GrowableNodeLabels: []string{}},
				Recovery:     RecoverySpec{Mode: RecoveryAutomatic, NodeNotReadyAfter: &metav1.Duration{Duration: 10 * time.Minute}, MinHealthy: ptr.To[int32](2)},
			},
			want: PlacementPolicySpec{
				Priority:          7,
				EnforcementAction: Audit,
				Storage:           StorageSpec{ClassName: "fast", Mode: Enforce, AllowedClassNames: []string{"slow"}, TreatDefaultClassAsUnset: true},
				AntiAffinity:      AntiAffinitySpec{Mode: Preferred, UpgradePreferred: ptr.To(false), PreferredWeight: 30},
				TopologySpread: TopologySpreadSpec{Mode: Disabled, Constraints: []SpreadConstraint{
					{TopologyKey: "rack", MaxSkew: 2, WhenUnsatisfiable: "DoNotSchedule"},
				}},
				DisruptionBudget: DisruptionBudgetSpec{Mode: Disabled, MaxUnavailable: ptr.To(intstr.FromString("25%")),
					MinReplicas: 3, UnhealthyPodEvictionPolicy: ptr.To(policyv1.IfHealthyBudget)},
				OptOut:       OptOutSpec{Namespaces: []string{"legacy"}},
				NodeCapacity: NodeCapacitySpec{WhenInsufficient: CapacityWarn, GrowableNodeLabels: []string{}},
				Recovery:     RecoverySpec{Mode: RecoveryAutomatic, NodeNotReadyAfter: &metav1.Duration{Duration: 10 * time.Minute}, MinHealthy: ptr.To[int32](2)},
			},
		},
		{
			name: "upgradePreferred: false → kept false, not turned into the default true",
			in:   PlacementPolicySpec{AntiAffinity: AntiAffinitySpec{UpgradePreferred: ptr.To(false)}},
			want: func() PlacementPolicySpec {
				s := defaultedSpec()
				s.AntiAffinity.UpgradePreferred = ptr.To(false)
				return s
			}(),
		},
		{
			name: "explicitly empty constraints [] → kept empty, not re-defaulted",
			in:   PlacementPolicySpec{TopologySpread: TopologySpreadSpec{Constraints: []SpreadConstraint{}}},
			want: func() PlacementPolicySpec {
				s := defaultedSpec()
				s.TopologySpread.Constraints = []SpreadConstraint{}
				return s
			}(),
		},
		{
			name: "constraint with only a topology key → its maxSkew and whenUnsatisfiable defaulted, no zone constraint added",
			in:   PlacementPolicySpec{TopologySpread: TopologySpreadSpec{Constraints: []SpreadConstraint{{TopologyKey: "rack"}}}},
			want: func() PlacementPolicySpec {
				s := defaultedSpec()
				s.TopologySpread.Constraints = []SpreadConstraint{{TopologyKey: "rack", MaxSkew: 1, WhenUnsatisfiable: "ScheduleAnyway"}}
				return s
			}(),
		},
		{
			name: "maxUnavailable: 0 → kept, for Validate to reject, not replaced by 1",
			in:   PlacementPolicySpec{DisruptionBudget: DisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(0))}},
			want: func() PlacementPolicySpec {
				s := defaultedSpec()
				s.DisruptionBudget.MaxUnavailable = ptr.To(intstr.FromInt32(0))
				return s
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: tt.in}
			SetDefaults(p)
			if diff := cmp.Diff(tt.want, p.Spec); diff != "" {
				t.Errorf("SetDefaults (-want +got):\n%s", diff)
			}
			if tt.want.TopologySpread.Constraints != nil && p.Spec.TopologySpread.Constraints == nil {
				t.Error("constraints became nil")
			}
			once := p.DeepCopy()
			SetDefaults(p)
			if diff := cmp.Diff(once, p); diff != "" {
				t.Errorf("SetDefaults is not idempotent (-once +twice):\n%s", diff)
			}
		})
	}
}

func TestSetDefaultsEmptyConstraintsSurviveDeepCopy(t *testing.T) {
	p := &PlacementPolicy{Spec: PlacementPolicySpec{TopologySpread: TopologySpreadSpec{Constraints: []SpreadConstraint{}}}}
	cp := p.DeepCopy()
	SetDefaults(cp)
	if cp.Spec.TopologySpread.Constraints == nil || len(cp.Spec.TopologySpread.Constraints) != 0 {
		t.Errorf("constraints after DeepCopy and SetDefaults = %#v, want empty", cp.Spec.TopologySpread.Constraints)
	}
}

func TestSetDefaultsThenValidate(t *testing.T) {
	p := &PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	SetDefaults(p)
	if errs := Validate(p); len(errs) != 0 {
		t.Errorf("a defaulted empty policy is invalid: %v", errs)
	}
}
