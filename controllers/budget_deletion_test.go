package controllers

import (
	"context"
	"testing"

	"golang.org/x/time/rate"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
	"github.com/stowage-dev/stowage/webhook"
)

// Budgets are deleted only on a valid state that asks for it, and no faster than the limiter
// allows; a PlacementPolicy that was never valid makes "no policy selects it" uncertain, and
// nothing is deleted on its account (issue 9 item 3).
func TestBudgetDeletionIsCertainAndRateLimited(t *testing.T) {
	sts := func(name string) *appsv1.StatefulSet {
		l := map[string]string{"app": name}
		return &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "data", UID: types.UID("uid-" + name)},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(int32(3)), Selector: &metav1.LabelSelector{MatchLabels: l},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "db:1"}}}}},
		}
	}
	own := func(s *appsv1.StatefulSet) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: policy.BudgetName(s.Name), Namespace: s.Namespace,
				Labels: map[string]string{policy.ManagedByLabel: policy.ManagedByValue},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: s.Name, UID: s.UID,
					Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}},
			Spec: policyv1.PodDisruptionBudgetSpec{Selector: s.Spec.Selector.DeepCopy(), MaxUnavailable: ptr.To(intstr.FromInt32(1))},
		}
	}
	exists := func(c client.Client, s *appsv1.StatefulSet) bool {
		err := c.Get(context.Background(), types.NamespacedName{Namespace: s.Namespace, Name: policy.BudgetName(s.Name)}, &policyv1.PodDisruptionBudget{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	reconcile := func(r *BudgetReconciler, s *appsv1.StatefulSet) ctrl.Result {
		res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	t.Run("no policy at all: deleted, one at a time", func(t *testing.T) {
		a, b := sts("a"), sts("b")
		c := newFakeClient(t, a, b, own(a), own(b))
		r := &BudgetReconciler{Client: c, Cluster: &webhook.CacheCluster{Reader: c}, Deletions: rate.NewLimiter(rate.Limit(0.001), 1)}
		reconcile(r, a)
		if exists(c, a) {
			t.Error("a's budget stayed though no policy selects a")
		}
		if res := reconcile(r, b); res.RequeueAfter <= 0 {
			t.Errorf("the second deletion was not deferred: %+v", res)
		}
		if !exists(c, b) {
			t.Error("b's budget went faster than the limiter allows")
		}
	})
	t.Run("a policy that was never valid: nothing deleted", func(t *testing.T) {
		a := sts("a")
		bad := &v1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "broken"},
			Spec: v1alpha1.PlacementPolicySpec{DisruptionBudget: v1alpha1.DisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(0))}}}
		c := newFakeClient(t, a, own(a), bad)
		r := &BudgetReconciler{Client: c, Cluster: &webhook.CacheCluster{Reader: c}}
		reconcile(r, a)
		if !exists(c, a) {
			t.Error("a budget was deleted while a never-valid policy might select its StatefulSet")
		}
	})
}
