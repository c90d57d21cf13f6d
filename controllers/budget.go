package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/stowage-dev/stowage/internal/enqueue"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
	"github.com/stowage-dev/stowage/webhook"
)

// BudgetReconciler keeps exactly one PodDisruptionBudget over the pods of every StatefulSet
// that a policy selects with enough replicas. It creates Stowage's own budget only when no
// other budget selects the pods, owns it by the StatefulSet so that garbage collection removes
// it, repairs drift, and deletes it when the StatefulSet shrinks below the policy's minimum, a
// chart's budget appears, or the policy stops applying. It touches only budgets the StatefulSet
// controls (ownsBudget) and merges its metadata into theirs (repaired). It runs on the leader
// only.
type BudgetReconciler struct {
	Client  client.Client
	Cluster *webhook.CacheCluster
	// Scope limits the controller to the namespaces the webhooks see; nil means all.
	Scope *NamespaceScope
	// Deletions limits how fast budgets are deleted, so that a mistake (a policy edit that stops
	// selecting everything) takes protection away gradually and visibly, not from the whole
	// cluster at once. Nil means DefaultDeletionLimit.
	Deletions *rate.Limiter

	compiled compiledPolicies
}

// DefaultDeletionLimit is one budget deletion a second, in bursts of ten.
func DefaultDeletionLimit() *rate.Limiter { return rate.NewLimiter(rate.Limit(1), 10) }

// Reconcile brings one StatefulSet's budget in line with the policy.
func (r *BudgetReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	sts := &appsv1.StatefulSet{}
	if err := r.Client.Get(ctx, req.NamespacedName, sts); err != nil {
		// Gone: garbage collection removes the budget it owned.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	desired, keep, err := r.desired(ctx, sts)
	if errors.Is(err, ErrScopeUnknown) {
		// Never act on a scope we do not know: neither create nor delete. A change of the
		// configuration wakes every StatefulSet again.
		log.V(1).Info("scope unknown; leaving the budget as it is", "reason", err.Error())
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	key := types.NamespacedName{Namespace: sts.Namespace, Name: policy.BudgetName(sts.Name)}
	current := &policyv1.PodDisruptionBudget{}
	switch err := r.Client.Get(ctx, key, current); {
	case apierrors.IsNotFound(err):
		current = nil
	case err != nil:
		return ctrl.Result{}, err
	case !ownsBudget(sts, current):
		log.Info("a PodDisruptionBudget this StatefulSet does not control has the name Stowage would use; leaving it alone", "budget", key.Name)
		return ctrl.Result{}, nil
	}
	switch {
	case desired == nil && current == nil:
		return ctrl.Result{}, nil
	case desired == nil && keep:
		log.Info("keeping Stowage's budget: a PlacementPolicy that was never valid is ignored and might select the StatefulSet", "budget", key.Name)
		return ctrl.Result{}, nil
	case desired == nil:
		if r.Deletions == nil {
			r.Deletions = DefaultDeletionLimit()
		}
		if res := r.Deletions.Reserve(); !res.OK() || res.Delay() > 0 {
			delay := res.Delay()
			res.Cancel()
			log.V(1).Info("budget deletions are rate-limited; retrying", "budget", key.Name, "after", delay)
			return ctrl.Result{RequeueAfter: max(delay, time.Second)}, nil
		}
		log.Info("deleting Stowage's budget", "budget", key.Name)
		return ctrl.Result{}, client.IgnoreNotFound(r.Client.Delete(ctx, current, client.Preconditions{UID: &current.UID}))
	case current == nil:
		log.Info("creating Stowage's budget", "budget", key.Name)
		if err := r.Client.Create(ctx, desired); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("creating PodDisruptionBudget %s: %w", key, err)
		}
		return ctrl.Result{}, nil
	case drifted(current, desired):
		log.Info("repairing Stowage's budget", "budget", key.Name)
		updated := repaired(current, desired)
		if err := r.Client.Update(ctx, updated); err != nil {
			return ctrl.Result{}, fmt.Errorf("updating PodDisruptionBudget %s: %w", key, err)
		}
	}
	return ctrl.Result{}, nil
}

// desired asks the engine which budget the StatefulSet should have. keep is true when the
// answer is "none" but not certain (a policy that was never valid might select it, or the
// scope is unknown): an existing budget then stays.
func (r *BudgetReconciler) desired(ctx context.Context, sts *appsv1.StatefulSet) (desired *policyv1.PodDisruptionBudget, keep bool, err error) {
	labels, set, err := r.policies(ctx, sts.Namespace)
	if set == nil {
		return nil, err != nil, err // outside Stowage's namespaces: no budget of ours
	}
	d, err := set.Decide(policy.Input{
		Operation: policy.Background, Object: sts, NamespaceLabels: labels,
		// The namespace's StatefulSets narrow a budget that would overlap another's.
		Facts: func() (policy.Facts, error) {
			return r.Cluster.Facts(ctx, sts.Namespace, sts, webhook.NeedBudgets|webhook.NeedStatefulSets)
		},
	})
	if err != nil {
		return nil, true, err
	}
	if d.Result == nil || d.Result.Exempt {
		return nil, d.Uncertain, nil
	}
	return d.Result.PDB, false, nil
}

// PolicyFor returns the policy in force that selects the StatefulSet, or nil, chosen as the
// budget controller chooses it: only in the namespaces the webhooks see, from the policies read
// afresh, and never for a StatefulSet that opted out where the policy allows it (the engine's
// opt-out rule). The recovery controller selects its policy with it.
func (r *BudgetReconciler) PolicyFor(ctx context.Context, sts *appsv1.StatefulSet) (*v1alpha1.PlacementPolicy, error) {
	if policy.SystemNamespace(sts.Namespace) {
		return nil, nil
	}
	labels, set, err := r.policies(ctx, sts.Namespace)
	if set == nil {
		return nil, err
	}
	return set.RecoveryPolicy(sts, labels), nil
}

// policies returns the namespace's labels as the cache has them (nil when it has none) and the
// policies in force; a nil set means Stowage does not act in the namespace, or err says why it
// cannot tell.
func (r *BudgetReconciler) policies(ctx context.Context, ns string) (map[string]string, *policy.Set, error) {
	labels, err := r.Cluster.NamespaceLabels(ctx, ns)
	if err != nil {
		labels = nil
	}
	if in, err := r.Scope.Covers(ctx, labelsOrName(labels, ns)); err != nil || !in {
		return labels, nil, err
	}
	// Read the policies afresh rather than from the admission snapshot, which another handler
	// of the same policy event may not have rebuilt yet; an invalid edit keeps the version in
	// force that admission keeps.
	var list v1alpha1.PlacementPolicyList
	if err := r.Client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return labels, nil, err
	}
	return labels, r.compiled.of(list.Items, r.Cluster.Policies()), nil
}

// compiledPolicies keeps the last set policy.Compile made, and makes it again only when the
// policies (their resourceVersions) or the set it replaces changed: compiling every policy on
// every reconcile cost the budget controller a third of its CPU in a namespace of a thousand
// StatefulSets (make bench-admission, W + PDB).
type compiledPolicies struct {
	mu       sync.Mutex
	key      string
	previous *policy.Set
	set      *policy.Set
}

func (c *compiledPolicies) of(items []v1alpha1.PlacementPolicy, previous *policy.Set) *policy.Set {
	versions := make([]string, len(items))
	for i := range items {
		versions[i] = string(items[i].UID) + "/" + items[i].ResourceVersion
	}
	slices.Sort(versions) // the cache lists in no particular order
	key := strings.Join(versions, ",")
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.set == nil || c.key != key || c.previous != previous {
		c.key, c.previous, c.set = key, previous, policy.Compile(items, previous)
	}
	return c.set
}

func labelsOrName(labels map[string]string, ns string) map[string]string {
	if labels == nil {
		return policy.NamespaceLabels(ns)
	}
	return labels
}

// ownsBudget is the ownership rule: the controller touches (repairs, deletes) only a budget
// whose controller owner reference is this very StatefulSet (same UID), which is what it sets on
// the budgets it creates. A budget of the same name without it, such as one `stowage check
// --fix` wrote and GitOps applies, or one left by an earlier StatefulSet of that name, is never
// adopted, whatever its labels say.
func ownsBudget(sts *appsv1.StatefulSet, pdb *policyv1.PodDisruptionBudget) bool {
	return sts.UID != "" && metav1.IsControlledBy(pdb, sts)
}

// repaired is the current budget with the desired spec and Stowage's own labels, annotations
// and owner reference merged in. Metadata others added (labels, annotations, other owner
// references) is kept: the controller owns the budget's spec, not everything on it.
func repaired(current, desired *policyv1.PodDisruptionBudget) *policyv1.PodDisruptionBudget {
	out := current.DeepCopy()
	out.Spec = *desired.Spec.DeepCopy()
	out.Labels = mergeStrings(out.Labels, desired.Labels)
	out.Annotations = mergeStrings(out.Annotations, desired.Annotations)
	for _, want := range desired.OwnerReferences {
		i := slices.IndexFunc(out.OwnerReferences, func(r metav1.OwnerReference) bool { return r.UID == want.UID })
		if i < 0 {
			out.OwnerReferences = append(out.OwnerReferences, want)
		} else {
			out.OwnerReferences[i] = want
		}
	}
	return out
}

func mergeStrings(have, want map[string]string) map[string]string {
	if len(want) == 0 {
		return have
	}
	if have == nil {
		have = make(map[string]string, len(want))
	}
	maps.Copy(have, want)
	return have
}

// drifted reports whether the budget lacks something of the desired one: a different spec, or
// a missing or changed label, annotation or owner reference of Stowage's.
func drifted(current, desired *policyv1.PodDisruptionBudget) bool {
	return !apiequality.Semantic.DeepEqual(current.Spec, desired.Spec) ||
		!apiequality.Semantic.DeepEqual(repaired(current, desired).OwnerReferences, current.OwnerReferences) ||
		!subset(desired.Labels, current.Labels) || !subset(desired.Annotations, current.Annotations)
}

func subset(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// SetupWithManager registers the reconciler and what wakes it: the StatefulSet itself, its own
// budget, any budget that selects its pods or has its budget's name (a chart's budget appearing
// or going), any policy change, namespace label changes, and changes to the webhook
// configuration that sets the scope.
func (r *BudgetReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("statefulset-budget").
		For(&appsv1.StatefulSet{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Watches(&policyv1.PodDisruptionBudget{}, handler.EnqueueRequestsFromMapFunc(r.statefulSetsConcernedBy)).
		Watches(&v1alpha1.PlacementPolicy{}, handler.EnqueueRequestsFromMapFunc(enqueue.All(r.Client))).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.statefulSetsInNamespace)).
		Watches(&admissionregistrationv1.ValidatingWebhookConfiguration{}, handler.EnqueueRequestsFromMapFunc(enqueue.All(r.Client))).
		Complete(r)
}

// statefulSetsConcernedBy wakes the StatefulSets a budget can change the decision for: those
// whose pods it selects and the one whose budget name it has. Waking every StatefulSet of the
// namespace instead made each budget write cost a reconcile per StatefulSet there: creating n
// StatefulSets in one namespace took n² reconciles (500 took minutes). The cache's indexes
// find both without matching every StatefulSet of the namespace.
func (r *BudgetReconciler) statefulSetsConcernedBy(ctx context.Context, o client.Object) []reconcile.Request {
	pdb, ok := o.(*policyv1.PodDisruptionBudget)
	if !ok {
		return nil
	}
	sets, err := r.Cluster.StatefulSetsConcernedBy(ctx, pdb)
	if err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "listing StatefulSets from the cache")
		return nil
	}
	out := make([]reconcile.Request, len(sets))
	for i, sts := range sets {
		out[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(sts)}
	}
	return out
}

func (r *BudgetReconciler) statefulSetsInNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	return enqueue.StatefulSets(ctx, r.Client, nil, client.InNamespace(o.GetName()))
}
