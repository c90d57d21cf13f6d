package audit

// Spec compliance: every StatefulSet goes through the same engine as the webhook and
// `stowage check`, with the Background operation, the policy the namespace's labels select, and
// facts built from the snapshot: every node, the budgets over its pods, the default class.
//
// The engine is the expensive part of an audit (its eligible-node check walks every node for
// every StatefulSet), and it is pure and safe for concurrent use, so the StatefulSets are
// evaluated by a few workers at once. Each result lands at its StatefulSet's index, so the
// report does not depend on scheduling.

import (
	"runtime"
	"sync"
	"sync/atomic"

	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// verdict is what the engine said about one StatefulSet, without the mutated copy.
type verdict struct {
	// budgets are the PodDisruptionBudgets that select the pods, sorted by name.
	budgets []*policyv1.PodDisruptionBudget
	// policy is the selected policy, or nil when none applies.
	policy     *v1alpha1.PlacementPolicy
	exempt     bool
	violations []policy.Violation
	err        error
}

func (o Options) workers() int {
	if o.Parallelism > 0 {
		return o.Parallelism
	}
	return runtime.GOMAXPROCS(0)
}

// evaluateAll runs the engine over the StatefulSets, in parallel.
func (a *analyzer) evaluateAll(list []*appsv1.StatefulSet) []verdict {
	out := make([]verdict, len(list))
	for i, s := range list {
		out[i].budgets = a.ix.budgetsSelecting(s)
	}
	eval := func(i int) {
		v := &out[i]
		d, err := a.policies.Decide(policy.Input{
			Operation: policy.Background, Object: list[i], NamespaceLabels: a.ix.namespaceLabels(list[i].Namespace),
			Facts: func() (policy.Facts, error) {
				return policy.Facts{
					NodesKnown:          true,
					Nodes:               a.ix.nodeList,
					PDBs:                v.budgets, // exactly those the engine's BudgetsSelecting would pick
					DefaultStorageClass: a.ix.defaultClass,
				}, nil
			},
		})
		v.policy = d.Policy
		if err != nil {
			v.err = err
			return
		}
		if d.Result != nil {
			v.exempt, v.violations = d.Result.Exempt, d.Result.Violations
		}
	}
	workers := min(a.opts.workers(), len(list))
	if workers <= 1 {
		for i := range list {
			eval(i)
		}
		return out
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(list) {
					return
				}
				eval(i)
			}
		})
	}
	wg.Wait()
	return out
}
