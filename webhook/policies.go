package webhook

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

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
		set := policy.Compile(list.Items, target.Policies())
		target.SetPolicies(set)
		invalid := 0
		for _, st := range set.States() {
			if !st.Valid() {
				invalid++
				log.Info("invalid PlacementPolicy", "policy", st.Name, "lastValidGeneration", st.LastValidGeneration, "problem", st.Problem)
			}
		}
		log.Info("policies in force", "inForce", set.Len(), "invalid", invalid)
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
