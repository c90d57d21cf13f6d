package webhook

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// Condition types and reasons of a PlacementPolicy's status.
const (
	ConditionReady = "Ready"
	ReasonValid    = "Valid"
	ReasonInvalid  = "Invalid"
)

// Compile defaults and validates policies as read from the API server, and returns the valid
// ones as a set and the problems of the others by name. It does not modify its input.
func Compile(items []v1alpha1.PlacementPolicy) (*policy.Set, map[string]string) {
	var valid []*v1alpha1.PlacementPolicy
	invalid := map[string]string{}
	for i := range items {
		p := items[i].DeepCopy()
		v1alpha1.SetDefaults(p)
		if errs := v1alpha1.Validate(p); len(errs) > 0 {
			invalid[p.Name] = errs.ToAggregate().Error()
			continue
		}
		valid = append(valid, p)
	}
	return policy.NewSet(valid...), invalid
}

// WatchPolicies keeps the cluster's policy set in step with the PlacementPolicies in the
// cache. It runs on every replica (not only the leader), since every replica serves admission.
// The returned function reports whether the set reflects every policy listed at start-up; the
// replica must not report ready before, or it would admit everything unchanged meanwhile.
func WatchPolicies(ctx context.Context, c cache.Cache, target *CacheCluster, log logr.Logger) (func() bool, error) {
	inf, err := c.GetInformer(ctx, &v1alpha1.PlacementPolicy{})
	if err != nil {
		return nil, fmt.Errorf("watching PlacementPolicies: %w", err)
	}
	rebuild := func() {
		var list v1alpha1.PlacementPolicyList
		if err := c.List(ctx, &list); err != nil {
			log.Error(err, "listing PlacementPolicies from the cache")
			return
		}
		set, invalid := Compile(list.Items)
		target.SetPolicies(set)
		log.Info("policies in force", "valid", set.Len(), "invalid", len(invalid))
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { rebuild() },
		UpdateFunc: func(any, any) { rebuild() },
		DeleteFunc: func(any) { rebuild() },
	})
	if err != nil {
		return nil, err
	}
	return reg.HasSynced, nil
}

// PolicyStatusReconciler writes each PlacementPolicy's status: observedGeneration and a Ready
// condition that is False, with reason Invalid and the validation errors, for a policy the
// webhook ignores. It runs on the leader only.
type PolicyStatusReconciler struct {
	Client client.Client
}

// Reconcile updates one policy's status.
func (r *PolicyStatusReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &v1alpha1.PlacementPolicy{}
	if err := r.Client.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	_, invalid := Compile([]v1alpha1.PlacementPolicy{*p})
	cond := metav1.Condition{Type: ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonValid,
		Message: "the policy is valid and in force", ObservedGeneration: p.Generation}
	if msg, bad := invalid[p.Name]; bad {
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonInvalid
		cond.Message = "the policy is ignored until fixed: " + strings.TrimSpace(msg)
	}
	before := p.DeepCopy()
	p.Status.ObservedGeneration = p.Generation
	apimeta.SetStatusCondition(&p.Status.Conditions, cond)
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
	if a.ObservedGeneration != b.ObservedGeneration || len(a.Conditions) != len(b.Conditions) {
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
