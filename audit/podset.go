package audit

// Pod sets: the pods of a replicated stateful system that its operator makes directly, without
// a StatefulSet (Strimzi's StrimziPodSet, CloudNativePG's Cluster). Findings ColocatedReplicas,
// VolumesPinnedTogether, PodAwayFromVolume, StrandedVolume and PendingOnStrandedVolume, as for a
// StatefulSet.
//
// Reads: the pods' controller references, spec.nodeName, the claims of spec.volumes, phase and
// Ready condition; the claims, their volumes and the nodes the volumes are pinned to.
//
// Stowage does not mutate these pods: the operator derives them from its custom resource, which
// is where placement is fixed (and where Stowage judges it, when the resource is in
// internal/operatorcr's table), and a pod changed on admission would fight the operator's own
// pod-spec revision. But two replicas on one node are as fragile here as in a StatefulSet, so the
// audit reports them. A set is the pods of one controller of a kind that is not a built-in
// workload (apps, batch, a ReplicationController, a node's static pods) when the kind is one of
// PodSetKinds, or when at least two of its pods each have a claim of their own: replicas with
// their own data. Pods that share one claim (a workflow's steps on a workspace) are not replicas.
// There are no ordinals and no desired count to judge quorum or budgets by, so those checks are
// left to the resource's StatefulSet-shaped checks, where there are any.

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// PodSetKinds are the controllers known to make the replicas of a stateful system as bare pods.
// Their pods form a pod set even without claims of their own (Strimzi's ephemeral storage).
var PodSetKinds = []schema.GroupKind{
	{Group: "core.strimzi.io", Kind: "StrimziPodSet"},
}

// StatefulSetOwner says whether a controller is Kubernetes' own StatefulSet (group apps). A
// StatefulSet of another API group, such as OpenKruise's apps.kruise.io, is a pod set.
func StatefulSetOwner(ref *metav1.OwnerReference) bool {
	return ref != nil && ref.Kind == "StatefulSet" && strings.HasPrefix(ref.APIVersion, "apps/")
}

// PodSetOwner reports whether a pod's controller may make a pod set: any kind but the built-in
// workloads. The audit's collector keeps the pods it says yes to, and StatefulSets' pods.
func PodSetOwner(ref *metav1.OwnerReference) bool {
	if ref == nil {
		return false
	}
	group, _, ok := strings.Cut(ref.APIVersion, "/")
	if !ok {
		group = "" // the core group: ReplicationController, Node (static pods)
	}
	switch group {
	case "", "apps", "batch", "extensions":
		return false
	}
	return true
}

// podSetKey identifies a pod set by its controller.
type podSetKey struct {
	namespace, group, kind, name, uid string
}

// podSet is a controller's pods, as the index collects them.
type podSet struct {
	key        podSetKey
	apiVersion string
	pods       []*corev1.Pod
}

func knownPodSetKind(group, kind string) bool {
	return slices.Contains(PodSetKinds, schema.GroupKind{Group: group, Kind: kind})
}

// replicated reports whether a controller's pods are replicas with data of their own: two or
// more of them each have a claim no other pod of the set has.
func (s *podSet) replicated() bool {
	if knownPodSetKind(s.key.group, s.key.kind) {
		return true
	}
	users := map[string]int{}
	for _, p := range s.pods {
		for _, c := range podClaims(p) {
			users[c]++
		}
	}
	own := 0
	for _, p := range s.pods {
		if slices.ContainsFunc(podClaims(p), func(c string) bool { return users[c] == 1 }) {
			own++
		}
	}
	return own >= 2
}

// podClaims are the claims a pod's volumes name, each once, in volume order.
func podClaims(p *corev1.Pod) []string {
	var out []string
	for i := range p.Spec.Volumes {
		if c := p.Spec.Volumes[i].PersistentVolumeClaim; c != nil && c.ClaimName != "" && !slices.Contains(out, c.ClaimName) {
			out = append(out, c.ClaimName)
		}
	}
	return out
}

// podSets audits every pod set, sorted by namespace, kind and name.
func (a *analyzer) podSets() {
	sets := make([]*podSet, 0, len(a.ix.podSets))
	for _, s := range a.ix.podSets {
		if s.replicated() {
			sets = append(sets, s)
		}
	}
	slices.SortFunc(sets, func(x, y *podSet) int {
		return cmp.Or(cmp.Compare(x.key.namespace, y.key.namespace), cmp.Compare(x.key.kind, y.key.kind),
			cmp.Compare(x.key.name, y.key.name), cmp.Compare(x.key.group, y.key.group), cmp.Compare(x.key.uid, y.key.uid))
	})
	a.report.PodSets = make([]PodSetRow, 0, len(sets))
	for _, s := range sets {
		a.podSet(s)
	}
}

func (a *analyzer) podSet(s *podSet) {
	k := s.key
	row := PodSetRow{Namespace: k.namespace, APIVersion: s.apiVersion, Kind: k.kind, Name: k.name, UID: k.uid}
	res := &ResourceRef{APIVersion: s.apiVersion, Kind: k.kind, Name: k.name}
	add := func(f Finding) {
		f.Namespace, f.Resource, f.Source = k.namespace, res, SourceAudit
		f.Message += fmt.Sprintf(" (Stowage does not change the pods a %s makes: set this in the custom resource its operator makes them from)", k.kind)
		a.findings = append(a.findings, f)
	}
	pods := slices.Clone(s.pods)
	slices.SortFunc(pods, func(x, y *corev1.Pod) int { return cmp.Compare(x.Name, y.Name) })
	reps := make([]*replica, 0, len(pods))
	for i, p := range pods {
		r := &replica{Replica: Replica{Ordinal: int32(i)}, inRange: true}
		a.setPod(r, p)
		for _, c := range podClaims(p) {
			a.addVolume(r, k.namespace, volumeNaming(p, c), c)
		}
		reps = append(reps, r)
	}
	row.Nodes = a.checkPlacement(add, reps)
	row.Replicas = make([]Replica, len(reps))
	for i, r := range reps {
		if r.Ready {
			row.ReadyReplicas++
		}
		if r.Colocated {
			row.ColocatedReplicas++
		}
		if r.Stranded {
			row.StrandedReplicas++
		}
		if len(r.volNodes) > 0 {
			row.PinnedReplicas++
		}
		row.Replicas[i] = r.Replica
	}
	a.report.PodSets = append(a.report.PodSets, row)
}

// volumeNaming is the name of the first of the pod's volumes that mounts the claim.
func volumeNaming(p *corev1.Pod, claim string) string {
	for i := range p.Spec.Volumes {
		if c := p.Spec.Volumes[i].PersistentVolumeClaim; c != nil && c.ClaimName == claim {
			return p.Spec.Volumes[i].Name
		}
	}
	return ""
}
