package controllers

import (
	"context"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
	"github.com/stowage-dev/stowage/webhook"
)

// A budget event wakes only the StatefulSets it concerns, not the whole namespace: with n
// StatefulSets in a namespace, n budget writes would otherwise cost n² reconciles.
func TestBudgetEventWakesOnlyConcernedStatefulSets(t *testing.T) {
	sts := func(ns, name, app string) *appsv1.StatefulSet {
		l := map[string]string{"app": app}
		return &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: appsv1.StatefulSetSpec{Selector: &metav1.LabelSelector{MatchLabels: l}}}
	}
	withPodLabels := func(s *appsv1.StatefulSet) *appsv1.StatefulSet {
		s.Spec.Template.Labels = s.Spec.Selector.MatchLabels
		return s
	}
	pdb := func(ns, name string, sel map[string]string) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}}}
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		withPodLabels(sts("a", "db", "db")), withPodLabels(sts("a", "cache", "cache")), withPodLabels(sts("a", "queue", "queue")),
		withPodLabels(sts("b", "db", "db")),
	).Build()
	r := &BudgetReconciler{Client: c, Cluster: &webhook.CacheCluster{Reader: c}}
	for _, tc := range []struct {
		name string
		pdb  *policyv1.PodDisruptionBudget
		want []string
	}{
		{"a chart's budget over db's pods", pdb("a", "chart-db", map[string]string{"app": "db"}), []string{"a/db"}},
		{"Stowage's budget for cache", pdb("a", policy.BudgetName("cache"), map[string]string{"app": "cache"}), []string{"a/cache"}},
		{"a budget with queue's budget name over other pods", pdb("a", policy.BudgetName("queue"), map[string]string{"app": "other"}), []string{"a/queue"}},
		{"a budget over nobody", pdb("a", "unrelated", map[string]string{"app": "other"}), nil},
	} {
		var got []string
		for _, req := range r.statefulSetsConcernedBy(context.Background(), tc.pdb) {
			got = append(got, req.String())
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: woke %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The controller compiles the policies again only when one of them, or the set in force that
// Compile takes an invalid policy's last valid version from, changed.
func TestCompiledPoliciesAreReusedUntilAPolicyChanges(t *testing.T) {
	p := func(name, rv string) v1alpha1.PlacementPolicy {
		return v1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), ResourceVersion: rv}}
	}
	var c compiledPolicies
	prev := policy.NewSet()
	first := c.of([]v1alpha1.PlacementPolicy{p("a", "1"), p("b", "1")}, prev)
	if got := c.of([]v1alpha1.PlacementPolicy{p("b", "1"), p("a", "1")}, prev); got != first {
		t.Error("the same policies listed in another order were compiled again")
	}
	changed := c.of([]v1alpha1.PlacementPolicy{p("a", "2"), p("b", "1")}, prev)
	if changed == first {
		t.Error("a policy's new resourceVersion reused the old set")
	}
	if c.of([]v1alpha1.PlacementPolicy{p("a", "2"), p("b", "1")}, policy.NewSet()) == changed {
		t.Error("a new set in force reused the old compilation")
	}
	if got := c.of([]v1alpha1.PlacementPolicy{p("a", "2")}, prev); len(got.States()) != 1 {
		t.Errorf("a deleted policy is still compiled: %d states", len(got.States()))
	}
}
