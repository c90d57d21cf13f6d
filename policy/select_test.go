package policy

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
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

func TestNamespaceLabelsOf(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
		want   map[string]string
	}{
		{"no labels → the name label", nil, map[string]string{corev1.LabelMetadataName: "db"}},
		{"own labels kept", map[string]string{"env": "prod"}, map[string]string{"env": "prod", corev1.LabelMetadataName: "db"}},
		{"a name label that disagrees → the name, as the API server sets it", map[string]string{corev1.LabelMetadataName: "other"},
			map[string]string{corev1.LabelMetadataName: "db"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "db", Labels: maps.Clone(tc.labels)}}
			got := NamespaceLabelsOf(ns)
			if !maps.Equal(got, tc.want) {
				t.Errorf("NamespaceLabelsOf = %v, want %v", got, tc.want)
			}
			got["added"] = "x"
			if !maps.Equal(ns.Labels, tc.labels) {
				t.Errorf("the namespace's labels changed: %v", ns.Labels)
			}
		})
	}
}
