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
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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

// hardAntiAffinity reports whether a required anti-affinity term on kubernetes.io/hostname
// reaches every pod of the StatefulSet: its namespace scope includes the StatefulSet's namespace
// (judged with the namespace's real labels) and its selector matches the template labels. Terms
// with matchLabelKeys or mismatchLabelKeys depend on the incoming pod and are not counted.
func hardAntiAffinity(sts *appsv1.StatefulSet, nsLabels map[string]string) bool {
	a := sts.Spec.Template.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return false
	}
	for i := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		t := &a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[i]
		if t.TopologyKey != "kubernetes.io/hostname" || t.LabelSelector == nil ||
			len(t.MatchLabelKeys) > 0 || len(t.MismatchLabelKeys) > 0 {
			continue
		}
		reaches := len(t.Namespaces) == 0 && t.NamespaceSelector == nil || slices.Contains(t.Namespaces, sts.Namespace)
		if !reaches && t.NamespaceSelector != nil {
			if sel, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector); err == nil && sel.Matches(labels.Set(nsLabels)) {
				reaches = true
			}
		}
		if !reaches {
			continue
		}
		if sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector); err == nil && sel.Matches(labels.Set(sts.Spec.Template.Labels)) {
			return true
		}
	}
	return false
}
