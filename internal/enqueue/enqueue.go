// Package enqueue maps a watched change to the StatefulSets it wakes, for the leader-only
// controllers (package controllers' budget reconciler and package recovery), so that both list
// from the cache the same way.
//
// It may import the standard library, k8s.io/api, logr and controller-runtime's client, handler
// and reconcile packages.
package enqueue

import (
	"context"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// StatefulSets lists the StatefulSets c holds (opts narrow the list, e.g. client.InNamespace)
// and returns a request for each one that keep accepts, or for each one when keep is nil. The
// objects keep sees are the cache's own: it must not change them. A failed list is logged with
// the context's logger and wakes nothing.
func StatefulSets(ctx context.Context, c client.Reader, keep func(*appsv1.StatefulSet) bool, opts ...client.ListOption) []reconcile.Request {
	var list appsv1.StatefulSetList
	if err := c.List(ctx, &list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "listing StatefulSets from the cache")
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if sts := &list.Items[i]; keep == nil || keep(sts) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(sts)})
		}
	}
	return out
}

// All wakes every StatefulSet c holds, whatever the change.
func All(c client.Reader) handler.MapFunc {
	return func(ctx context.Context, _ client.Object) []reconcile.Request { return StatefulSets(ctx, c, nil) }
}
