package audit

// Findings StrandedVolume and PendingOnStrandedVolume.
//
// Reads: the node each replica's local volume is pinned to and that node's state (absent,
// Ready condition and its lastTransitionTime against Options.Now and the threshold,
// spec.unschedulable); each replica pod's phase and spec.nodeName.
//
// A node-local volume cannot follow its pod. When its node is gone, or has been NotReady past
// the threshold, the replica cannot run anywhere until the node returns or the data is rebuilt
// elsewhere, and its pod, once deleted, stays Pending with "volume node affinity conflict". A
// cordoned node is the gentle case: the pod runs, but cannot come back after an eviction, so a
// drain that goes on to remove the node strands the replica.

import (
	"fmt"
	"strings"
)

type strandedGroup struct {
	ni     *nodeInfo
	claims []string
	pods   []string
}

func (a *analyzer) checkStranded(add func(Finding), reps []*replica) {
	var groups []*strandedGroup
	byNode := map[*nodeInfo]*strandedGroup{}
	for _, r := range reps {
		for _, vn := range r.volNodes {
			if !vn.state.Stranded() {
				continue
			}
			r.Stranded = true
			g := byNode[vn]
			if g == nil {
				g = &strandedGroup{ni: vn}
				byNode[vn] = g
				groups = append(groups, g)
			}
			claims := claimsOn(r, vn)
			g.claims = append(g.claims, claims...)
			if r.Pod != "" {
				g.pods = append(g.pods, r.Pod)
			}
			if r.Unscheduled {
				add(Finding{ID: PendingOnStrandedVolume, Severity: SeverityError, Node: vn.name, Pods: []string{r.Pod}, Claims: claims,
					Message: fmt.Sprintf("pod %s is Pending because its volume %s is pinned to node %s, which is %s, and no other node "+
						"satisfies the volume's node affinity (volume node affinity conflict); %s",
						r.Pod, strings.Join(claims, ", "), vn.name, stateWords(vn.state, a.opts), strandedFix(vn.state))})
			}
		}
	}
	for _, g := range groups {
		sev := SeverityError
		if g.ni.state == NodeCordoned {
			sev = SeverityWarning
		}
		add(Finding{ID: StrandedVolume, Severity: sev, Node: g.ni.name, Claims: g.claims, Pods: g.pods,
			Message: fmt.Sprintf("volume %s is pinned to node %s, which is %s, so %s; %s",
				strings.Join(g.claims, ", "), g.ni.name, stateWords(g.ni.state, a.opts), strandedImpact(g.ni.state), strandedFix(g.ni.state))})
	}
}

func claimsOn(r *replica, ni *nodeInfo) []string {
	var out []string
	for _, v := range r.Volumes {
		if v.Node == ni.name {
			out = append(out, v.Claim)
		}
	}
	return out
}

func stateWords(s NodeState, opts Options) string {
	switch s {
	case NodeMissing:
		return "no longer in the cluster"
	case NodeDown:
		return "NotReady for more than " + opts.threshold().String()
	case NodeCordoned:
		return "cordoned"
	}
	return strings.ToLower(string(s))
}

func strandedImpact(s NodeState) string {
	if s == NodeCordoned {
		return "the replica cannot come back if its pod is evicted or deleted"
	}
	return "the replica cannot run anywhere until the node returns"
}

func strandedFix(s NodeState) string {
	switch s {
	case NodeCordoned:
		return "uncordon the node, or move the replica's data to another node before removing it"
	case NodeDown:
		return "bring the node back, or if it is lost, delete the claim and the pod so the replica is rebuilt on a live node and resyncs"
	}
	return "delete the claim and the pod so the replica is rebuilt on a live node and resyncs, or restore its data from a backup"
}
