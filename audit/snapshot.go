package audit

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// Snapshot is what the audit reads: the objects as listed from the cluster (in any order, from
// paginated List calls). Analyze never modifies them.
type Snapshot struct {
	// StatefulSets are the StatefulSets to audit.
	StatefulSets []*appsv1.StatefulSet
	// Pods are the pods; those a StatefulSet controls are found by their controller reference,
	// and so are the pod sets (see PodSetKinds). Analyze reads only their name, namespace, UID,
	// labels, owner references, deletion timestamp, spec.nodeName, the claims of
	// spec.volumes, and status phase, reason, message and conditions, so a caller may pass pods
	// cut down to those, and leave out pods no StatefulSet or pod set controls (package
	// collect does).
	Pods []*corev1.Pod
	// PVCs are the PersistentVolumeClaims; a replica's are found by name.
	PVCs []*corev1.PersistentVolumeClaim
	// PVs are the PersistentVolumes (cluster-wide).
	PVs []*corev1.PersistentVolume
	// Nodes are all the cluster's nodes. The audit treats the list as complete.
	Nodes []*corev1.Node
	// PDBs are the PodDisruptionBudgets in the audited namespaces.
	PDBs []*policyv1.PodDisruptionBudget
	// StorageClasses give the cluster's default class.
	StorageClasses []*storagev1.StorageClass
	// Namespaces give the namespace labels policies select on. A namespace that is not listed
	// is taken to carry only kubernetes.io/metadata.name (policy.NamespaceLabels).
	Namespaces []*corev1.Namespace
	// PlacementPolicies are the cluster's policies, as listed. Analyze does not read them: the
	// caller builds the policy.Set (see PolicySet) and passes it in.
	PlacementPolicies []*v1alpha1.PlacementPolicy
	// CustomResources are the operator resources that become StatefulSets (the kinds of
	// internal/operatorcr's table), as listed; other kinds are ignored.
	CustomResources []*unstructured.Unstructured
	// Skipped are the kinds the caller could not list because their CRD is not installed or
	// reading them is forbidden. The report carries them; they are not problems.
	Skipped []Skipped
}

// DefaultNotReadyThreshold is how long a node must be NotReady before its volumes count as
// stranded, unless Options say otherwise. It matches the time the node lifecycle controller
// waits before evicting pods from an unreachable node.
const DefaultNotReadyThreshold = 5 * time.Minute

// Options tune an analysis.
type Options struct {
	// Now is the time of the audit. The audit never reads the clock itself. With a zero Now no
	// NotReady node has been so for long enough to count as Down.
	Now time.Time
	// NotReadyThreshold is how long a node's Ready condition must have been False or Unknown
	// for its volumes to count as stranded. Zero means DefaultNotReadyThreshold.
	NotReadyThreshold time.Duration
	// Parallelism is how many StatefulSets the policy engine evaluates at once. Zero means
	// GOMAXPROCS; one evaluates them in turn. The report is the same either way.
	Parallelism int
}

func (o Options) threshold() time.Duration {
	if o.NotReadyThreshold <= 0 {
		return DefaultNotReadyThreshold
	}
	return o.NotReadyThreshold
}
