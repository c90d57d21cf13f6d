package audit

// Findings QuorumLost and NodeLossBreaksQuorum, and the node-loss impact.
//
// Reads: spec.replicas; for each replica, whether its pod is Ready on a node that is Ready or
// cordoned (healthy), the node its pod is bound to and the nodes its volumes are pinned to.
//
// A majority-quorum system of n replicas needs ⌊n/2⌋+1 of them. A node's failure takes every
// replica whose pod runs there or whose volume is pinned there; the StatefulSet loses quorum when
// the healthy replicas left are fewer than the quorum. One and two replicas can never survive a
// node by that measure, so NodeLossBreaksQuorum is only reported from three replicas up, where
// surviving one node is the point of running them; the impact rows still list every StatefulSet.

import (
	"fmt"
	"slices"
)

func (a *analyzer) checkQuorum(add func(Finding), row *StatefulSetRow, ref Ref, reps []*replica, healthy int32) {
	n, q := row.DesiredReplicas, row.Quorum
	if n >= 1 && healthy < q {
		add(Finding{ID: QuorumLost, Severity: SeverityError,
			Message: fmt.Sprintf("only %d of %d replicas are healthy (ready, on a ready node), fewer than the quorum of %d; "+
				"bring the other replicas back (see this statefulset's other findings)", healthy, n, q)})
	}
	touched := map[*nodeInfo]*touch{}
	for _, r := range reps {
		on := r.volNodes
		if r.podNode != nil && !slices.Contains(on, r.podNode) {
			on = append(on[:len(on):len(on)], r.podNode)
		}
		for _, ni := range on {
			t := entry(touched, ni)
			t.replicas++
			if r.Healthy {
				t.healthy++
			}
		}
	}
	for _, ni := range sortedNodes(touched) {
		t := touched[ni]
		x := entry(a.impact, ni)
		x.lose = append(x.lose, ref)
		left := healthy - t.healthy
		if n < 1 || left >= q {
			continue
		}
		x.quorum = append(x.quorum, ref)
		row.LosesQuorumOnNodeFailure = true
		if n >= 3 && healthy >= q {
			add(Finding{ID: NodeLossBreaksQuorum, Severity: SeverityError, Node: ni.name,
				Message: fmt.Sprintf("if node %s fails, it takes %d of the %d healthy replicas with it, leaving %d, fewer than the quorum of %d; "+
					"keep no two replicas (pods or volumes) on one node and bring unhealthy replicas back", ni.name, t.healthy, healthy, left, q)})
		}
	}
}
