package controllers

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
	"github.com/stowage-dev/stowage/webhook"
)

// Condition types and reasons of a PlacementPolicy's status.
const (
	ConditionReady = "Ready"
	ReasonValid    = "Valid"
	ReasonInvalid  = "Invalid"
)

// PolicyStatusReconciler writes each PlacementPolicy's status: observedGeneration and a Ready
// condition that is False, with reason Invalid and the validation errors, for a policy the
// webhook ignores. It runs on the leader only.
type PolicyStatusReconciler struct {
	Client client.Client
	// Cluster holds the set admission applies; its last valid versions are reported. Optional.
	Cluster *webhook.CacheCluster
}

// Condition is the Ready condition for what Compile made of a policy.
func Condition(st policy.PolicyState) metav1.Condition {
	cond := metav1.Condition{Type: ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonValid,
		Message: "the policy is valid and in force", ObservedGeneration: st.Generation}
	switch {
	case st.Valid():
	case st.InForce != nil:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonInvalid
		cond.Message = fmt.Sprintf("the spec is invalid, so generation %d, the last valid one, stays in force until it is fixed: %s",
			st.LastValidGeneration, strings.TrimSpace(st.Problem))
	default:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonInvalid
		cond.Message = "the policy was never valid and is ignored until fixed (no budget is deleted meanwhile): " + strings.TrimSpace(st.Problem)
	}
	return cond
}

// Reconcile updates one policy's status.
func (r *PolicyStatusReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &v1alpha1.PlacementPolicy{}
	if err := r.Client.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	var previous *policy.Set
	if r.Cluster != nil {
		previous = r.Cluster.Policies()
	}
	st, _ := policy.Compile([]v1alpha1.PlacementPolicy{*p}, previous).State(p.Name)
	cond := Condition(st)
	before := p.DeepCopy()
	p.Status.ObservedGeneration = p.Generation
	apimeta.SetStatusCondition(&p.Status.Conditions, cond)
	if st.Valid() && st.InForce != nil {
		p.Status.LastValid = &v1alpha1.LastValidSpec{Generation: p.Generation, Spec: st.InForce.Spec.DeepCopy()}
	}
	if equalStatus(before.Status, p.Status) {
		return ctrl.Result{}, nil
	}
	if err := r.Client.Status().Patch(ctx, p, client.MergeFrom(before)); err != nil {
		return ctrl.Result{}, fmt.Errorf("updating the status of PlacementPolicy %s: %w", p.Name, err)
	}
	logr.FromContextOrDiscard(ctx).V(1).Info("policy status", "policy", p.Name, "ready", cond.Status)
	return ctrl.Result{}, nil
}

func equalStatus(a, b v1alpha1.PlacementPolicyStatus) bool {
	if a.ObservedGeneration != b.ObservedGeneration || len(a.Conditions) != len(b.Conditions) ||
		!apiequality.Semantic.DeepEqual(a.LastValid, b.LastValid) {
		return false
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message || x.ObservedGeneration != y.ObservedGeneration {
			return false
		}
	}
	return true
}

// SetupWithManager registers the reconciler.
func (r *PolicyStatusReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("placementpolicy-status").For(&v1alpha1.PlacementPolicy{}).Complete(r)
}
