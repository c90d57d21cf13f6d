package policy

import (
	"testing"

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
			name: "3 replicas, required pod affinity to its own pods on the zone → not a node co-location",
			sts:  compliant(podAffinity(ownZone)),
			want: []string{},
		},
	})
}
