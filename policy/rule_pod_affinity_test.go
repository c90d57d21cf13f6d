package policy

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

func TestPodAffinityCoLocates(t *testing.T) {
	otherApp := corev1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cache"}}, TopologyKey: corev1.LabelHostname}
	ownZone := ownTerm()
	ownZone.TopologyKey = v1alpha1.ZoneTopologyKey
	runCases(t, []violationCase{
		{
			name: "3 replicas, required pod affinity to its own pods on the hostname → rejected at the term",
			sts:  compliant(podAffinity(otherApp, ownTerm())),
			want: []string{"PodAffinityCoLocates error spec.template.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[1]"},
		},
		{
			name: "3 replicas, required pod affinity to another app's pods → fine",
			sts:  compliant(podAffinity(otherApp)),
			want: []string{},
		},
		{
			name: "matchLabelKeys on a template label: the scheduler adds 'instance In (own value)', still its own pods → rejected",
			sts:  compliant(podAffinity(byKeys([]string{"app.kubernetes.io/instance"}, nil, map[string]string{"app.kubernetes.io/name": "db"}))),
			want: []string{"PodAffinityCoLocates error spec.template.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"},
		},
		{
			name: "matchLabelKeys on the pod name: each pod selects only itself → fine",
			sts:  compliant(podAffinity(byKeys([]string{appsv1.StatefulSetPodNameLabel}, nil, map[string]string{"app.kubernetes.io/name": "db"}))),
			want: []string{},
		},
		{
			name: "mismatchLabelKeys on a template label: its own pods are excluded → fine",
			sts:  compliant(podAffinity(byKeys(nil, []string{"app.kubernetes.io/instance"}, map[string]string{"app.kubernetes.io/name": "db"}))),
			want: []string{},
		},
		{
			name: "matchLabelKeys on the revision hash: replicas of one revision are pulled together → rejected",
			sts:  compliant(podAffinity(byKeys([]string{appsv1.ControllerRevisionHashLabelKey}, nil, map[string]string{"app.kubernetes.io/name": "db"}))),
			want: []string{"PodAffinityCoLocates error spec.template.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"},
		},
		{
			name: "3 replicas, required pod affinity to its own pods on the zone → not a node co-location",
			sts:  compliant(podAffinity(ownZone)),
			want: []string{},
		},
	})
}

// byKeys is a hostname term over the given labels with matchLabelKeys and mismatchLabelKeys.
func byKeys(match, mismatch []string, sel map[string]string) corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: sel}, TopologyKey: corev1.LabelHostname,
		MatchLabelKeys: match, MismatchLabelKeys: mismatch}
}
