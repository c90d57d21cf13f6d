package manifests

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Metrics answer only callers allowed GET /metrics; the chart ships the ClusterRole to bind to
// whatever scrapes them, and nothing else may read them.
func TestMetricsReaderRole(t *testing.T) {
	r := render(t, "")
	cr := get[rbacv1.ClusterRole](t, r, "ClusterRole", fullname+"-metrics-reader")
	want := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
	if diff := cmp.Diff(want, cr.Rules); diff != "" {
		t.Errorf("metrics reader rules (-want +got):\n%s", diff)
	}
	for _, b := range all[rbacv1.ClusterRoleBinding](r, "ClusterRoleBinding") {
		if b.RoleRef.Name == cr.Name {
			t.Errorf("the chart binds %s itself (%s); binding it is the operator's choice", cr.Name, b.Name)
		}
	}
}

// The webhook runs at a critical priority by default, and the chart admits such pods in its
// namespace where the cluster limits them by quota.
func TestPriorityClassQuota(t *testing.T) {
	for _, tc := range []struct {
		name, values string
		wantPods     string // "" means no quota
	}{
		{"default values: system-cluster-critical with a quota for it", "", "4"},
		{"three replicas", "replicaCount: 3", "6"},
		{"quota turned off", "resourceQuota: {enabled: false}", ""},
		{"a priority class of the operator's: no quota needed", "priorityClassName: tenant-high", ""},
		{"no priority class", `priorityClassName: ""`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, tc.values)
			quotas := all[corev1.ResourceQuota](r, "ResourceQuota")
			if tc.wantPods == "" {
				if len(quotas) != 0 {
					t.Fatalf("%d ResourceQuotas rendered, want none", len(quotas))
				}
				return
			}
			if len(quotas) != 1 {
				t.Fatalf("%d ResourceQuotas rendered, want 1", len(quotas))
			}
			q := quotas[0]
			if q.Namespace != Namespace {
				t.Errorf("quota in namespace %q, want %q", q.Namespace, Namespace)
			}
			if got := q.Spec.Hard[corev1.ResourcePods]; got.Cmp(resource.MustParse(tc.wantPods)) != 0 {
				t.Errorf("quota allows %s pods, want %s", got.String(), tc.wantPods)
			}
			want := &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{{
				ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn,
				Values: []string{"system-node-critical", "system-cluster-critical"},
			}}}
			if diff := cmp.Diff(want, q.Spec.ScopeSelector); diff != "" {
				t.Errorf("quota scope (-want +got):\n%s", diff)
			}
		})
	}
}
