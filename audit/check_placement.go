package audit

// Findings ColocatedReplicas, VolumesPinnedTogether and PodAwayFromVolume.
//
// Reads: each replica pod's spec.nodeName and phase; the node each replica's local volume is
// pinned to (PersistentVolume spec.nodeAffinity.required, on kubernetes.io/hostname or
// metadata.name).
//
// Two pods of one StatefulSet on one node means that node's failure or drain takes two copies
// of the data at once, whatever the spec says: the pods may predate the policy, or soft
// anti-affinity gave way. With node-local volumes it is worse: two replicas whose volumes are
// pinned to one node can only ever run there, so rescheduling the pods does not help until the
// data moves. A pod running on another node than its volume is pinned to is not using that
// data at all, or the volume's node affinity is wrong (a volume restored by hand, say).

import (
	"fmt"
	"strings"
)

// checkPlacement runs the checks on where the replicas of a StatefulSet or a pod set are (these
// and check_stranded.go's) and returns the nodes that run their pods, sorted.
func (a *analyzer) checkPlacement(add func(Finding), reps []*replica) []string {
	podsOn := map[*nodeInfo][]*replica{}
	volsOn := map[*nodeInfo][]*replica{}
	for _, r := range reps {
		if r.podNode != nil {
			podsOn[r.podNode] = append(podsOn[r.podNode], r)
		}
		for _, vn := range r.volNodes {
			volsOn[vn] = append(volsOn[vn], r)
		}
	}
	checkColocated(add, podsOn, volsOn)
	checkAwayFromVolume(add, reps)
	a.checkStranded(add, reps)
	nodes := make([]string, 0, len(podsOn))
	for _, ni := range sortedNodes(podsOn) {
		nodes = append(nodes, ni.name)
	}
	return nodes
}

func checkColocated(add func(Finding), podsOn, volsOn map[*nodeInfo][]*replica) {
	for _, ni := range sortedNodes(podsOn) {
		rs := podsOn[ni]
		if len(rs) < 2 {
			continue
		}
		pods := make([]string, len(rs))
		for i, r := range rs {
			r.Colocated = true
			pods[i] = r.Pod
		}
		add(Finding{ID: ColocatedReplicas, Severity: SeverityError, Node: ni.name, Pods: pods,
			Message: fmt.Sprintf("%d replicas (%s) run on node %s, so losing or draining that node takes %d copies of the data at once; "+
				"add required pod anti-affinity on kubernetes.io/hostname and reschedule all but one of them",
				len(rs), strings.Join(pods, ", "), ni.name, len(rs))})
	}
	for _, ni := range sortedNodes(volsOn) {
		rs := volsOn[ni]
		if len(rs) < 2 {
			continue
		}
		var claims []string
		for _, r := range rs {
			r.Colocated = true
			claims = append(claims, claimsOn(r, ni)...)
		}
		add(Finding{ID: VolumesPinnedTogether, Severity: SeverityError, Node: ni.name, Claims: claims,
			Message: fmt.Sprintf("the volumes of %d replicas (%s) are pinned to node %s, so those replicas can only ever run there together; "+
				"move all but one replica's data to another node: delete that replica's claim and pod so it is rebuilt elsewhere and resyncs",
				len(rs), strings.Join(claims, ", "), ni.name)})
	}
}

func checkAwayFromVolume(add func(Finding), reps []*replica) {
	for _, r := range reps {
		if r.podNode == nil {
			continue
		}
		var claims, nodes []string
		for _, v := range r.Volumes {
			if v.Node != "" && v.Node != r.podNode.name {
				claims = append(claims, v.Claim)
				if len(nodes) == 0 || nodes[len(nodes)-1] != v.Node {
					nodes = append(nodes, v.Node)
				}
			}
		}
		if len(claims) == 0 {
			continue
		}
		r.AwayFromVolume = true
		add(Finding{ID: PodAwayFromVolume, Severity: SeverityError, Node: r.podNode.name, Pods: []string{r.Pod}, Claims: claims,
			Message: fmt.Sprintf("pod %s runs on node %s but its volume %s is pinned to node %s, so it is not using the data there "+
				"or the volume's node affinity is wrong; check where the data really is and correct the PersistentVolume's spec.nodeAffinity",
				r.Pod, r.podNode.name, strings.Join(claims, ", "), strings.Join(nodes, ", "))})
	}
}
