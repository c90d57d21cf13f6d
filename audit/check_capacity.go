package audit

// Finding InsufficientEligibleNodes.
//
// Reads: spec.replicas; spec.template.spec (nodeSelector, required node affinity, tolerations,
// required pod anti-affinity) and spec.template.metadata.labels; the nodes (labels, taints,
// spec.unschedulable); the namespace's labels.
//
// Under required anti-affinity on kubernetes.io/hostname over its own pods, each replica needs a
// node of its own. With more replicas than eligible nodes (policy.NodeEligible: nodeSelector,
// required node affinity, NoSchedule and NoExecute taints against the tolerations, cordons) the
// extra replicas are Pending now, or will be on their next restart. Without hard anti-affinity
// the scheduler co-locates instead, which ColocatedReplicas reports when it happens.

import (
	"fmt"
)

func checkCapacity(add func(Finding), n int32, eligible int, hard bool) {
	if !hard || int(n) <= eligible {
		return
	}
	add(Finding{ID: InsufficientEligibleNodes, Severity: SeverityError, Field: "spec.replicas",
		Message: fmt.Sprintf("%d replicas need a node each under required anti-affinity on kubernetes.io/hostname, but only %d "+
			"node(s) are eligible (after nodeSelector, node affinity, taints and tolerations, and cordoned nodes), so %d replica(s) "+
			"stay Pending; reduce spec.replicas to %d or make more nodes eligible", n, eligible, int(n)-eligible, eligible)})
}
