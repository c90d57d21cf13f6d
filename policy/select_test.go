package policy

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

func named(name string, priority int32, mods ...func(*v1alpha1.PlacementPolicySpec)) *v1alpha1.PlacementPolicy {
	p := testPolicy(mods...)
	p.Name = name
	p.Spec.Priority = priority
	return p
}

func TestSelect(t *testing.T) {
	prodOnly := func(s *v1alpha1.PlacementPolicySpec) {
		s.NamespaceSelector = &v1alpha1.LabelSelector{MatchLabels: map[string]v1alpha1.LabelValue{"env": "prod"}}
	}
	dbOnly := func(s *v1alpha1.PlacementPolicySpec) {
		s.ObjectSelector = &v1alpha1.LabelSelector{MatchExpressions: []v1alpha1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"db"}}}}
	}
	tests := []struct {
		name     string
		policies []*v1alpha1.PlacementPolicy
		obj, ns  map[string]string
		want     string
	}{
		{"no policies → none", nil, nil, NamespaceLabels("data"), ""},
		{"one catch-all policy → it", []*v1alpha1.PlacementPolicy{named("all", 0)}, nil, NamespaceLabels("data"), "all"},
		{"higher priority wins", []*v1alpha1.PlacementPolicy{named("low", 1), named("high", 5)}, nil, NamespaceLabels("data"), "high"},
		{"same priority → lexically smallest name", []*v1alpha1.PlacementPolicy{named("zeta", 1), named("alpha", 1), named("mid", 1)}, nil, NamespaceLabels("data"), "alpha"},
		{"namespace selector does not match → skipped", []*v1alpha1.PlacementPolicy{named("prod", 9, prodOnly), named("all", 0)}, nil, map[string]string{"env": "dev"}, "all"},
		{"namespace selector matches → chosen", []*v1alpha1.PlacementPolicy{named("prod", 9, prodOnly), named("all", 0)}, nil, map[string]string{"env": "prod"}, "prod"},
		{"object selector with matchExpressions", []*v1alpha1.PlacementPolicy{named("db", 9, dbOnly)}, map[string]string{"tier": "db"}, nil, "db"},
		{"object selector does not match → none", []*v1alpha1.PlacementPolicy{named("db", 9, dbOnly)}, map[string]string{"tier": "web"}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := NewSet(tc.policies...).Select(tc.obj, tc.ns)
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tc.want {
				t.Errorf("Select = %q, want %q", name, tc.want)
			}
		})
	}
}
