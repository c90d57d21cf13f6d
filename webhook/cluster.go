package webhook

import (
	"context"
	"slices"
	"sync/atomic"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/policy"
)

// CacheCluster answers the admitter from a controller-runtime cache. Objects are read without
// deep copies: the engine never modifies its inputs.
type CacheCluster struct {
	// Reader is the manager's cache.
	Reader   client.Reader
	policies atomic.Pointer[policy.Set]
	// indexed is set by Index.
	indexed bool
}

var _ Cluster = (*CacheCluster)(nil)

// SetPolicies replaces the policies in force.
func (c *CacheCluster) SetPolicies(s *policy.Set) { c.policies.Store(s) }

// Policies returns the policies in force.
func (c *CacheCluster) Policies() *policy.Set {
	if s := c.policies.Load(); s != nil {
		return s
	}
	return policy.NewSet()
}

// NamespaceLabels returns a namespace's labels from the cache.
func (c *CacheCluster) NamespaceLabels(ctx context.Context, ns string) (map[string]string, error) {
	if ns == "" {
		return nil, nil
	}
	n := &corev1.Namespace{}
	if err := c.Reader.Get(ctx, client.ObjectKey{Name: ns}, n); err != nil {
		return nil, err
	}
	return policy.NamespaceLabelsOf(n), nil
}

// The cache's indexes (Index): budgets by policy.SelectorKey of their selector, StatefulSets by
// policy.LabelKeys of their pod template's labels and by the name of the budget Stowage keeps
// for them.
const (
	budgetSelectorIndex = "stowage.dev/selector-key"
	templateLabelsIndex = "stowage.dev/template-labels"
	budgetNameIndex     = "stowage.dev/budget-name"
)

// Index registers the indexes Facts and StatefulSetsConcernedBy look up on the cache they read (before
// it starts). Without them, they match the whole namespace, which costs a namespace of a
// thousand StatefulSets a thousand matches on every request and reconcile.
func (c *CacheCluster) Index(ctx context.Context, fi client.FieldIndexer) error {
	if err := fi.IndexField(ctx, &policyv1.PodDisruptionBudget{}, budgetSelectorIndex, func(o client.Object) []string {
		return []string{policy.SelectorKey(o.(*policyv1.PodDisruptionBudget).Spec.Selector)}
	}); err != nil {
		return err
	}
	if err := fi.IndexField(ctx, &appsv1.StatefulSet{}, templateLabelsIndex, func(o client.Object) []string {
		return policy.LabelKeys(o.(*appsv1.StatefulSet).Spec.Template.Labels)
	}); err != nil {
		return err
	}
	if err := fi.IndexField(ctx, &appsv1.StatefulSet{}, budgetNameIndex, func(o client.Object) []string {
		return []string{policy.BudgetName(o.GetName())}
	}); err != nil {
		return err
	}
	c.indexed = true
	return nil
}

// Facts reads what the engine needs to judge obj in the namespace: the default StorageClass, and
// what need asks for.
func (c *CacheCluster) Facts(ctx context.Context, ns string, obj runtime.Object, need Need) (policy.Facts, error) {
	// The engine stops its cluster-sized scans once the request's deadline has passed.
	f := policy.Facts{Done: ctx.Done()}
	var err error
	if sts, ok := obj.(*appsv1.StatefulSet); ok && need&NeedBudgets != 0 {
		// Budgets matter only to a StatefulSet (BudgetsSelecting and the budget rules).
		if f.PDBs, err = c.budgetsReaching(ctx, ns, sts.Spec.Template.Labels); err != nil {
			return f, err
		}
	}
	var classes storagev1.StorageClassList
	if err := c.Reader.List(ctx, &classes, client.UnsafeDisableDeepCopy); err != nil {
		return f, err
	}
	f.DefaultStorageClass = policy.DefaultStorageClass(pointers(classes.Items))
	if need&NeedStatefulSets != 0 {
		if f.StatefulSets, err = c.statefulSetsConcerning(ctx, ns, obj); err != nil {
			return f, err
		}
	}
	if need&NeedNodes != 0 {
		var nodes corev1.NodeList
		if err := c.Reader.List(ctx, &nodes, client.UnsafeDisableDeepCopy); err != nil {
			return f, err
		}
		f.NodesKnown = true
		f.Nodes = pointers(nodes.Items)
	}
	return f, nil
}

// budgetsReaching returns the namespace's budgets whose selector can reach pods with the
// template labels: those indexed under one of their keys.
func (c *CacheCluster) budgetsReaching(ctx context.Context, ns string, template map[string]string) ([]*policyv1.PodDisruptionBudget, error) {
	if !c.indexed {
		var all policyv1.PodDisruptionBudgetList
		err := c.Reader.List(ctx, &all, client.InNamespace(ns), client.UnsafeDisableDeepCopy)
		return pointers(all.Items), err
	}
	var out []*policyv1.PodDisruptionBudget
	for _, key := range policy.LabelKeys(template) {
		var some policyv1.PodDisruptionBudgetList
		if err := c.Reader.List(ctx, &some, client.InNamespace(ns), client.MatchingFields{budgetSelectorIndex: key}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
		out = append(out, pointers(some.Items)...)
	}
	return out, nil
}

// statefulSetsConcerning returns the namespace's StatefulSets that can matter to obj: for a
// claim, those named as its maker would be; for a budget, those whose pods its selector can
// reach; for a StatefulSet, those its selector can reach (the budget's narrowing).
func (c *CacheCluster) statefulSetsConcerning(ctx context.Context, ns string, obj runtime.Object) ([]*appsv1.StatefulSet, error) {
	if c.indexed {
		switch o := obj.(type) {
		case *corev1.PersistentVolumeClaim:
			var out []*appsv1.StatefulSet
			for _, name := range policy.ClaimOwnerNames(o.Name) {
				s, err := c.StatefulSet(ctx, ns, name)
				if err != nil {
					return nil, err
				}
				if s != nil {
					out = append(out, s)
				}
			}
			return out, nil
		case *policyv1.PodDisruptionBudget:
			return c.StatefulSetsSelectedBy(ctx, ns, o.Spec.Selector)
		case *appsv1.StatefulSet:
			return c.StatefulSetsSelectedBy(ctx, ns, o.Spec.Selector)
		}
	}
	return c.StatefulSetsSelectedBy(ctx, ns, nil)
}

// StatefulSetsSelectedBy returns the namespace's StatefulSets whose pods a selector can reach
// (a superset: those whose template carries policy.SelectorKey of it); a nil selector, or a
// cache without the indexes, returns them all.
func (c *CacheCluster) StatefulSetsSelectedBy(ctx context.Context, ns string, sel *metav1.LabelSelector) ([]*appsv1.StatefulSet, error) {
	opts := []client.ListOption{client.InNamespace(ns), client.UnsafeDisableDeepCopy}
	if key := policy.SelectorKey(sel); c.indexed && key != policy.AnyLabels {
		opts = append(opts, client.MatchingFields{templateLabelsIndex: key})
	}
	var sets appsv1.StatefulSetList
	err := c.Reader.List(ctx, &sets, opts...)
	return pointers(sets.Items), err
}

// StatefulSetsConcernedBy returns the StatefulSets of a budget's namespace whose decision the
// budget can change: those whose pods it selects, and the one whose Stowage budget would have
// its name.
func (c *CacheCluster) StatefulSetsConcernedBy(ctx context.Context, pdb *policyv1.PodDisruptionBudget) ([]*appsv1.StatefulSet, error) {
	named := []client.ListOption{client.InNamespace(pdb.Namespace), client.UnsafeDisableDeepCopy}
	if c.indexed {
		named = append(named, client.MatchingFields{budgetNameIndex: pdb.Name})
	}
	var sets appsv1.StatefulSetList
	if err := c.Reader.List(ctx, &sets, named...); err != nil {
		return nil, err
	}
	selected, err := c.StatefulSetsSelectedBy(ctx, pdb.Namespace, pdb.Spec.Selector)
	if err != nil {
		return nil, err
	}
	only := []*policyv1.PodDisruptionBudget{pdb}
	var out []*appsv1.StatefulSet
	for _, sts := range append(pointers(sets.Items), selected...) {
		if (policy.BudgetName(sts.Name) == pdb.Name || len(policy.BudgetsSelecting(sts, only)) > 0) &&
			!slices.ContainsFunc(out, func(o *appsv1.StatefulSet) bool { return o.Name == sts.Name }) {
			out = append(out, sts)
		}
	}
	return out, nil
}

// pointers points at the items of a list read from the cache without a copy.
func pointers[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// StatefulSet returns a StatefulSet from the cache, or nil when it is not there.
func (c *CacheCluster) StatefulSet(ctx context.Context, ns, name string) (*appsv1.StatefulSet, error) {
	s := &appsv1.StatefulSet{}
	if err := c.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return s, nil
}
