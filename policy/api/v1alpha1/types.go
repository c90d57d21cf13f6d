package v1alpha1

import (
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// EnforcementAction says what happens to an object that breaks the policy.
// +kubebuilder:validation:Enum=Deny;Warn;Audit
type EnforcementAction string

const (
	// Deny rejects the object at admission and makes `stowage check` exit 1.
	Deny EnforcementAction = "Deny"
	// Warn admits the object and returns admission warnings, which kubectl prints.
	Warn EnforcementAction = "Warn"
	// Audit admits the object silently; violations only appear in reports.
	Audit EnforcementAction = "Audit"
)

// StorageMode says how the policy treats a claim's storage class.
// +kubebuilder:validation:Enum=FillIfUnset;Enforce
type StorageMode string

const (
	// FillIfUnset fills the class only where the claim names none, and keeps any explicit class.
	FillIfUnset StorageMode = "FillIfUnset"
	// Enforce also fills unset classes, and reports any explicit class outside AllowedClassNames.
	Enforce StorageMode = "Enforce"
)

// AntiAffinityMode is the strength of the pod anti-affinity the policy adds.
// +kubebuilder:validation:Enum=Required;Preferred;Off
type AntiAffinityMode string

const (
	// Required adds requiredDuringSchedulingIgnoredDuringExecution: two replicas never share a node.
	Required AntiAffinityMode = "Required"
	// Preferred adds a preferred term only; the scheduler may still co-locate replicas.
	Preferred AntiAffinityMode = "Preferred"
	// Off adds nothing. The co-location checks still run.
	Off AntiAffinityMode = "Off"
)

// FeatureMode switches an additive feature (topology spread, disruption budgets) on or off.
// +kubebuilder:validation:Enum=Enabled;Disabled
type FeatureMode string

const (
	// Enabled turns the feature on.
	Enabled FeatureMode = "Enabled"
	// Disabled turns the feature off.
	Disabled FeatureMode = "Disabled"
)

// HostnameTopologyKey is the only topology key the policy's anti-affinity uses. A wider key
// (zone, region) under required anti-affinity can leave replicas unschedulable for good, which is
// why the in-tree LimitPodHardAntiAffinityTopology admission plugin exists.
const HostnameTopologyKey = "kubernetes.io/hostname"

// ZoneTopologyKey is the well-known zone label, the default key for topology spread.
const ZoneTopologyKey = "topology.kubernetes.io/zone"

// OptOutAnnotation, set to "true" on a StatefulSet or PersistentVolumeClaim, exempts it from the
// policy, but only in a namespace that the policy's spec.optOut.namespaces lists.
const OptOutAnnotation = "stowage.dev/opt-out"

// DefaultStorageClassName is the class the default policy fills in.
const DefaultStorageClassName = "openebs-hostpath"

// PlacementPolicy says how Stowage places the replicas and volumes of the StatefulSets and
// PersistentVolumeClaims it selects: the storage class to fill in, the anti-affinity and topology
// spread to add, the PodDisruptionBudget to keep, and what to do about a spec that would put two
// replicas on one node.
//
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=pp,categories=stowage
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.enforcementAction`
// +kubebuilder:printcolumn:name="Priority",type=integer,JSONPath=`.spec.priority`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PlacementPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired placement behaviour.
	Spec PlacementPolicySpec `json:"spec,omitempty"`
	// Status reports whether the webhook accepted the spec.
	// +optional
	Status PlacementPolicyStatus `json:"status,omitempty"`
}

// PlacementPolicySpec is the body of a PlacementPolicy.
type PlacementPolicySpec struct {
	// Priority orders policies that select the same object: the highest wins, and the
	// lexically smallest name breaks ties.
	// +optional
	Priority int32 `json:"priority,omitempty"`

	// NamespaceSelector selects the namespaces whose objects the policy covers, by namespace label.
	// Every namespace carries kubernetes.io/metadata.name. Nil selects every namespace.
	// +optional
	NamespaceSelector *LabelSelector `json:"namespaceSelector,omitempty"`

	// ObjectSelector selects StatefulSets and PersistentVolumeClaims by their own labels.
	// Nil selects every object.
	// +optional
	ObjectSelector *LabelSelector `json:"objectSelector,omitempty"`

	// EnforcementAction is Deny (the default), Warn or Audit.
	// +optional
	// +kubebuilder:default=Deny
	EnforcementAction EnforcementAction `json:"enforcementAction,omitempty"`

	// Storage is the storage-class behaviour for volumeClaimTemplates and standalone claims.
	// +optional
	Storage StorageSpec `json:"storage,omitempty"`

	// AntiAffinity is the pod anti-affinity added to each StatefulSet's pod template.
	// +optional
	AntiAffinity AntiAffinitySpec `json:"antiAffinity,omitempty"`

	// TopologySpread is the set of topology spread constraints added to each pod template.
	// +optional
	TopologySpread TopologySpreadSpec `json:"topologySpread,omitempty"`

	// DisruptionBudget is the PodDisruptionBudget kept for each replicated StatefulSet.
	// +optional
	DisruptionBudget DisruptionBudgetSpec `json:"disruptionBudget,omitempty"`

	// OptOut controls the stowage.dev/opt-out annotation.
	// +optional
	OptOut OptOutSpec `json:"optOut,omitempty"`

	// NodeCapacity says when too few eligible nodes deny a StatefulSet.
	// +optional
	NodeCapacity NodeCapacitySpec `json:"nodeCapacity,omitempty"`

	// Recovery says whether Stowage rebuilds a replica whose node-local volume is pinned to a
	// node that is gone. Off by default.
	// +optional
	Recovery RecoverySpec `json:"recovery,omitempty"`
}

// LabelSelector is a label selector, with the same fields and meaning as metav1.LabelSelector,
// bounded so that the API server can check it with the rules Stowage's own validation applies.
// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="matchExpressions: operator must be In, NotIn, Exists or DoesNotExist"
// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, (e.operator in ['In', 'NotIn']) == (has(e.values) && size(e.values) > 0))",message="matchExpressions: In and NotIn need values; Exists and DoesNotExist take none"
// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.key.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && e.key.indexOf('/') <= 253)",message="matchExpressions: each key must be a label name such as app.kubernetes.io/name"
// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !has(e.values) || e.values.all(v, v.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$')))",message="matchExpressions: each value must be a label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && k.indexOf('/') <= 253 && self.matchLabels[k].matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$'))",message="matchLabels: keys must be label names and values label values"
type LabelSelector struct {
	// MatchLabels is a map of label names to values; every one must match.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	MatchLabels map[string]LabelValue `json:"matchLabels,omitempty"`
	// MatchExpressions are requirements on labels; every one must match.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelValue is a label value: at most 63 characters.
// +kubebuilder:validation:MaxLength=63
type LabelValue string

// LabelSelectorRequirement is one requirement of a LabelSelector, as in
// metav1.LabelSelectorRequirement.
type LabelSelectorRequirement struct {
	// Key is the label name.
	// +kubebuilder:validation:MaxLength=317
	Key string `json:"key"`
	// Operator is In, NotIn, Exists or DoesNotExist.
	Operator metav1.LabelSelectorOperator `json:"operator"`
	// Values are the label values for In and NotIn; empty for Exists and DoesNotExist.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	Values []string `json:"values,omitempty"`
}

// Meta returns the selector as a metav1.LabelSelector; nil stays nil.
func (s *LabelSelector) Meta() *metav1.LabelSelector {
	if s == nil {
		return nil
	}
	out := &metav1.LabelSelector{}
	if s.MatchLabels != nil {
		out.MatchLabels = make(map[string]string, len(s.MatchLabels))
		for k, v := range s.MatchLabels {
			out.MatchLabels[k] = string(v)
		}
	}
	for _, e := range s.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, metav1.LabelSelectorRequirement{Key: e.Key, Operator: e.Operator, Values: append([]string(nil), e.Values...)})
	}
	return out
}

// StorageSpec is the storage-class part of a policy.
// +kubebuilder:validation:XValidation:rule="!has(self.allowedClassNames) || size(self.allowedClassNames) == 0 || (has(self.mode) && self.mode == 'Enforce')",message="allowedClassNames is only used with mode: Enforce; set mode: Enforce or remove the list",fieldPath=".allowedClassNames"
type StorageSpec struct {
	// ClassName is filled into every claim that names no class. Defaults to openebs-hostpath.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ClassName string `json:"className,omitempty"`

	// Mode is FillIfUnset (the default) or Enforce.
	// +optional
	Mode StorageMode `json:"mode,omitempty"`

	// AllowedClassNames lists the classes an explicit storageClassName may name in Enforce mode.
	// ClassName is always allowed, and so is "" (static binding to a pre-provisioned volume).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	AllowedClassNames []string `json:"allowedClassNames,omitempty"`

	// TreatDefaultClassAsUnset makes a standalone claim that names the cluster's default
	// StorageClass count as naming none. The API server's DefaultStorageClass admission plugin
	// writes that class into a claim before any webhook sees it, so without this option a
	// standalone claim never gets ClassName. It does not apply to volumeClaimTemplates, which
	// that plugin never touches. Defaults to false.
	// +optional
	TreatDefaultClassAsUnset bool `json:"treatDefaultClassAsUnset,omitempty"`
}

// AntiAffinitySpec is the pod anti-affinity part of a policy. The topology key is always
// kubernetes.io/hostname.
type AntiAffinitySpec struct {
	// Mode is Required (the default), Preferred or Off.
	// +optional
	Mode AntiAffinityMode `json:"mode,omitempty"`

	// UpgradePreferred moves a chart's preferred anti-affinity term over exactly the
	// StatefulSet's pods on kubernetes.io/hostname to the required list, instead of adding a
	// second, equivalent term. Only used in Required mode. Defaults to true.
	// +optional
	UpgradePreferred *bool `json:"upgradePreferred,omitempty"`

	// PreferredWeight is the weight of the term added in Preferred mode. Defaults to 100.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	PreferredWeight int32 `json:"preferredWeight,omitempty"`
}

// TopologySpreadSpec is the topology spread part of a policy.
type TopologySpreadSpec struct {
	// Mode is Enabled (the default) or Disabled.
	// +optional
	Mode FeatureMode `json:"mode,omitempty"`

	// Constraints are added to each pod template unless it already has a constraint on the same
	// topology key. Defaults to one constraint: topology.kubernetes.io/zone, maxSkew 1,
	// ScheduleAnyway, which also works on a single-zone cluster.
	// +optional
	// +listType=map
	// +listMapKey=topologyKey
	// +kubebuilder:validation:MaxItems=16
	Constraints []SpreadConstraint `json:"constraints,omitempty"`
}

// SpreadConstraint is one topology spread constraint to add. Its label selector is always the
// StatefulSet's own pod selector.
type SpreadConstraint struct {
	// TopologyKey is the node label that defines the domains.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self.indexOf('/') <= 253",message="the prefix before '/' must be at most 253 characters"
	TopologyKey string `json:"topologyKey"`
	// MaxSkew is the largest allowed difference between domains. Defaults to 1.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxSkew int32 `json:"maxSkew,omitempty"`
	// WhenUnsatisfiable is ScheduleAnyway (the default) or DoNotSchedule.
	// +optional
	// +kubebuilder:validation:Enum=ScheduleAnyway;DoNotSchedule
	WhenUnsatisfiable string `json:"whenUnsatisfiable,omitempty"`
}

// DisruptionBudgetSpec is the PodDisruptionBudget part of a policy.
type DisruptionBudgetSpec struct {
	// Mode is Enabled (the default) or Disabled.
	// +optional
	Mode FeatureMode `json:"mode,omitempty"`

	// MaxUnavailable of the budget. Defaults to 1. Zero, which blocks every drain, is invalid.
	// +optional
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == string ? self.matches('^([1-9][0-9]?|100)%$') : self >= 1",message="must be at least 1, or a percentage from 1% to 100%: 0 blocks every drain"
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`

	// MinReplicas is the smallest replica count that gets a budget. Defaults to 2.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MinReplicas int32 `json:"minReplicas,omitempty"`

	// UnhealthyPodEvictionPolicy of the budget. Defaults to AlwaysAllow, so a crash-looping
	// replica never blocks a drain.
	// +optional
	// +kubebuilder:validation:Enum=IfHealthyBudget;AlwaysAllow
	UnhealthyPodEvictionPolicy *policyv1.UnhealthyPodEvictionPolicyType `json:"unhealthyPodEvictionPolicy,omitempty"`
}

// CapacityAction is what too few eligible nodes do where the node count is final.
// +kubebuilder:validation:Enum=Deny;Warn
type CapacityAction string

const (
	// CapacityDeny denies (under a Deny policy).
	CapacityDeny CapacityAction = "Deny"
	// CapacityWarn only warns.
	CapacityWarn CapacityAction = "Warn"
)

// NodeCapacitySpec says what InsufficientEligibleNodes does. It only ever denies where the node
// count is final: a cluster with no nodes yet (bootstrap, GitOps before the first node joins)
// is never judged, and where any node belongs to a group an autoscaler can grow, the rule warns.
type NodeCapacitySpec struct {
	// WhenInsufficient is Deny (the default) or Warn: what happens, where the node count is
	// final, to a StatefulSet with more replicas than eligible nodes.
	// +optional
	WhenInsufficient CapacityAction `json:"whenInsufficient,omitempty"`

	// GrowableNodeLabels are node label keys that mark a node as part of a group that an
	// autoscaler can grow (cluster-autoscaler, Karpenter, managed node pools). When any node
	// carries one, the node count is not final. Defaults to DefaultGrowableNodeLabels; an
	// empty list treats every cluster as fixed.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=317
	// +kubebuilder:validation:items:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`
	GrowableNodeLabels []string `json:"growableNodeLabels,omitempty"`
}

// DefaultGrowableNodeLabels are the labels that Karpenter and the managed node pools of EKS, GKE
// and AKS put on their nodes, and that cluster-autoscaler's cloud providers key node groups by.
var DefaultGrowableNodeLabels = []string{
	"karpenter.sh/nodepool",
	"karpenter.sh/provisioner-name",
	"eks.amazonaws.com/nodegroup",
	"cloud.google.com/gke-nodepool",
	"kubernetes.azure.com/agentpool",
	"node.kubernetes.io/instance-group",
}

// OptOutSpec controls the stowage.dev/opt-out annotation.
type OptOutSpec struct {
	// Namespaces lists the namespaces in which the annotation is honoured. Elsewhere it is
	// ignored and reported, so that a tenant cannot exempt itself.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespaces []string `json:"namespaces,omitempty"`
}

// PlacementPolicyStatus reports what the webhook made of the policy.
type PlacementPolicyStatus struct {
	// ObservedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready is True when the policy is valid and in use; False with reason Invalid
	// and the validation errors otherwise.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// LastValid is the last valid spec of the policy, which stays in force while the current
	// spec is invalid (an edit stored through an older CRD, or written around the API server's
	// validation), so that a bad edit never silently stops protecting anything.
	// +optional
	LastValid *LastValidSpec `json:"lastValid,omitempty"`
}

// LastValidSpec is a copy of a valid spec and the generation it had.
type LastValidSpec struct {
	// Generation is the policy's generation when the spec was valid.
	Generation int64 `json:"generation"`
	// Spec is the defaulted spec.
	Spec *PlacementPolicySpec `json:"spec"`
}

// PlacementPolicyList is a list of PlacementPolicies.
// +kubebuilder:object:root=true
type PlacementPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the policies.
	Items []PlacementPolicy `json:"items"`
}

// RecoveryMode says whether Stowage recovers stranded replicas.
// +kubebuilder:validation:Enum=Off;Manual;Automatic
type RecoveryMode string

const (
	// RecoveryOff never recovers; the audit still reports stranded replicas.
	RecoveryOff RecoveryMode = "Off"
	// RecoveryManual reports what it would recover (events, the StatefulSet's
	// stowage.dev/recovery-status annotation, `stowage audit`) and recovers a replica only when
	// an operator approves it with the stowage.dev/recovery-approve annotation.
	RecoveryManual RecoveryMode = "Manual"
	// RecoveryAutomatic recovers stranded replicas one at a time, within every guard.
	RecoveryAutomatic RecoveryMode = "Automatic"
)

// MinNodeNotReadyAfterSeconds is the shortest NodeNotReadyAfter a policy may set: a node that
// only missed a few heartbeats must not cost a replica its data.
const MinNodeNotReadyAfterSeconds = 60

// RecoverySpec is the recovery part of a policy: when a node counts as gone, and how many
// replicas must stay healthy while one is rebuilt.
type RecoverySpec struct {
	// Mode is Off (the default), Manual or Automatic.
	// +optional
	Mode RecoveryMode `json:"mode,omitempty"`

	// NodeNotReadyAfter, when set, also counts a node as gone once its Ready condition has not
	// been True for this long (at least 1m). Unset (the default), only a deleted Node or one
	// with the node.kubernetes.io/out-of-service taint counts: a node that is only partitioned
	// can come back.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="must be a duration of at least 1m, such as 10m or 1h30m"
	NodeNotReadyAfter *metav1.Duration `json:"nodeNotReadyAfter,omitempty"`

	// MinHealthy is the number of Ready replicas, not counting the one being recovered, that
	// must remain for a recovery to start. Unset, it is a majority of spec.replicas
	// (replicas/2+1).
	// +optional
	// +kubebuilder:validation:Minimum=1
	MinHealthy *int32 `json:"minHealthy,omitempty"`
}
