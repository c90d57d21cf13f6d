package policy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

func TestNodeAffinityTooFewHosts(t *testing.T) {
	pathNA := "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
	runCases(t, []violationCase{
		{
			name: "2 replicas, one term naming 2 hosts both by hostname and by node name → 2 nodes, fine",
			sts: compliant(replicas(2), nodeAffinity(corev1.NodeSelectorTerm{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"n1", "n2"}}},
				MatchFields:      []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n1.example.com", "n2.example.com"}}},
			})),
			want: []string{},
		},
		{
			name: "3 replicas, node affinity admits 2 hostnames → rejected",
			sts:  compliant(nodeAffinity(hostsIn("node-a", "node-b"))),
			want: []string{"NodeAffinityTooFewHosts error " + pathNA},
		},
		{
			name: "3 replicas, two terms admit 2 + 1 distinct hostnames → enough",
			sts:  compliant(nodeAffinity(hostsIn("node-a", "node-b"), hostsIn("node-c"))),
			want: []string{},
		},
		{
			name: "3 replicas, two terms admit the same 2 hostnames → rejected",
			sts:  compliant(nodeAffinity(hostsIn("node-a", "node-b"), hostsIn("node-b", "node-a"))),
			want: []string{"NodeAffinityTooFewHosts error " + pathNA},
		},
		{
			name: "3 replicas, one term limited to 1 host, the other by zone only → unbounded, fine",
			sts: compliant(nodeAffinity(hostsIn("node-a"), corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: v1alpha1.ZoneTopologyKey, Operator: corev1.NodeSelectorOpIn, Values: []string{"z1"}}}})),
			want: []string{},
		},
		{
			name: "3 replicas, two hostname requirements in one term intersect to 1 → rejected",
			sts: compliant(nodeAffinity(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"node-a", "node-b"}},
				{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"node-b", "node-c"}},
			}})),
			want: []string{"NodeAffinityTooFewHosts error " + pathNA},
		},
		{
			name: "3 replicas, hostname In [a,b,c] and NotIn [b,c] in one term leave 1 host → rejected",
			sts: compliant(nodeAffinity(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"node-a", "node-b", "node-c"}},
				{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"node-b", "node-c"}},
			}})),
			want: []string{"NodeAffinityTooFewHosts error " + pathNA},
		},
		{
			name: "2 replicas, metadata.name In [a,b,c] NotIn [c] → 2 nodes, fine",
			sts: compliant(replicas(2), nodeAffinity(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
				{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-a", "node-b", "node-c"}},
				{Key: "metadata.name", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"node-c"}},
			}})),
			want: []string{},
		},
		{
			name: "3 replicas, NotIn alone does not bound the hosts → fine",
			sts: compliant(nodeAffinity(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"node-b", "node-c"}},
			}})),
			want: []string{},
		},
		{
			name: "2 replicas, matchFields on metadata.name lists 1 node → rejected",
			sts: compliant(replicas(2), nodeAffinity(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
				{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-a"}}}})),
			want: []string{"NodeAffinityTooFewHosts error " + pathNA},
		},
	})
}
