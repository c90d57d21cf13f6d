package policy

// Guarded recovery of stranded replicas: the pure decision. The controller in package recovery
// lists the facts, calls DecideRecovery once per StatefulSet and carries out the one step it
// returns, then calls again: every step is idempotent and the state between steps lives in the
// cluster (the StatefulSet's stowage.dev/recovery annotation, the claim, the pod), so a restart
// between any two steps resumes where it stopped.
//
// The order of one recovery (kubernetes#113139, scylla-operator#697):
//  1. Begin: record the ordinal, pod and claims on the StatefulSet (one at a time).
//  2. RetainVolume: set the old volume's reclaim policy to Retain and annotate it.
//  3. DeleteClaim: delete the stranded claim (UID precondition), then wait until the cache no
//     longer has it.
//  4. DeletePod: delete the Pending pod (UID precondition); the StatefulSet controller creates a
//     new claim and pod, which the scheduler places on a live node.
//  5. If the new pod comes up without its claim, delete it again (the race of #113139).
//  6. Finish once the new pod is Ready on a live node.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

const (
	// RecoveryAnnotation, on a StatefulSet, holds the RecoveryRecord of its recovery in flight.
	RecoveryAnnotation = "stowage.dev/recovery"
	// RecoveryStatusAnnotation, on a StatefulSet, is a one-line summary of its stranded replicas:
	// pending, blocked by which guard, recovering or recovered.
	RecoveryStatusAnnotation = "stowage.dev/recovery-status"
	// RecoveryApproveAnnotation, on a StatefulSet, set to an ordinal, approves the recovery of
	// that replica in Manual mode. It is removed when the recovery begins.
	RecoveryApproveAnnotation = "stowage.dev/recovery-approve"
	// RecoveredFromAnnotation, on a PersistentVolume, says which claim Stowage released from it,
	// when and why. The volume itself is kept, with reclaim policy Retain.
	RecoveredFromAnnotation = "stowage.dev/recovered-from"
	// DefaultMaxRecoveries is the default cluster-wide cap on recoveries in flight.
	DefaultMaxRecoveries = 1
	// NewPodGraceSeconds is how long a replacement pod may wait for its claim before Stowage
	// concludes that the StatefulSet controller will never create it (kubernetes#113139).
	NewPodGraceSeconds = 30
)

// RecoveryAction is the one step DecideRecovery asks for.
type RecoveryAction string

const (
	// RecoveryNone: nothing to do now; see the decision's Replicas for why.
	RecoveryNone RecoveryAction = "None"
	// RecoveryBegin: write Record to the StatefulSet's RecoveryAnnotation.
	RecoveryBegin RecoveryAction = "Begin"
	// RecoveryRetainVolume: set Volume's reclaim policy to Retain and its RecoveredFromAnnotation.
	RecoveryRetainVolume RecoveryAction = "RetainVolume"
	// RecoveryDeleteClaim: delete Claim, with its UID as precondition.
	RecoveryDeleteClaim RecoveryAction = "DeleteClaim"
	// RecoveryDeletePod: delete Pod, with its UID as precondition.
	RecoveryDeletePod RecoveryAction = "DeletePod"
	// RecoveryFinish: the replica is Ready on a live node; remove the RecoveryAnnotation.
	RecoveryFinish RecoveryAction = "Finish"
	// RecoveryAbort: stop before anything was released (the node came back, or quorum was lost
	// before the claim was deleted); remove the RecoveryAnnotation.
	RecoveryAbort RecoveryAction = "Abort"
	// RecoveryWait: a recovery is in flight and waits for the cluster (a claim or pod going
	// away, the new pod becoming Ready).
	RecoveryWait RecoveryAction = "Wait"
)

// RecoveryGuard names what keeps a stranded replica from being recovered now.
type RecoveryGuard string

const (
	// GuardModeOff: the policy's recovery mode is Off.
	GuardModeOff RecoveryGuard = "RecoveryOff"
	// GuardAwaitingApproval: Manual mode, and no stowage.dev/recovery-approve for this ordinal.
	GuardAwaitingApproval RecoveryGuard = "AwaitingApproval"
	// GuardQuorumLost: too few healthy replicas would remain.
	GuardQuorumLost RecoveryGuard = "QuorumLost"
	// GuardOneAtATime: another replica of the StatefulSet is recovering.
	GuardOneAtATime RecoveryGuard = "OneAtATime"
	// GuardClusterCap: the cluster-wide cap of recoveries in flight is reached.
	GuardClusterCap RecoveryGuard = "ClusterCap"
	// GuardPodNotStranded: the replica's pod is not Pending-unschedulable (absent, still bound
	// to the gone node, or not yet judged by the scheduler): wait for Kubernetes.
	GuardPodNotStranded RecoveryGuard = "PodNotUnschedulable"
	// GuardUncertain: the facts are incomplete or contradictory (no nodes known, an unreadable
	// record): do nothing.
	GuardUncertain RecoveryGuard = "Uncertain"
)

// NodeGone says why a node counts as gone, or "" when it does not.
type NodeGone string

const (
	// NodeDeleted: no Node object carries the hostname any more.
	NodeDeleted NodeGone = "deleted"
	// NodeOutOfService: the node carries the node.kubernetes.io/out-of-service taint.
	NodeOutOfService NodeGone = "out-of-service"
	// NodeNotReadyTooLong: NotReady for longer than the policy's nodeNotReadyAfter.
	NodeNotReadyTooLong NodeGone = "not-ready"
)

// RecoveryRecord is what a StatefulSet's RecoveryAnnotation holds while one of its replicas is
// recovering: enough to resume after a restart without guessing.
type RecoveryRecord struct {
	Ordinal int32     `json:"ordinal"`
	Pod     string    `json:"pod"`
	PodUID  types.UID `json:"podUID"`
	// Node is the hostname the replica's volumes were pinned to, and Reason why it counts as gone.
	Node    string          `json:"node"`
	Reason  NodeGone        `json:"reason"`
	Claims  []RecoveryClaim `json:"claims"`
	Started metav1.Time     `json:"started"`
}

// RecoveryClaim is one stranded claim of the replica and the volume it was bound to.
type RecoveryClaim struct {
	Name   string    `json:"name"`
	UID    types.UID `json:"uid"`
	Volume string    `json:"volume"`
}

// RecoveryFacts are what DecideRecovery knows. All read-only.
type RecoveryFacts struct {
	// Spec is the recovery part of the policy that selects the StatefulSet (defaulted).
	Spec v1alpha1.RecoverySpec
	// StatefulSet is the StatefulSet, with its annotations.
	StatefulSet *appsv1.StatefulSet
	// Pods, Claims are those of the StatefulSet's namespace; others are ignored.
	Pods   []*corev1.Pod
	Claims []*corev1.PersistentVolumeClaim
	// Volumes and Nodes are the cluster's. An empty Nodes list is treated as unknown.
	Volumes []*corev1.PersistentVolume
	Nodes   []*corev1.Node
	// InFlight is the number of other StatefulSets with a recovery in flight, cluster-wide.
	InFlight int
	// MaxInFlight is the cluster-wide cap (DefaultMaxRecoveries when 0).
	MaxInFlight int
	// Now is the caller's clock: policy reads none.
	Now metav1.Time
}

// ReplicaRecovery is the state of one stranded replica, for events, status and the plan.
type ReplicaRecovery struct {
	Ordinal int32    `json:"ordinal"`
	Pod     string   `json:"pod"`
	Claims  []string `json:"claims"`
	Volumes []string `json:"volumes"`
	Node    string   `json:"node"`
	Reason  NodeGone `json:"nodeGone"`
	// State is Pending (would start now), Blocked (Guard says why) or Recovering.
	State   string        `json:"state"`
	Guard   RecoveryGuard `json:"guard,omitempty"`
	Message string        `json:"message"`
}

// Replica states.
const (
	ReplicaPending    = "Pending"
	ReplicaBlocked    = "Blocked"
	ReplicaRecovering = "Recovering"
)

// RecoveryDecision is the one step to take now, and the state of every stranded replica.
type RecoveryDecision struct {
	Action RecoveryAction
	// Ordinal is the replica the action is about (-1 for none).
	Ordinal int32
	// Record is the record to write on Begin, or the record in flight.
	Record *RecoveryRecord
	// Exactly one of Volume, Claim and Pod is set for the actions that target them.
	Volume *corev1.PersistentVolume
	Claim  *corev1.PersistentVolumeClaim
	Pod    *corev1.Pod
	// Guard is set when a guard stops the action (on None, and on Abort).
	Guard   RecoveryGuard
	Message string
	// Replicas are the StatefulSet's stranded replicas, by ordinal.
	Replicas []ReplicaRecovery
}

// Quorum returns the number of healthy replicas a StatefulSet of n replicas must keep while one
// is recovered: minHealthy when set, a majority otherwise.
func Quorum(n int32, minHealthy *int32) int32 {
	if minHealthy != nil {
		return *minHealthy
	}
	return n/2 + 1
}

// ParseRecoveryRecord reads a RecoveryAnnotation value.
func ParseRecoveryRecord(s string) (*RecoveryRecord, error) {
	var r RecoveryRecord
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, fmt.Errorf("annotation %s is not a recovery record: %w", RecoveryAnnotation, err)
	}
	if r.Pod == "" || r.Ordinal < 0 || len(r.Claims) == 0 {
		return nil, fmt.Errorf("annotation %s lacks its pod, ordinal or claims", RecoveryAnnotation)
	}
	return &r, nil
}

// String encodes the record for the RecoveryAnnotation.
func (r *RecoveryRecord) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// RecoveredFrom is the value of a volume's RecoveredFromAnnotation.
func (r *RecoveryRecord) RecoveredFrom(namespace string, c RecoveryClaim) string {
	return fmt.Sprintf("claim %s/%s (uid %s) of pod %s released at %s because node %s is %s; the data is still on that node",
		namespace, c.Name, c.UID, r.Pod, r.Started.UTC().Format("2006-01-02T15:04:05Z07:00"), r.Node, r.Reason)
}

// recoveryView indexes the facts of one StatefulSet.
type recoveryView struct {
	f      *RecoveryFacts
	sts    *appsv1.StatefulSet
	pods   map[string]*corev1.Pod
	claims map[string]*corev1.PersistentVolumeClaim
	pvs    map[string]*corev1.PersistentVolume
	nodes  map[string][]*corev1.Node // by hostname
	byName map[string]*corev1.Node
}

func newRecoveryView(f *RecoveryFacts) *recoveryView {
	v := &recoveryView{f: f, sts: f.StatefulSet, pods: map[string]*corev1.Pod{}, claims: map[string]*corev1.PersistentVolumeClaim{},
		pvs: map[string]*corev1.PersistentVolume{}, nodes: map[string][]*corev1.Node{}, byName: map[string]*corev1.Node{}}
	for _, p := range f.Pods {
		if p.Namespace == v.sts.Namespace && ownedBy(p.OwnerReferences, v.sts.UID) {
			v.pods[p.Name] = p
		}
	}
	for _, c := range f.Claims {
		if c.Namespace == v.sts.Namespace {
			v.claims[c.Name] = c
		}
	}
	for _, pv := range f.Volumes {
		v.pvs[pv.Name] = pv
	}
	for _, n := range f.Nodes {
		h := NodeHostname(n)
		v.nodes[h] = append(v.nodes[h], n)
		v.byName[n.Name] = n
	}
	return v
}

func ownedBy(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller && r.UID == uid {
			return true
		}
	}
	return false
}

// hostGone says whether every node with the hostname is gone, and why.
func (v *recoveryView) hostGone(host string) NodeGone {
	ns := v.nodes[host]
	if len(ns) == 0 {
		return NodeDeleted
	}
	var why NodeGone
	for _, n := range ns {
		if why = v.nodeGone(n); why == "" {
			return ""
		}
	}
	return why
}

func (v *recoveryView) nodeGone(n *corev1.Node) NodeGone {
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeOutOfService {
			return NodeOutOfService
		}
	}
	if d := v.f.Spec.NodeNotReadyAfter; d != nil {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue && !c.LastTransitionTime.IsZero() &&
				v.f.Now.Sub(c.LastTransitionTime.Time) > d.Duration {
				return NodeNotReadyTooLong
			}
		}
	}
	return ""
}

// pinnedHosts returns the hostnames a volume's required node affinity pins it to, or nil when
// it is not pinned by hostname in every term (not a node-local volume: never recovered).
func pinnedHosts(pv *corev1.PersistentVolume) []string {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil || len(pv.Spec.NodeAffinity.Required.NodeSelectorTerms) == 0 {
		return nil
	}
	var hosts []string
	for _, t := range pv.Spec.NodeAffinity.Required.NodeSelectorTerms {
		found := false
		for _, r := range t.MatchExpressions {
			if r.Key == corev1.LabelHostname && r.Operator == corev1.NodeSelectorOpIn && len(r.Values) > 0 {
				hosts = append(hosts, r.Values...)
				found = true
				break
			}
		}
		if !found {
			return nil
		}
	}
	return hosts
}

// volumeGone says whether a bound volume is pinned to hosts that are all gone, which one and why.
func (v *recoveryView) volumeGone(pv *corev1.PersistentVolume) (string, NodeGone) {
	hosts := pinnedHosts(pv)
	var why NodeGone // stays "" for a volume not pinned by hostname
	for _, h := range hosts {
		if why = v.hostGone(h); why == "" {
			return "", ""
		}
	}
	return strings.Join(hosts, ","), why
}

func (v *recoveryView) ordinals() []int32 {
	start := int32(0)
	if v.sts.Spec.Ordinals != nil {
		start = v.sts.Spec.Ordinals.Start
	}
	n := stsReplicas(v.sts)
	out := make([]int32, 0, n)
	for i := int32(0); i < n; i++ {
		out = append(out, start+i)
	}
	return out
}

func (v *recoveryView) podName(ord int32) string {
	return v.sts.Name + "-" + strconv.Itoa(int(ord))
}

func (v *recoveryView) claimName(tmpl string, ord int32) string {
	return tmpl + "-" + v.podName(ord)
}

// healthy counts the Ready, not terminating replicas on live nodes, leaving out ordinal skip.
func (v *recoveryView) healthy(skip int32) int32 {
	var n int32
	for _, ord := range v.ordinals() {
		if ord == skip {
			continue
		}
		p := v.pods[v.podName(ord)]
		if p == nil || p.DeletionTimestamp != nil || !PodReady(p) {
			continue
		}
		if node := v.byName[p.Spec.NodeName]; node == nil || v.nodeGone(node) != "" {
			continue
		}
		n++
	}
	return n
}

// PodReady reports whether a pod's Ready condition is True. The audit uses it too.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// unschedulable says whether the scheduler has found no node for a pod that no node holds.
func unschedulable(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Spec.NodeName != "" || p.Status.Phase != corev1.PodPending {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
		}
	}
	return false
}

// stranded finds the replica's claims bound to volumes pinned to gone nodes.
func (v *recoveryView) stranded(ord int32) *ReplicaRecovery {
	r := &ReplicaRecovery{Ordinal: ord, Pod: v.podName(ord)}
	for _, t := range v.sts.Spec.VolumeClaimTemplates {
		c := v.claims[v.claimName(t.Name, ord)]
		// Only a bound claim whose volume is bound back to it: never one being provisioned or
		// a fresh one from a scale-up.
		if c == nil || c.DeletionTimestamp != nil || c.Status.Phase != corev1.ClaimBound || c.Spec.VolumeName == "" {
			continue
		}
		pv := v.pvs[c.Spec.VolumeName]
		if pv == nil || pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != c.UID {
			continue
		}
		host, why := v.volumeGone(pv)
		if why == "" {
			continue
		}
		r.Claims = append(r.Claims, c.Name)
		r.Volumes = append(r.Volumes, pv.Name)
		r.Node, r.Reason = host, why
	}
	if len(r.Claims) == 0 {
		return nil
	}
	return r
}

// DecideRecovery decides the one recovery step to take now for a StatefulSet. It never
// returns an action that releases data unless every guard holds.
func DecideRecovery(f RecoveryFacts) RecoveryDecision {
	d := RecoveryDecision{Action: RecoveryNone, Ordinal: -1}
	if f.StatefulSet == nil {
		return d
	}
	v := newRecoveryView(&f)
	if len(f.Nodes) == 0 {
		d.Guard, d.Message = GuardUncertain, "no nodes are known: nothing is done on an incomplete view of the cluster"
		return d
	}
	var stranded []*ReplicaRecovery
	for _, ord := range v.ordinals() {
		if r := v.stranded(ord); r != nil {
			stranded = append(stranded, r)
		}
	}
	if s, ok := f.StatefulSet.Annotations[RecoveryAnnotation]; ok {
		rec, err := ParseRecoveryRecord(s)
		if err != nil {
			d.Guard, d.Message = GuardUncertain, err.Error()+"; nothing is done until it is fixed or removed"
			d.Replicas = blockAll(stranded, GuardUncertain, d.Message)
			return d
		}
		d = v.resume(rec)
		for _, r := range stranded {
			if r.Ordinal == rec.Ordinal {
				r.State, r.Message = ReplicaRecovering, d.Message
			} else {
				r.State, r.Guard = ReplicaBlocked, GuardOneAtATime
				r.Message = fmt.Sprintf("waits until replica %d is Ready on its new node", rec.Ordinal)
			}
			d.Replicas = append(d.Replicas, *r)
		}
		return d
	}
	maxInFlight := f.MaxInFlight
	if maxInFlight <= 0 {
		maxInFlight = DefaultMaxRecoveries
	}
	n := stsReplicas(f.StatefulSet)
	quorum := Quorum(n, f.Spec.MinHealthy)
	for _, r := range stranded {
		pod := v.pods[r.Pod]
		healthy := v.healthy(r.Ordinal)
		switch {
		case pod == nil:
			r.Guard, r.Message = GuardPodNotStranded, "pod "+r.Pod+" does not exist yet: waiting for the StatefulSet controller to create it"
		case !unschedulable(pod):
			r.Guard, r.Message = GuardPodNotStranded, podWait(pod)
		case healthy < quorum:
			r.Guard = GuardQuorumLost
			r.Message = fmt.Sprintf("quorum lost: %d of %d replicas are healthy besides this one, %d needed; a replica rebuilt from nothing cannot restore a cluster that lost its majority, so nothing is done",
				healthy, n, quorum)
		case f.Spec.Mode == v1alpha1.RecoveryOff || f.Spec.Mode == "":
			r.Guard, r.Message = GuardModeOff, "recovery is Off in the policy; set spec.recovery.mode to Manual or Automatic"
		case d.Action == RecoveryBegin:
			r.Guard, r.Message = GuardOneAtATime, fmt.Sprintf("waits until replica %d is Ready on its new node", d.Ordinal)
		case f.InFlight >= maxInFlight:
			r.Guard, r.Message = GuardClusterCap, fmt.Sprintf("%d recoveries are in flight in the cluster, the cap is %d", f.InFlight, maxInFlight)
		case f.Spec.Mode == v1alpha1.RecoveryManual && f.StatefulSet.Annotations[RecoveryApproveAnnotation] != strconv.Itoa(int(r.Ordinal)):
			r.Guard = GuardAwaitingApproval
			r.Message = fmt.Sprintf("Manual mode: approve with `kubectl annotate statefulset -n %s %s %s=%d`",
				f.StatefulSet.Namespace, f.StatefulSet.Name, RecoveryApproveAnnotation, r.Ordinal)
		}
		if r.Guard != "" {
			r.State = ReplicaBlocked
		} else {
			r.State = ReplicaPending
			r.Message = fmt.Sprintf("volume of replica %d is pinned to node %s, which is %s; rebuilding it on a live node", r.Ordinal, r.Node, r.Reason)
			rec := &RecoveryRecord{Ordinal: r.Ordinal, Pod: r.Pod, PodUID: pod.UID, Node: r.Node, Reason: r.Reason, Started: metav1.NewTime(f.Now.UTC().Truncate(1e9))}
			for i, name := range r.Claims {
				rec.Claims = append(rec.Claims, RecoveryClaim{Name: name, UID: v.claims[name].UID, Volume: r.Volumes[i]})
			}
			d.Action, d.Ordinal, d.Record, d.Message = RecoveryBegin, r.Ordinal, rec, r.Message
		}
		d.Replicas = append(d.Replicas, *r)
	}
	if d.Action == RecoveryNone && len(d.Replicas) > 0 {
		d.Guard, d.Message = d.Replicas[0].Guard, d.Replicas[0].Message
	}
	return d
}

func podWait(p *corev1.Pod) string {
	switch {
	case p.DeletionTimestamp != nil:
		return "pod " + p.Name + " is terminating: waiting for Kubernetes to remove it"
	case p.Spec.NodeName != "":
		return "pod " + p.Name + " is still bound to node " + p.Spec.NodeName + ": waiting for Kubernetes to delete it (pod garbage collection, or the out-of-service taint)"
	}
	return "pod " + p.Name + " has not been judged unschedulable by the scheduler yet"
}

func blockAll(rs []*ReplicaRecovery, g RecoveryGuard, msg string) []ReplicaRecovery {
	out := make([]ReplicaRecovery, 0, len(rs))
	for _, r := range rs {
		r.State, r.Guard, r.Message = ReplicaBlocked, g, msg
		out = append(out, *r)
	}
	return out
}

// resume decides the next step of the recovery in flight.
func (v *recoveryView) resume(rec *RecoveryRecord) RecoveryDecision {
	d := RecoveryDecision{Action: RecoveryWait, Ordinal: rec.Ordinal, Record: rec}
	// Steps 2 and 3, claim by claim: retain the volume, then delete the claim.
	released := false
	var pending []RecoveryClaim
	for _, rc := range rec.Claims {
		c := v.claims[rc.Name]
		if c == nil || c.UID != rc.UID || c.DeletionTimestamp != nil {
			released = true
		}
		if c != nil && c.UID == rc.UID {
			pending = append(pending, rc)
		}
	}
	if len(pending) > 0 {
		for _, rc := range pending {
			c := v.claims[rc.Name]
			if c.DeletionTimestamp != nil {
				continue
			}
			pv := v.pvs[rc.Volume]
			if pv == nil {
				d.Guard, d.Message = GuardUncertain, fmt.Sprintf("volume %s of claim %s is not known: waiting", rc.Volume, rc.Name)
				return d
			}
			if !released {
				// Nothing released yet: every guard still applies, and a node that came back
				// or a lost quorum ends the recovery with nothing done.
				if _, why := v.volumeGone(pv); why == "" {
					d.Action, d.Guard = RecoveryAbort, ""
					d.Message = fmt.Sprintf("node %s is back before claim %s was released: recovery of replica %d ended, nothing done", rec.Node, rc.Name, rec.Ordinal)
					return d
				}
				if q, h := Quorum(stsReplicas(v.sts), v.f.Spec.MinHealthy), v.healthy(rec.Ordinal); h < q {
					d.Action, d.Guard = RecoveryAbort, GuardQuorumLost
					d.Message = fmt.Sprintf("quorum lost (%d healthy besides replica %d, %d needed) before claim %s was released: recovery ended, nothing done", h, rec.Ordinal, q, rc.Name)
					return d
				}
			}
			if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || pv.Annotations[RecoveredFromAnnotation] == "" {
				d.Action, d.Volume = RecoveryRetainVolume, pv
				d.Message = fmt.Sprintf("keeping volume %s (reclaim policy Retain) before releasing claim %s", pv.Name, rc.Name)
				return d
			}
			d.Action, d.Claim = RecoveryDeleteClaim, c
			d.Message = fmt.Sprintf("deleting claim %s, bound to volume %s on node %s, which is %s", c.Name, pv.Name, rec.Node, rec.Reason)
			return d
		}
		d.Message = "waiting until the cache no longer has the deleted claims"
		return d
	}
	// Step 4: every claim is gone; delete the old pod.
	pod := v.pods[rec.Pod]
	if pod == nil {
		d.Message = "waiting for the StatefulSet controller to create pod " + rec.Pod
		return d
	}
	if pod.DeletionTimestamp != nil {
		d.Message = "waiting until pod " + pod.Name + " is gone"
		return d
	}
	// The old pod is deleted only while no node holds it: the StatefulSet controller may
	// already have given the Pending pod a fresh claim (it creates missing claims of Pending
	// pods), and then the scheduler places the same pod on a live node; that pod is left alone.
	if pod.UID == rec.PodUID && pod.Spec.NodeName == "" {
		d.Action, d.Pod = RecoveryDeletePod, pod
		d.Message = "claims released; deleting pod " + pod.Name + " so the StatefulSet controller recreates it with a new claim"
		return d
	}
	// Step 6: the new pod is Ready on a live node.
	if PodReady(pod) {
		if node := v.byName[pod.Spec.NodeName]; node != nil && v.nodeGone(node) == "" {
			d.Action = RecoveryFinish
			d.Message = fmt.Sprintf("replica %d is Ready on node %s", rec.Ordinal, pod.Spec.NodeName)
			return d
		}
	}
	// Step 5: the new pod came up without its claim (kubernetes#113139).
	if pod.Spec.NodeName == "" && v.f.Now.Sub(pod.CreationTimestamp.Time).Seconds() > NewPodGraceSeconds {
		for _, t := range v.sts.Spec.VolumeClaimTemplates {
			if v.claims[v.claimName(t.Name, rec.Ordinal)] == nil {
				d.Action, d.Pod = RecoveryDeletePod, pod
				d.Message = fmt.Sprintf("pod %s was recreated without claim %s (kubernetes#113139); deleting it again", pod.Name, v.claimName(t.Name, rec.Ordinal))
				return d
			}
		}
	}
	d.Message = "waiting for pod " + pod.Name + " to be Ready on a live node"
	return d
}

// SortReplicas orders replica states by ordinal.
func SortReplicas(rs []ReplicaRecovery) {
	slices.SortFunc(rs, func(a, b ReplicaRecovery) int { return int(a.Ordinal - b.Ordinal) })
}

// RecoveryPolicy returns the policy a StatefulSet's recovery acts under: the one Select picks,
// none in a system namespace, and none when the StatefulSet opts out (the stowage.dev/opt-out
// annotation) in a namespace the policy lets opt out. The recovery controller and `stowage
// recover --plan` both ask it, so the plan shows what the controller does. Nil namespaceLabels
// means only the namespace's name is known.
func (s *Set) RecoveryPolicy(sts *appsv1.StatefulSet, namespaceLabels map[string]string) *v1alpha1.PlacementPolicy {
	if s == nil || SystemNamespace(sts.Namespace) {
		return nil
	}
	if namespaceLabels == nil {
		namespaceLabels = NamespaceLabels(sts.Namespace)
	}
	p := s.Select(sts.Labels, namespaceLabels)
	if p != nil && sts.Annotations[v1alpha1.OptOutAnnotation] == "true" && slices.Contains(p.Spec.OptOut.Namespaces, sts.Namespace) {
		return nil
	}
	return p
}
