package webhook

import (
	"context"
	"sync/atomic"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/policy"
)

// CacheCluster answers the admitter from a controller-runtime cache. Objects are read without
// deep copies: the engine never modifies its inputs.
type CacheCluster struct {
	// Reader is the manager's cache.
	Reader   client.Reader
	policies atomic.Pointer[policy.Set]
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

// Facts reads the budgets of the namespace, the default StorageClass and what need asks for.
func (c *CacheCluster) Facts(ctx context.Context, ns string, need Need) (policy.Facts, error) {
	// The engine stops its cluster-sized scans once the request's deadline has passed.
	f := policy.Facts{Done: ctx.Done()}
	var pdbs policyv1.PodDisruptionBudgetList
	if err := c.Reader.List(ctx, &pdbs, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
		return f, err
	}
	f.PDBs = pointers(pdbs.Items)
	var classes storagev1.StorageClassList
	if err := c.Reader.List(ctx, &classes, client.UnsafeDisableDeepCopy); err != nil {
		return f, err
	}
	f.DefaultStorageClass = policy.DefaultStorageClass(pointers(classes.Items))
	switch need {
	case NeedStatefulSets:
		// Claims: the StatefulSets that may have made them from a template; budgets (written or
		// kept by the controller): the StatefulSets they cover and overlap. StatefulSet admission
		// does without them: listing a namespace of a thousand StatefulSets on every request
		// doubled Stowage's CPU per admission (make bench-admission), and SelectorOverlap is
		// reported by check, the audit and the budget controller's narrowing instead.
		var sets appsv1.StatefulSetList
		if err := c.Reader.List(ctx, &sets, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
			return f, err
		}
		f.StatefulSets = pointers(sets.Items)
	case NeedNodes:
		var nodes corev1.NodeList
		if err := c.Reader.List(ctx, &nodes, client.UnsafeDisableDeepCopy); err != nil {
			return f, err
		}
		f.NodesKnown = true
		f.Nodes = pointers(nodes.Items)
	}
	return f, nil
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
