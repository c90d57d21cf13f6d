package audit

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// APIVersion and Kind identify the JSON report's schema (see SCHEMA.md). The version changes
// only when a field is removed or changes meaning; new fields may appear at any time.
const (
	APIVersion = "audit.stowage.dev/v1alpha1"
	Kind       = "AuditReport"
)

// Severity is how serious a finding is.
type Severity string

const (
	// SeverityError is something that already breaks redundancy, or will on the next restart.
	SeverityError Severity = "error"
	// SeverityWarning is a weakness that does not break redundancy by itself.
	SeverityWarning Severity = "warning"
	// SeverityInfo is for the record only.
	SeverityInfo Severity = "info"
)

// Rank orders severities: 0 for error, 1 for warning, 2 for info, and 3 for anything else,
// "" (no finding) included.
func (s Severity) Rank() int {
	if i := slices.Index([]Severity{SeverityError, SeverityWarning, SeverityInfo}, s); i >= 0 {
		return i
	}
	return 3
}

// AtLeast reports whether s is as serious as min or more. Nothing is at least "".
func (s Severity) AtLeast(min Severity) bool {
	return min != "" && s.Rank() <= min.Rank() && s.Rank() < 3
}

// worse returns the more serious of two severities; "" is the least serious.
func worse(a, b Severity) Severity {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	if b.Rank() < a.Rank() {
		return b
	}
	return a
}

// ParseSeverity reads a --fail-on value: error, warning or info; none (or "") gives "", which
// no finding reaches.
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "error":
		return SeverityError, nil
	case "warning", "warn":
		return SeverityWarning, nil
	case "info":
		return SeverityInfo, nil
	case "none", "":
		return "", nil
	}
	return "", fmt.Errorf("unknown severity %q: want error, warning, info or none", s)
}

// FindingID names a kind of finding. It is stable: reports, PolicyReports and dashboards use it.
// Findings that come from the policy engine carry the engine's rule ID instead.
type FindingID string

// The audit's own findings. Each comment gives the severity.
const (
	// ColocatedReplicas (error): two or more pods of one StatefulSet run on the same node.
	ColocatedReplicas FindingID = "ColocatedReplicas"
	// InstanceSharesNode (warning): pods of different StatefulSets of one application instance
	// (label app.kubernetes.io/instance) share a node.
	InstanceSharesNode FindingID = "InstanceSharesNode"
	// VolumesPinnedTogether (error): the volumes of two or more replicas are pinned to one node,
	// so those replicas can only ever run there.
	VolumesPinnedTogether FindingID = "VolumesPinnedTogether"
	// PodAwayFromVolume (error): a pod runs on a node other than the one its local volume is
	// pinned to.
	PodAwayFromVolume FindingID = "PodAwayFromVolume"
	// StrandedVolume (error; warning when the node is only cordoned): a replica's local volume is
	// pinned to a node that no longer exists, has been NotReady past the threshold, or is cordoned.
	StrandedVolume FindingID = "StrandedVolume"
	// PendingOnStrandedVolume (error): a pod is Pending because its volume is pinned to a
	// stranded node ("volume node affinity conflict").
	PendingOnStrandedVolume FindingID = "PendingOnStrandedVolume"
	// NoPDB (warning): a replicated StatefulSet has no PodDisruptionBudget.
	NoPDB FindingID = "NoPDB"
	// InsufficientEligibleNodes: the engine's rule of the same name, with the engine's severity
	// (the audit has no definition of its own: it consumes the engine's finding).
	InsufficientEligibleNodes FindingID = "InsufficientEligibleNodes"
	// QuorumLost (error): fewer replicas are healthy now than a majority quorum needs.
	QuorumLost FindingID = "QuorumLost"
	// NodeLossBreaksQuorum (error): a StatefulSet of three or more replicas, with quorum now,
	// loses it if one particular node fails.
	NodeLossBreaksQuorum FindingID = "NodeLossBreaksQuorum"
	// NoPolicy (info): no PlacementPolicy selects the StatefulSet, so its spec was not checked.
	NoPolicy FindingID = "NoPolicy"
	// PolicyExempt (info): the StatefulSet opted out of its policy where that is allowed.
	PolicyExempt FindingID = "PolicyExempt"
)

// Source says which part of Stowage produced a finding.
type Source string

const (
	// SourceAudit marks a finding about what is really in the cluster.
	SourceAudit Source = "audit"
	// SourcePolicy marks a violation reported by the policy engine about the spec.
	SourcePolicy Source = "policy"
)

// Finding is one problem with one StatefulSet, one operator resource that becomes a StatefulSet,
// or one pod set (pods a controller other than a StatefulSet makes, see PodSetRow).
type Finding struct {
	// ID names the kind of finding: one of the audit's own IDs above, or the engine's rule ID for
	// Source policy.
	ID FindingID `json:"id"`
	// Severity is error, warning or info.
	Severity Severity `json:"severity"`
	// Source is audit or policy.
	Source Source `json:"source"`
	// Namespace and StatefulSet name the StatefulSet. For a finding at Resource, StatefulSet is
	// the StatefulSet the resource owns, or empty when there is none.
	Namespace   string `json:"namespace"`
	StatefulSet string `json:"statefulSet"`
	// Resource is the object the finding is at when it is not the StatefulSet: an operator's
	// custom resource (Field is then a path in it), or the controller of a pod set.
	Resource *ResourceRef `json:"resource,omitempty"`
	// Node is the node concerned, when there is one.
	Node string `json:"node,omitempty"`
	// Field is the path of the offending field in the StatefulSet, or in Resource when set.
	Field string `json:"field,omitempty"`
	// Policy is the PlacementPolicy whose rule reported it, when the engine was involved.
	Policy string `json:"policy,omitempty"`
	// Rule is the engine's rule ID, when the engine reported it.
	Rule string `json:"rule,omitempty"`
	// Pods, Claims and PDBs name the objects concerned, sorted.
	Pods   []string `json:"pods,omitempty"`
	Claims []string `json:"claims,omitempty"`
	PDBs   []string `json:"pdbs,omitempty"`
	// Message is lower-case and states the problem and the fix.
	Message string `json:"message"`
}

// ResourceRef names an object in the finding's namespace.
type ResourceRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
}

// Subject names what a finding is about: "Kind namespace/name" for a resource, else the
// StatefulSet's namespace/name.
func (f *Finding) Subject() string {
	if f.Resource != nil {
		return f.Resource.Kind + " " + f.Namespace + "/" + f.Resource.Name
	}
	return f.Namespace + "/" + f.StatefulSet
}

// NodeState is what the audit makes of a node.
type NodeState string

const (
	// NodeReady is a Ready, schedulable node.
	NodeReady NodeState = "Ready"
	// NodeCordoned is a Ready node marked unschedulable: a pod pinned to it by its volume cannot
	// come back after it is deleted until the node is uncordoned.
	NodeCordoned NodeState = "Cordoned"
	// NodeNotReady has been NotReady (or Unknown) for less than the threshold, or has no Ready
	// condition: its pods are not counted as healthy, but its volumes are not yet stranded.
	NodeNotReady NodeState = "NotReady"
	// NodeDown has been NotReady (or Unknown) for longer than the threshold.
	NodeDown NodeState = "Down"
	// NodeMissing is a node that local volumes are pinned to, or pods are bound to, but that is
	// not among the cluster's nodes.
	NodeMissing NodeState = "Missing"
)

// Stranded reports whether a volume pinned to a node in this state is stranded.
func (s NodeState) Stranded() bool { return s == NodeDown || s == NodeMissing || s == NodeCordoned }

// PDBStatus sums up the PodDisruptionBudgets over a StatefulSet's pods.
type PDBStatus string

const (
	// PDBOK is a budget over the pods that the engine found nothing wrong with (or did not
	// judge: no policy selects the StatefulSet, or it opted out).
	PDBOK PDBStatus = "OK"
	// PDBNone is no budget over a replicated StatefulSet.
	PDBNone PDBStatus = "None"
	// PDBNotNeeded is no budget over a StatefulSet of fewer than two replicas.
	PDBNotNeeded PDBStatus = "NotNeeded"
	// PDBMultiple is two or more budgets over the same pods: the engine's DisruptionBudgetConflict.
	PDBMultiple PDBStatus = "Multiple"
	// PDBBlocking is a budget that allows no voluntary disruption: the engine's
	// DisruptionBudgetBlocksEviction.
	PDBBlocking PDBStatus = "Blocking"
	// PDBLooserThanQuorum is a budget that lets more replicas go than the policy's maxUnavailable
	// or a majority quorum allows: the engine's DisruptionBudgetTooLoose.
	PDBLooserThanQuorum PDBStatus = "ExceedsQuorum"
)

// PDBSummary is the state of the budgets over a StatefulSet's pods.
type PDBSummary struct {
	// Status is the worst of: Multiple, Blocking, ExceedsQuorum; else OK, None or NotNeeded.
	Status PDBStatus `json:"status"`
	// Names are the budgets that select the pods, sorted.
	Names []string `json:"names,omitempty"`
}

// Volume is one claim of one replica.
type Volume struct {
	// Template is the volumeClaimTemplate's name.
	Template string `json:"template"`
	// Claim is the PersistentVolumeClaim's name: <template>-<statefulset>-<ordinal>.
	Claim string `json:"claim"`
	// Missing is true when the claim does not exist.
	Missing bool `json:"missing,omitempty"`
	// Class is the claim's storage class, or the volume's when the claim names none.
	Class string `json:"class,omitempty"`
	// Volume is the bound PersistentVolume's name.
	Volume string `json:"volume,omitempty"`
	// Node is the node the volume is pinned to by its required node affinity: the node's name,
	// or the hostname when no node carries it. Empty when the volume is not pinned to one node.
	Node string `json:"node,omitempty"`
	// NodeState is the state of Node.
	NodeState NodeState `json:"nodeState,omitempty"`
}

// Replica is one ordinal of a StatefulSet: its pod and its volumes.
type Replica struct {
	// Ordinal is the replica's index.
	Ordinal int32 `json:"ordinal"`
	// Pod is the pod's name, or empty when no pod of this ordinal exists.
	Pod string `json:"pod,omitempty"`
	// Phase is the pod's phase.
	Phase string `json:"phase,omitempty"`
	// Ready is the pod's Ready condition.
	Ready bool `json:"ready"`
	// Healthy is Ready on a node that is Ready (or cordoned): the replica counts towards quorum.
	Healthy bool `json:"healthy"`
	// Node is the node the pod is bound to, when it is and has not terminated.
	Node string `json:"node,omitempty"`
	// NodeState is the state of Node.
	NodeState NodeState `json:"nodeState,omitempty"`
	// Volumes are the replica's claims, in volumeClaimTemplates order.
	Volumes []Volume `json:"volumes,omitempty"`
	// Colocated: the pod shares its node with another pod of the StatefulSet, or its volume with
	// another replica's volume.
	Colocated bool `json:"colocated,omitempty"`
	// Stranded: a volume is pinned to a node that is Missing, Down or Cordoned.
	Stranded bool `json:"stranded,omitempty"`
	// AwayFromVolume: the pod runs on another node than its volume is pinned to.
	AwayFromVolume bool `json:"awayFromVolume,omitempty"`
	// Unscheduled: the pod exists, is Pending and is bound to no node.
	Unscheduled bool `json:"unscheduled,omitempty"`
	// Recovery is what recovery would do for a replica whose volume is pinned to a gone node.
	Recovery *RecoveryState `json:"recovery,omitempty"`
}

// RecoveryState is a stranded replica's recovery: Pending (would start now), Blocked by a
// guard, or Recovering.
type RecoveryState struct {
	State   string `json:"state"`
	Guard   string `json:"guard,omitempty"`
	Message string `json:"message"`
}

// StatefulSetRow is everything the audit found out about one StatefulSet.
type StatefulSetRow struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// UID is the StatefulSet's UID, when known.
	UID string `json:"uid,omitempty"`
	// DesiredReplicas is spec.replicas (1 when unset).
	DesiredReplicas int32 `json:"desiredReplicas"`
	// ReadyReplicas counts the pods whose Ready condition is True.
	ReadyReplicas int32 `json:"readyReplicas"`
	// HealthyReplicas counts the Ready pods on nodes that are Ready or cordoned.
	HealthyReplicas int32 `json:"healthyReplicas"`
	// Quorum is the majority of the desired replicas: ⌊n/2⌋+1 (0 for no replicas).
	Quorum int32 `json:"quorum"`
	// Nodes are the nodes running its pods, sorted.
	Nodes []string `json:"nodes"`
	// ColocatedReplicas counts the replicas that share a node (by pod or by pinned volume) with
	// another replica of the same StatefulSet.
	ColocatedReplicas int `json:"colocatedReplicas"`
	// VolumeReplicas counts the replicas that have volume claim templates; PinnedReplicas those
	// of them whose volumes are all pinned to a node.
	VolumeReplicas int `json:"volumeReplicas"`
	PinnedReplicas int `json:"pinnedReplicas"`
	// StrandedReplicas counts the replicas with a volume on a Missing, Down or Cordoned node.
	StrandedReplicas int `json:"strandedReplicas"`
	// EligibleNodes counts the distinct hostnames the pod template may be scheduled on, judging
	// by nodeSelector, required node affinity, taints and cordons.
	EligibleNodes int `json:"eligibleNodes"`
	// HardAntiAffinity is true when a required anti-affinity term on kubernetes.io/hostname keeps
	// the pods apart.
	HardAntiAffinity bool `json:"hardAntiAffinity"`
	// PDB is the state of the budgets over the pods.
	PDB PDBSummary `json:"pdb"`
	// Policy is the PlacementPolicy that applies, or empty when none does.
	Policy string `json:"policy,omitempty"`
	// Exempt is true when the StatefulSet opted out of the policy.
	Exempt bool `json:"exempt,omitempty"`
	// Violations counts the policy engine's violations.
	Violations int `json:"violations"`
	// Findings counts every finding about the StatefulSet, violations included.
	Findings int `json:"findings"`
	// WorstSeverity is the most serious finding's severity, or empty when there is none.
	WorstSeverity Severity `json:"worstSeverity,omitempty"`
	// LosesQuorumOnNodeFailure is true when some single node's failure leaves fewer healthy
	// replicas than the quorum (always true of a running single-replica StatefulSet).
	LosesQuorumOnNodeFailure bool `json:"losesQuorumOnNodeFailure"`
	// Replicas are the replicas: every desired ordinal, plus any other ordinal a pod exists for.
	Replicas []Replica `json:"replicas"`
}

// CustomResourceRow is one operator custom resource that becomes a StatefulSet
// (internal/operatorcr's table), judged by the engine as the StatefulSet its operator makes.
type CustomResourceRow struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	// UID is the resource's UID, when known.
	UID string `json:"uid,omitempty"`
	// Operator is the operator that makes the StatefulSet.
	Operator string `json:"operator"`
	// StatefulSets are what the operator makes of it: one StatefulSet, or one per entry of a
	// list (ECK's node sets), or the pods of a StrimziPodSet.
	StatefulSets []MadeStatefulSet `json:"statefulSets"`
	// Policy is the PlacementPolicy that applies, or empty when none does.
	Policy string `json:"policy,omitempty"`
	// Violations counts the engine's violations of the projected StatefulSets.
	Violations int `json:"violations"`
	// Findings counts the findings at the resource.
	Findings int `json:"findings"`
	// WorstSeverity is the most serious finding's severity, or empty when there is none.
	WorstSeverity Severity `json:"worstSeverity,omitempty"`
}

// MadeStatefulSet is one StatefulSet an operator makes of a resource.
type MadeStatefulSet struct {
	// Name is the StatefulSet's name, or for PodSet the name of the controller that makes the
	// pods (Strimzi's StrimziPodSet).
	Name string `json:"name"`
	// PodSet is true when the operator makes the pods through another controller than a
	// StatefulSet; they are then audited as a pod set (see PodSetRow).
	PodSet bool `json:"podSet,omitempty"`
	// Found is true when the StatefulSet is among the audited ones and the resource controls
	// it; the resource's findings are then linked to it.
	Found bool `json:"found"`
}

// PodSetRow is a set of pods that one controller other than a StatefulSet makes directly, each
// with its own data (Strimzi's StrimziPodSet, say): Stowage does not mutate such pods, but their
// placement is audited as a StatefulSet's.
type PodSetRow struct {
	Namespace string `json:"namespace"`
	// APIVersion, Kind, Name and UID are the pods' controller.
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
	// ReadyReplicas counts the pods whose Ready condition is True.
	ReadyReplicas int32 `json:"readyReplicas"`
	// Nodes are the nodes running its pods, sorted.
	Nodes []string `json:"nodes"`
	// ColocatedReplicas, PinnedReplicas and StrandedReplicas are as for a StatefulSet.
	ColocatedReplicas int `json:"colocatedReplicas"`
	PinnedReplicas    int `json:"pinnedReplicas"`
	StrandedReplicas  int `json:"strandedReplicas"`
	// Findings counts the findings about it, and WorstSeverity is the most serious one's.
	Findings      int      `json:"findings"`
	WorstSeverity Severity `json:"worstSeverity,omitempty"`
	// Replicas are its pods by name; a pod set has no ordinals, so Ordinal is the position.
	Replicas []Replica `json:"replicas"`
}

// Skipped is a kind of object the audit could not list, which is not an error: its CRD is not
// installed, or the audit may not read it.
type Skipped struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
	// Reason is NotInstalled or Forbidden.
	Reason string `json:"reason"`
}

// Reasons for Skipped.
const (
	SkippedNotInstalled = "NotInstalled"
	SkippedForbidden    = "Forbidden"
)

// Ref names a StatefulSet.
type Ref struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// String returns namespace/name.
func (r Ref) String() string { return r.Namespace + "/" + r.Name }

// NodeImpact is what the failure of one node would cost now.
type NodeImpact struct {
	// Node is the node's name (or, for a Missing node, the hostname volumes are pinned to).
	Node string `json:"node"`
	// Hostname is the node's kubernetes.io/hostname label.
	Hostname string `json:"hostname,omitempty"`
	// State is the node's state.
	State NodeState `json:"state"`
	// Pods counts the StatefulSet pods bound there; Volumes the replica volumes pinned there.
	Pods    int `json:"pods"`
	Volumes int `json:"volumes"`
	// LoseReplica are the StatefulSets that would lose a replica (pod or volume), sorted.
	LoseReplica []Ref `json:"loseReplica"`
	// LoseQuorum are those of them left with fewer healthy replicas than their quorum.
	LoseQuorum []Ref `json:"loseQuorum"`
}

// Problem is an object the audit could not analyse. Any problem makes the exit code 2.
type Problem struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	Message   string `json:"message"`
}

// Counts are findings by severity.
type Counts struct {
	Error   int `json:"error"`
	Warning int `json:"warning"`
	Info    int `json:"info"`
}

// Summary is the report at a glance.
type Summary struct {
	StatefulSets int `json:"statefulSets"`
	// CustomResources and PodSets count the rows of those lists.
	CustomResources int `json:"customResources"`
	PodSets         int `json:"podSets"`
	Nodes           int `json:"nodes"`
	// Findings counts the findings by severity.
	Findings Counts `json:"findings"`
	// The totals behind the server's gauges.
	ColocatedReplicas       int `json:"colocatedReplicas"`
	StrandedReplicas        int `json:"strandedReplicas"`
	WithoutPDB              int `json:"withoutPDB"`
	LoseQuorumOnNodeFailure int `json:"loseQuorumOnNodeFailure"`
	Problems                int `json:"problems"`
}

// Report is the result of an audit. Every list is sorted; see SCHEMA.md for the JSON form.
type Report struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// GeneratedAt is Options.Now.
	GeneratedAt time.Time `json:"generatedAt"`
	// NotReadyThreshold is how long a node must be NotReady before its volumes count as stranded.
	NotReadyThreshold string  `json:"notReadyThreshold"`
	Summary           Summary `json:"summary"`
	// StatefulSets are sorted by namespace and name.
	StatefulSets []StatefulSetRow `json:"statefulSets"`
	// CustomResources are the operator resources that become StatefulSets, sorted by
	// namespace, kind and name.
	CustomResources []CustomResourceRow `json:"customResources"`
	// PodSets are the sets of pods made without a StatefulSet, sorted by namespace, kind and name.
	PodSets []PodSetRow `json:"podSets"`
	// Skipped are the kinds that could not be listed, sorted by group and kind.
	Skipped []Skipped `json:"skipped"`
	// Findings are sorted by severity (error first), namespace, StatefulSet, resource, ID, node,
	// field.
	Findings []Finding `json:"findings"`
	// Nodes are every node of the cluster, and every missing node something refers to, by name.
	Nodes []NodeImpact `json:"nodes"`
	// Problems are the objects that could not be analysed.
	Problems []Problem `json:"problems"`
}

// ExitCode is the process exit code for `stowage audit`: 2 when an object could not be analysed,
// 1 when a finding is at or above failOn, 0 otherwise. failOn "" never gives 1.
func (r *Report) ExitCode(failOn Severity) int {
	if len(r.Problems) > 0 {
		return ExitError
	}
	for i := range r.Findings {
		if r.Findings[i].Severity.AtLeast(failOn) {
			return ExitFindings
		}
	}
	return ExitClean
}

// Exit codes of `stowage audit`.
const (
	ExitClean    = 0
	ExitFindings = 1
	ExitError    = 2
)

// Gauges are the per-StatefulSet numbers the server exports.
type Gauges struct {
	Namespace   string
	StatefulSet string
	// Replicas is spec.replicas, for dashboards that filter on it.
	Replicas int32
	// ColocatedReplicas counts replicas sharing a node with another replica.
	ColocatedReplicas int
	// StrandedReplicas counts replicas with a volume on a Missing, Down or Cordoned node.
	StrandedReplicas int
	// WithoutPDB is 1 when a replicated StatefulSet has no PodDisruptionBudget, else 0.
	WithoutPDB int
	// LosesQuorumOnNodeFailure is 1 when one node's failure leaves it below quorum, else 0.
	LosesQuorumOnNodeFailure int
}

// Gauges returns one entry per StatefulSet, zeros included so a fixed problem resets its gauge,
// sorted by namespace and name.
func (r *Report) Gauges() []Gauges {
	out := make([]Gauges, 0, len(r.StatefulSets))
	for i := range r.StatefulSets {
		s := &r.StatefulSets[i]
		g := Gauges{
			Namespace: s.Namespace, StatefulSet: s.Name, Replicas: s.DesiredReplicas,
			ColocatedReplicas: s.ColocatedReplicas, StrandedReplicas: s.StrandedReplicas,
		}
		if s.PDB.Status == PDBNone {
			g.WithoutPDB = 1
		}
		if s.LosesQuorumOnNodeFailure {
			g.LosesQuorumOnNodeFailure = 1
		}
		out = append(out, g)
	}
	return out
}

// FindingsFor returns the findings about one StatefulSet, in report order.
func (r *Report) FindingsFor(namespace, name string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Namespace == namespace && f.StatefulSet == name {
			out = append(out, f)
		}
	}
	return out
}

func compareFindings(a, b *Finding) int {
	return cmp.Or(
		cmp.Compare(a.Severity.Rank(), b.Severity.Rank()),
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.StatefulSet, b.StatefulSet),
		cmp.Compare(a.Resource.key(), b.Resource.key()),
		cmp.Compare(a.ID, b.ID),
		cmp.Compare(a.Node, b.Node),
		cmp.Compare(a.Field, b.Field),
		cmp.Compare(a.Message, b.Message),
	)
}

// WriteJSON writes the report as indented JSON (the schema in SCHEMA.md), followed by a newline.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// key orders resources: none first, then by kind, name and apiVersion.
func (r *ResourceRef) key() string {
	if r == nil {
		return ""
	}
	return r.Kind + "/" + r.Name + "/" + r.APIVersion
}
