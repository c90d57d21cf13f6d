package audit

// The indexes every check reads. They are built once, up front, so each StatefulSet costs time
// in proportion to its own pods, claims and budgets, never to the size of the cluster.
//
// Reads: nodes (name, kubernetes.io/hostname label, spec.unschedulable, the Ready condition);
// pods' controller references, spec.nodeName, labels and claims; claims by namespace and name;
// volumes by name and by spec.claimRef; budgets' namespaces and selectors; namespaces' labels;
// StorageClasses' default-class annotations.

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stowage-dev/stowage/policy"
)

// The annotation that marks the cluster's default StorageClass, and a claim's legacy class annotation.
const (
	defaultClassAnnotation     = policy.DefaultClassAnnotation
	betaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"
)

// InstanceLabel is the label that groups the components of one application instance.
const InstanceLabel = "app.kubernetes.io/instance"

// nsName keys namespaced objects.
type nsName struct{ namespace, name string }

// nodeInfo is a node as the audit sees it. Missing nodes have no node object.
type nodeInfo struct {
	node     *corev1.Node
	name     string
	hostname string
	state    NodeState
}

// pdbIndex finds the candidate budgets of one namespace for a StatefulSet without trying each
// one: a budget with matchLabels is filed under its first key=value pair that is not a per-pod
// label (policy.PerPodLabel), which the template of any StatefulSet whose pods it selects must
// carry; the rest are always tried. The engine's policy.BudgetsSelecting decides among them.
type pdbIndex struct {
	byLabel map[string][]*policyv1.PodDisruptionBudget
	scan    []*policyv1.PodDisruptionBudget
}

type index struct {
	nodes      map[string]*nodeInfo
	byHostname map[string]*nodeInfo
	missing    map[string]*nodeInfo
	nodeList   []*corev1.Node

	pods       map[nsName][]*corev1.Pod
	podSets    map[podSetKey]*podSet
	pvcs       map[nsName]*corev1.PersistentVolumeClaim
	pvs        map[string]*corev1.PersistentVolume
	pvsByClaim map[nsName]*corev1.PersistentVolume
	pdbs       map[string]*pdbIndex
	nsLabels   map[string]map[string]string

	defaultClass string
	// eligible caches the eligible host count by the pod spec's scheduling constraints: most
	// StatefulSets share a handful of them.
	eligible map[string]int
}

func newIndex(snap *Snapshot, opts Options) *index {
	ix := &index{
		nodes:      make(map[string]*nodeInfo, len(snap.Nodes)),
		byHostname: make(map[string]*nodeInfo, len(snap.Nodes)),
		missing:    map[string]*nodeInfo{},
		nodeList:   make([]*corev1.Node, 0, len(snap.Nodes)),
		pods:       make(map[nsName][]*corev1.Pod, len(snap.StatefulSets)),
		podSets:    map[podSetKey]*podSet{},
		pvcs:       make(map[nsName]*corev1.PersistentVolumeClaim, len(snap.PVCs)),
		pvs:        make(map[string]*corev1.PersistentVolume, len(snap.PVs)),
		pvsByClaim: make(map[nsName]*corev1.PersistentVolume, len(snap.PVs)),
		pdbs:       map[string]*pdbIndex{},
		nsLabels:   make(map[string]map[string]string, len(snap.Namespaces)),
		eligible:   map[string]int{},
	}
	threshold := opts.threshold()
	for _, n := range snap.Nodes {
		if n == nil || n.Name == "" || ix.nodes[n.Name] != nil {
			continue // the first of two nodes of one name wins
		}
		ni := &nodeInfo{node: n, name: n.Name, hostname: policy.NodeHostname(n), state: nodeState(n, opts, threshold)}
		ix.nodes[n.Name] = ni
		ix.nodeList = append(ix.nodeList, n)
	}
	// Sorted so that a hostname two nodes claim resolves to the same node on every run.
	slices.SortFunc(ix.nodeList, func(a, b *corev1.Node) int { return cmp.Compare(a.Name, b.Name) })
	for _, n := range ix.nodeList {
		ni := ix.nodes[n.Name]
		if _, dup := ix.byHostname[ni.hostname]; !dup {
			ix.byHostname[ni.hostname] = ni
		}
	}

	for _, p := range snap.Pods {
		if p == nil {
			continue
		}
		ref := metav1.GetControllerOfNoCopy(p)
		if ref == nil {
			continue
		}
		if StatefulSetOwner(ref) {
			k := nsName{p.Namespace, ref.Name}
			ix.pods[k] = append(ix.pods[k], p)
			continue
		}
		if PodSetOwner(ref) {
			group, _, _ := strings.Cut(ref.APIVersion, "/")
			k := podSetKey{namespace: p.Namespace, group: group, kind: ref.Kind, name: ref.Name, uid: string(ref.UID)}
			s := ix.podSets[k]
			if s == nil {
				s = &podSet{key: k, apiVersion: ref.APIVersion}
				ix.podSets[k] = s
			}
			s.pods = append(s.pods, p)
		}
	}
	for _, c := range snap.PVCs {
		if c != nil {
			ix.pvcs[nsName{c.Namespace, c.Name}] = c
		}
	}
	for _, v := range snap.PVs {
		if v == nil {
			continue
		}
		ix.pvs[v.Name] = v
		if r := v.Spec.ClaimRef; r != nil && r.Name != "" {
			ix.pvsByClaim[nsName{r.Namespace, r.Name}] = v
		}
	}
	for _, b := range snap.PDBs {
		if b == nil || b.Spec.Selector == nil {
			continue // a nil selector selects nothing in policy/v1
		}
		pi := ix.pdbs[b.Namespace]
		if pi == nil {
			pi = &pdbIndex{byLabel: map[string][]*policyv1.PodDisruptionBudget{}}
			ix.pdbs[b.Namespace] = pi
		}
		keys := make([]string, 0, len(b.Spec.Selector.MatchLabels))
		for k := range b.Spec.Selector.MatchLabels {
			if !policy.PerPodLabel(k) {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			k := slices.Min(keys)
			key := k + "=" + b.Spec.Selector.MatchLabels[k]
			pi.byLabel[key] = append(pi.byLabel[key], b)
		} else {
			pi.scan = append(pi.scan, b)
		}
	}
	for _, ns := range snap.Namespaces {
		if ns == nil {
			continue
		}
		ix.nsLabels[ns.Name] = policy.NamespaceLabelsOf(ns)
	}
	ix.defaultClass = policy.DefaultStorageClass(snap.StorageClasses)
	return ix
}

// nodeState reads a node's Ready condition and cordon.
func nodeState(n *corev1.Node, opts Options, threshold time.Duration) NodeState {
	for i := range n.Status.Conditions {
		c := &n.Status.Conditions[i]
		if c.Type != corev1.NodeReady {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			if n.Spec.Unschedulable {
				return NodeCordoned
			}
			return NodeReady
		}
		if !c.LastTransitionTime.IsZero() && opts.Now.Sub(c.LastTransitionTime.Time) > threshold {
			return NodeDown
		}
		return NodeNotReady
	}
	return NodeNotReady
}

// namespaceLabels returns a namespace's labels, or the ones every namespace carries.
func (ix *index) namespaceLabels(ns string) map[string]string {
	if l, ok := ix.nsLabels[ns]; ok {
		return l
	}
	return policy.NamespaceLabels(ns)
}

// node returns the node with this name; a name no node has gives a Missing node.
func (ix *index) node(name string) *nodeInfo {
	if ni, ok := ix.nodes[name]; ok {
		return ni
	}
	return ix.missingNode(name)
}

func (ix *index) missingNode(name string) *nodeInfo {
	ni, ok := ix.missing[name]
	if !ok {
		ni = &nodeInfo{name: name, hostname: name, state: NodeMissing}
		ix.missing[name] = ni
	}
	return ni
}

// podsOf returns the pods the StatefulSet controls: by controller reference, with a matching
// UID when both are known.
func (ix *index) podsOf(sts *appsv1.StatefulSet) []*corev1.Pod {
	all := ix.pods[nsName{sts.Namespace, sts.Name}]
	if sts.UID == "" {
		return all
	}
	var out []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOfNoCopy(p); ref.UID == "" || ref.UID == sts.UID {
			out = append(out, p)
		}
	}
	return out
}

// volumeOf returns the volume bound to a claim: the one spec.volumeName names (when its claimRef,
// if any, points back), or else one whose claimRef names the claim.
func (ix *index) volumeOf(c *corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
	v, ok := ix.pvsByClaim[nsName{c.Namespace, c.Name}]
	if c.Spec.VolumeName != "" {
		v, ok = ix.pvs[c.Spec.VolumeName]
	}
	if ok && claimRefMatches(v.Spec.ClaimRef, c) {
		return v
	}
	return nil
}

func claimRefMatches(r *corev1.ObjectReference, c *corev1.PersistentVolumeClaim) bool {
	if r == nil {
		return true
	}
	if r.Namespace != c.Namespace || r.Name != c.Name {
		return false
	}
	return r.UID == "" || c.UID == "" || r.UID == c.UID
}

// pinnedNode returns the node a volume's required node affinity pins it to: every term must
// name the same single node, by kubernetes.io/hostname In [h] or by metadata.name In [n]. A
// hostname no node carries, and a name no node has, give a Missing node.
func (ix *index) pinnedNode(v *corev1.PersistentVolume) *nodeInfo {
	na := v.Spec.NodeAffinity
	if na == nil || na.Required == nil || len(na.Required.NodeSelectorTerms) == 0 {
		return nil
	}
	var found *nodeInfo
	for i := range na.Required.NodeSelectorTerms {
		ni := ix.termNode(&na.Required.NodeSelectorTerms[i])
		if ni == nil || (found != nil && found != ni) {
			return nil
		}
		found = ni
	}
	return found
}

func (ix *index) termNode(t *corev1.NodeSelectorTerm) *nodeInfo {
	var found *nodeInfo
	pick := func(ni *nodeInfo) bool {
		if found != nil && found != ni {
			return false
		}
		found = ni
		return true
	}
	for i := range t.MatchExpressions {
		r := &t.MatchExpressions[i]
		if r.Key != corev1.LabelHostname || r.Operator != corev1.NodeSelectorOpIn || len(r.Values) != 1 {
			continue
		}
		ni, ok := ix.byHostname[r.Values[0]]
		if !ok {
			ni = ix.nodes[r.Values[0]]
		}
		if ni == nil {
			ni = ix.missingNode(r.Values[0])
		}
		if !pick(ni) {
			return nil
		}
	}
	for i := range t.MatchFields {
		r := &t.MatchFields[i]
		if r.Key != "metadata.name" || r.Operator != corev1.NodeSelectorOpIn || len(r.Values) != 1 {
			continue
		}
		if !pick(ix.node(r.Values[0])) {
			return nil
		}
	}
	return found
}

// budgetsSelecting returns the budgets of the StatefulSet's namespace that select its pods (its
// template labels, or some of them by a per-pod label), sorted by name: policy.BudgetsSelecting
// over the candidates the index finds.
func (ix *index) budgetsSelecting(sts *appsv1.StatefulSet) []*policyv1.PodDisruptionBudget {
	pi := ix.pdbs[sts.Namespace]
	if pi == nil {
		return nil
	}
	candidates := slices.Clone(pi.scan)
	for k, v := range sts.Spec.Template.Labels {
		candidates = append(candidates, pi.byLabel[k+"="+v]...)
	}
	out := policy.BudgetsSelecting(sts, candidates)
	slices.SortFunc(out, func(a, b *policyv1.PodDisruptionBudget) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// schedulingKey is the part of a pod spec that policy.NodeEligible reads.
type schedulingKey struct {
	NodeSelector map[string]string    `json:"s,omitempty"`
	Tolerations  []corev1.Toleration  `json:"t,omitempty"`
	Required     *corev1.NodeSelector `json:"r,omitempty"`
	// SpreadKeys are the topology keys of DoNotSchedule spread constraints: a node without
	// the label is not eligible.
	SpreadKeys []string `json:"k,omitempty"`
}

// eligibleHosts counts the distinct hostnames among the nodes a pod with this spec may be
// scheduled on (policy.NodeEligible), cached by the constraints it reads.
func (ix *index) eligibleHosts(spec *corev1.PodSpec) int {
	k := schedulingKey{NodeSelector: spec.NodeSelector, Tolerations: spec.Tolerations}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil {
		k.Required = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	for _, c := range spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable == corev1.DoNotSchedule {
			k.SpreadKeys = append(k.SpreadKeys, c.TopologyKey)
		}
	}
	var key string
	if len(k.NodeSelector) > 0 || len(k.Tolerations) > 0 || k.Required != nil || len(k.SpreadKeys) > 0 {
		b, err := json.Marshal(k)
		if err != nil {
			return ix.countEligible(spec) // cannot happen for these types; do not cache
		}
		key = string(b)
	}
	if n, ok := ix.eligible[key]; ok {
		return n
	}
	n := ix.countEligible(spec)
	ix.eligible[key] = n
	return n
}

func (ix *index) countEligible(spec *corev1.PodSpec) int {
	seen := map[string]struct{}{}
	for _, n := range policy.EligibleNodes(spec, ix.nodeList) {
		seen[policy.NodeHostname(n)] = struct{}{}
	}
	return len(seen)
}
