package v1alpha1

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// validPolicy is a defaulted policy that Validate accepts.
func validPolicy() *PlacementPolicy {
	p := &PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	SetDefaults(p)
	return p
}

// summary lists errors as "<type> <field>", the part a test compares.
func summary(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, fmt.Sprintf("%s %s", e.Type, e.Field))
	}
	return out
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *PlacementPolicy)
		want   []string
	}{
		{name: "defaulted policy → valid", mutate: func(*PlacementPolicy) {}},
		{name: "no name → required", mutate: func(p *PlacementPolicy) { p.Name = "" }, want: []string{"Required value metadata.name"}},
		{name: "name with an underscore → invalid", mutate: func(p *PlacementPolicy) { p.Name = "bad_name" }, want: []string{"Invalid value metadata.name"}},
		{name: "name with capitals → invalid", mutate: func(p *PlacementPolicy) { p.Name = "Default" }, want: []string{"Invalid value metadata.name"}},
		{name: "name of 254 characters → invalid", mutate: func(p *PlacementPolicy) { p.Name = strings.Repeat("a", 254) }, want: []string{"Invalid value metadata.name"}},
		{name: "dotted name → valid", mutate: func(p *PlacementPolicy) { p.Name = "team-a.databases" }},
		{name: "namespace on a cluster-scoped policy → forbidden", mutate: func(p *PlacementPolicy) { p.Namespace = "data" }, want: []string{"Forbidden metadata.namespace"}},
		{
			name: "namespaceSelector with an invalid label key → invalid at its matchLabels",
			mutate: func(p *PlacementPolicy) {
				p.Spec.NamespaceSelector = &LabelSelector{MatchLabels: map[string]LabelValue{"bad key": "x"}}
			},
			want: []string{"Invalid value spec.namespaceSelector.matchLabels"},
		},
		{
			name: "objectSelector with an In expression without values → required values",
			mutate: func(p *PlacementPolicy) {
				p.Spec.ObjectSelector = &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn}}}
			},
			want: []string{"Required value spec.objectSelector.matchExpressions[0].values"},
		},
		{
			name: "objectSelector with an unknown operator → invalid operator",
			mutate: func(p *PlacementPolicy) {
				p.Spec.ObjectSelector = &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}
			},
			want: []string{"Invalid value spec.objectSelector.matchExpressions[0].operator"},
		},
		{
			name: "valid selectors → valid",
			mutate: func(p *PlacementPolicy) {
				p.Spec.NamespaceSelector = &LabelSelector{MatchLabels: map[string]LabelValue{"kubernetes.io/metadata.name": "data"}}
			},
		},
		{name: "enforcementAction Block → unsupported", mutate: func(p *PlacementPolicy) { p.Spec.EnforcementAction = "Block" }, want: []string{"Unsupported value spec.enforcementAction"}},
		{name: "enforcementAction in lower case → unsupported", mutate: func(p *PlacementPolicy) { p.Spec.EnforcementAction = "deny" }, want: []string{"Unsupported value spec.enforcementAction"}},
		{name: "enforcementAction Warn and Audit → valid", mutate: func(p *PlacementPolicy) { p.Spec.EnforcementAction = Warn }},
		{name: "storage className with an underscore → invalid", mutate: func(p *PlacementPolicy) { p.Spec.Storage.ClassName = "fast_ssd" }, want: []string{"Invalid value spec.storage.className"}},
		{name: "storage mode Always → unsupported", mutate: func(p *PlacementPolicy) { p.Spec.Storage.Mode = "Always" }, want: []string{"Unsupported value spec.storage.mode"}},
		{
			name:   "allowedClassNames with FillIfUnset → forbidden",
			mutate: func(p *PlacementPolicy) { p.Spec.Storage.AllowedClassNames = []string{"fast"} },
			want:   []string{"Forbidden spec.storage.allowedClassNames"},
		},
		{
			name: "allowedClassNames with Enforce → valid",
			mutate: func(p *PlacementPolicy) {
				p.Spec.Storage.Mode = Enforce
				p.Spec.Storage.AllowedClassNames = []string{"fast", "slow"}
			},
		},
		{
			name: "allowedClassNames with a duplicate and an invalid name → both reported at their indices",
			mutate: func(p *PlacementPolicy) {
				p.Spec.Storage.Mode = Enforce
				p.Spec.Storage.AllowedClassNames = []string{"fast", "Bad", "fast"}
			},
			want: []string{"Invalid value spec.storage.allowedClassNames[1]", "Duplicate value spec.storage.allowedClassNames[2]"},
		},
		{name: "antiAffinity mode Hard → unsupported", mutate: func(p *PlacementPolicy) { p.Spec.AntiAffinity.Mode = "Hard" }, want: []string{"Unsupported value spec.antiAffinity.mode"}},
		{name: "preferredWeight 101 → invalid", mutate: func(p *PlacementPolicy) { p.Spec.AntiAffinity.PreferredWeight = 101 }, want: []string{"Invalid value spec.antiAffinity.preferredWeight"}},
		{name: "preferredWeight -1 → invalid", mutate: func(p *PlacementPolicy) { p.Spec.AntiAffinity.PreferredWeight = -1 }, want: []string{"Invalid value spec.antiAffinity.preferredWeight"}},
		{name: "upgradePreferred unset (not defaulted) → required", mutate: func(p *PlacementPolicy) { p.Spec.AntiAffinity.UpgradePreferred = nil }, want: []string{"Required value spec.antiAffinity.upgradePreferred"}},
		{name: "topologySpread mode On → unsupported", mutate: func(p *PlacementPolicy) { p.Spec.TopologySpread.Mode = "On" }, want: []string{"Unsupported value spec.topologySpread.mode"}},
		{
			name: "two spread constraints on the same key → duplicate at the second",
			mutate: func(p *PlacementPolicy) {
				c := p.Spec.TopologySpread.Constraints[0]
				p.Spec.TopologySpread.Constraints = append(p.Spec.TopologySpread.Constraints, c)
			},
			want: []string{"Duplicate value spec.topologySpread.constraints[1].topologyKey"},
		},
		{
			name: "spread constraint without a key, with maxSkew 0 and an unknown whenUnsatisfiable → three errors",
			mutate: func(p *PlacementPolicy) {
				p.Spec.TopologySpread.Constraints = []SpreadConstraint{{WhenUnsatisfiable: "Maybe"}}
			},
			want: []string{
				"Required value spec.topologySpread.constraints[0].topologyKey",
				"Invalid value spec.topologySpread.constraints[0].maxSkew",
				"Unsupported value spec.topologySpread.constraints[0].whenUnsatisfiable",
			},
		},
		{
			name:   "spread key that is not a label name → invalid",
			mutate: func(p *PlacementPolicy) { p.Spec.TopologySpread.Constraints[0].TopologyKey = "not a label" },
			want:   []string{"Invalid value spec.topologySpread.constraints[0].topologyKey"},
		},
		{name: "no spread constraints → valid", mutate: func(p *PlacementPolicy) { p.Spec.TopologySpread.Constraints = []SpreadConstraint{} }},
		{name: "disruptionBudget mode Yes → unsupported", mutate: func(p *PlacementPolicy) { p.Spec.DisruptionBudget.Mode = "Yes" }, want: []string{"Unsupported value spec.disruptionBudget.mode"}},
		{name: "maxUnavailable 0 → invalid: it blocks every drain", mutate: maxUnavailable(intstr.FromInt32(0)), want: []string{"Invalid value spec.disruptionBudget.maxUnavailable"}},
		{name: "maxUnavailable -1 → invalid", mutate: maxUnavailable(intstr.FromInt32(-1)), want: []string{"Invalid value spec.disruptionBudget.maxUnavailable"}},
		{name: `maxUnavailable "0%" → invalid`, mutate: maxUnavailable(intstr.FromString("0%")), want: []string{"Invalid value spec.disruptionBudget.maxUnavailable"}},
		{name: `maxUnavailable "abc" → invalid`, mutate: maxUnavailable(intstr.FromString("abc")), want: []string{"Invalid value spec.disruptionBudget.maxUnavailable"}},
		{name: `maxUnavailable "150%" → invalid`, mutate: maxUnavailable(intstr.FromString("150%")), want: []string{"Invalid value spec.disruptionBudget.maxUnavailable"}},
		{name: `maxUnavailable "-5%" → invalid`, mutate: maxUnavailable(intstr.FromString("-5%")), want: []string{"Invalid value spec.disruptionBudget.maxUnavailable"}},
		{name: `maxUnavailable "5" without % → invalid`, mutate: maxUnavailable(intstr.FromString("5")), want: []string{"Invalid value spec.disruptionBudget.maxUnavailable"}},
		{name: `maxUnavailable "5%%" → invalid`, mutate: maxUnavailable(intstr.FromString("5%%")), want: []string{"Invalid value spec.disruptionBudget.maxUnavailable"}},
		{name: `maxUnavailable "" → invalid`, mutate: maxUnavailable(intstr.FromString("")), want: []string{"Invalid value spec.disruptionBudget.maxUnavailable"}},
		{name: `maxUnavailable "99999999999999999999%" → invalid, no overflow`, mutate: maxUnavailable(intstr.FromString("99999999999999999999%")), want: []string{"Invalid value spec.disruptionBudget.maxUnavailable"}},
		{name: `maxUnavailable "100%" → valid`, mutate: maxUnavailable(intstr.FromString("100%"))},
		{name: `maxUnavailable "1%" → valid`, mutate: maxUnavailable(intstr.FromString("1%"))},
		{name: "maxUnavailable 3 → valid", mutate: maxUnavailable(intstr.FromInt32(3))},
		{name: "maxUnavailable unset (not defaulted) → required", mutate: func(p *PlacementPolicy) { p.Spec.DisruptionBudget.MaxUnavailable = nil }, want: []string{"Required value spec.disruptionBudget.maxUnavailable"}},
		{name: "recovery mode Sometimes → unsupported", mutate: func(p *PlacementPolicy) { p.Spec.Recovery.Mode = "Sometimes" }, want: []string{"Unsupported value spec.recovery.mode"}},
		{name: "recovery Automatic with nodeNotReadyAfter 10m and minHealthy 2 → valid", mutate: func(p *PlacementPolicy) {
			p.Spec.Recovery = RecoverySpec{Mode: RecoveryAutomatic, NodeNotReadyAfter: &metav1.Duration{Duration: 10 * time.Minute}, MinHealthy: ptr.To[int32](2)}
		}},
		{name: "nodeNotReadyAfter 59s → invalid: a missed heartbeat must not cost data", mutate: func(p *PlacementPolicy) {
			p.Spec.Recovery.NodeNotReadyAfter = &metav1.Duration{Duration: 59 * time.Second}
		}, want: []string{"Invalid value spec.recovery.nodeNotReadyAfter"}},
		{name: "nodeNotReadyAfter -5m → invalid", mutate: func(p *PlacementPolicy) {
			p.Spec.Recovery.NodeNotReadyAfter = &metav1.Duration{Duration: -5 * time.Minute}
		}, want: []string{"Invalid value spec.recovery.nodeNotReadyAfter"}},
		{name: "nodeNotReadyAfter exactly 1m → valid", mutate: func(p *PlacementPolicy) {
			p.Spec.Recovery.NodeNotReadyAfter = &metav1.Duration{Duration: time.Minute}
		}},
		{name: "minHealthy 0 → invalid", mutate: func(p *PlacementPolicy) { p.Spec.Recovery.MinHealthy = ptr.To[int32](0) }, want: []string{"Invalid value spec.recovery.minHealthy"}},
		{name: "minReplicas 0 → invalid", mutate: func(p *PlacementPolicy) { p.Spec.DisruptionBudget.MinReplicas = 0 }, want: []string{"Invalid value spec.disruptionBudget.minReplicas"}},
		{
			name: "unhealthyPodEvictionPolicy Never → unsupported",
			mutate: func(p *PlacementPolicy) {
				p.Spec.DisruptionBudget.UnhealthyPodEvictionPolicy = ptr.To(policyv1.UnhealthyPodEvictionPolicyType("Never"))
			},
			want: []string{"Unsupported value spec.disruptionBudget.unhealthyPodEvictionPolicy"},
		},
		{
			name:   "unhealthyPodEvictionPolicy unset (not defaulted) → required",
			mutate: func(p *PlacementPolicy) { p.Spec.DisruptionBudget.UnhealthyPodEvictionPolicy = nil },
			want:   []string{"Required value spec.disruptionBudget.unhealthyPodEvictionPolicy"},
		},
		{
			name: "optOut namespace with capitals, one too long and a duplicate → each reported at its index",
			mutate: func(p *PlacementPolicy) {
				p.Spec.OptOut.Namespaces = []string{"Legacy", strings.Repeat("a", 64), "ok", "ok"}
			},
			want: []string{
				"Invalid value spec.optOut.namespaces[0]",
				"Invalid value spec.optOut.namespaces[1]",
				"Duplicate value spec.optOut.namespaces[3]",
			},
		},
		{
			name:   "optOut namespace with a dot → invalid: namespaces are DNS labels",
			mutate: func(p *PlacementPolicy) { p.Spec.OptOut.Namespaces = []string{"team.a"} },
			want:   []string{"Invalid value spec.optOut.namespaces[0]"},
		},
		{
			name: "an empty, undefaulted spec → every enum and required field reported at once",
			mutate: func(p *PlacementPolicy) {
				p.Spec = PlacementPolicySpec{}
			},
			want: []string{
				"Unsupported value spec.enforcementAction",
				"Invalid value spec.storage.className",
				"Unsupported value spec.storage.mode",
				"Unsupported value spec.antiAffinity.mode",
				"Invalid value spec.antiAffinity.preferredWeight",
				"Required value spec.antiAffinity.upgradePreferred",
				"Unsupported value spec.topologySpread.mode",
				"Unsupported value spec.disruptionBudget.mode",
				"Required value spec.disruptionBudget.maxUnavailable",
				"Invalid value spec.disruptionBudget.minReplicas",
				"Required value spec.disruptionBudget.unhealthyPodEvictionPolicy",
				"Unsupported value spec.nodeCapacity.whenInsufficient",
				"Unsupported value spec.recovery.mode",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPolicy()
			tt.mutate(p)
			if diff := cmp.Diff(tt.want, summary(Validate(p))); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
}

func maxUnavailable(v intstr.IntOrString) func(p *PlacementPolicy) {
	return func(p *PlacementPolicy) { p.Spec.DisruptionBudget.MaxUnavailable = &v }
}

func TestValidateSpecUsesTheGivenPath(t *testing.T) {
	s := validPolicy().Spec
	s.Storage.Mode = "x"
	s.OptOut.Namespaces = []string{"A"}
	got := summary(ValidateSpec(&s, field.NewPath("items").Index(2).Child("spec")))
	want := []string{"Unsupported value items[2].spec.storage.mode", "Invalid value items[2].spec.optOut.namespaces[0]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestValidateNeverReportsValuesOfOtherFields(t *testing.T) {
	// An error names its own field and value, and nothing else of the policy.
	p := validPolicy()
	p.Spec.Storage.Mode = "secret-mode"
	errs := Validate(p)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "secret-mode") || strings.Contains(errs[0].Error(), "openebs-hostpath") {
		t.Errorf("errors = %v", errs)
	}
}
