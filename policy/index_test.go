package policy

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSelectorKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		sel  *metav1.LabelSelector
		want string
	}{
		{"nil selects nothing → any", nil, AnyLabels},
		{"empty selects everything → any", &metav1.LabelSelector{}, AnyLabels},
		{"expressions only → any", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"db"}}}}, AnyLabels},
		{"a per-pod label only → any", &metav1.LabelSelector{MatchLabels: map[string]string{appsv1.StatefulSetPodNameLabel: "db-0"}}, AnyLabels},
		{"one label", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, "app=db"},
		{"the smallest key, skipping per-pod labels", &metav1.LabelSelector{MatchLabels: map[string]string{
			"tier": "data", "component": "primary", appsv1.PodIndexLabel: "0"}}, "component=primary"},
		{"the release's label before the chart's", &metav1.LabelSelector{MatchLabels: map[string]string{
			"app.kubernetes.io/component": "primary", "app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": "orders"}},
			"app.kubernetes.io/instance=orders"},
		{"helm 2's release label", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "redis", "release": "cache"}}, "release=cache"},
	} {
		if got := SelectorKey(tc.sel); got != tc.want {
			t.Errorf("%s: SelectorKey = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestLabelKeys(t *testing.T) {
	got := LabelKeys(map[string]string{"app": "db", "tier": "data"})
	slices.Sort(got)
	if want := []string{AnyLabels, "app=db", "tier=data"}; !slices.Equal(got, want) {
		t.Errorf("LabelKeys = %q, want %q", got, want)
	}
	if got := LabelKeys(nil); !slices.Equal(got, []string{AnyLabels}) {
		t.Errorf("LabelKeys(nil) = %q, want only %q", got, AnyLabels)
	}
}

func TestClaimOwnerNames(t *testing.T) {
	for _, tc := range []struct {
		claim string
		want  []string
	}{
		{"data-pg-0", []string{"pg"}},
		{"data-my-db-12", []string{"my-db", "db"}},
		{"data-pg", nil},    // no ordinal
		{"data-pg-", nil},   // empty ordinal
		{"data-pg-x1", nil}, // not digits
		{"pg", nil},
		{"-pg-0", []string{"pg"}}, // a template with no name: every suffix, as madeFromTemplate matches
	} {
		if got := ClaimOwnerNames(tc.claim); !slices.Equal(got, tc.want) {
			t.Errorf("ClaimOwnerNames(%q) = %q, want %q", tc.claim, got, tc.want)
		}
	}
}
