package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// Tests for the rules that need no cluster facts: NodeNamePinned, HostnameNodeSelector,
// NodeAffinityTooFewHosts and PodAffinityCoLocates. Each rule has its own file; the cases share
// this table because they share the "replicas < 2 → nothing to co-locate" boundary.

func nodeAffinity(terms ...corev1.NodeSelectorTerm) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) {
		if s.Spec.Template.Spec.Affinity == nil {
			s.Spec.Template.Spec.Affinity = &corev1.Affinity{}
		}
		s.Spec.Template.Spec.Affinity.NodeAffinity = &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
		}
	}
}

func hostsIn(hosts ...string) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: hosts}}}
}

func podAffinity(terms ...corev1.PodAffinityTerm) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) {
		if s.Spec.Template.Spec.Affinity == nil {
			s.Spec.Template.Spec.Affinity = &corev1.Affinity{}
		}
		s.Spec.Template.Spec.Affinity.PodAffinity = &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}
	}
}

func TestCoLocationRules(t *testing.T) {
	pathNA := "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
	otherApp := corev1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cache"}}, TopologyKey: corev1.LabelHostname}
	ownZone := ownTerm()
	ownZone.TopologyKey = v1alpha1.ZoneTopologyKey
	tests := []struct {
		name string
		sts  *appsv1.StatefulSet
		want []string
	}{
		{
			name: "3 replicas, nodeName set → rejected",
			sts:  compliant(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.NodeName = "node-a" }),
			want: []string{"NodeNamePinned error spec.template.spec.nodeName"},
		},
		{
			name: "1 replica, nodeName set → nothing can share a node",
			sts:  compliant(replicas(1), func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.NodeName = "node-a" }),
			want: []string{},
		},
		{
			name: "3 replicas, nodeSelector pins one hostname → rejected at that key",
			sts: compliant(func(s *appsv1.StatefulSet) {
				s.Spec.Template.Spec.NodeSelector = map[string]string{corev1.LabelHostname: "node-a", "disk": "nvme"}
			}),
			want: []string{"HostnameNodeSelector error spec.template.spec.nodeSelector[kubernetes.io/hostname]"},
		},
		{
			name: "3 replicas, nodeSelector on a pool label → fine",
			sts:  compliant(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "nvme"} }),
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
			name: "2 replicas, matchFields on metadata.name lists 1 node → rejected",
			sts: compliant(replicas(2), nodeAffinity(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
				{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-a"}}}})),
			want: []string{"NodeAffinityTooFewHosts error " + pathNA},
		},
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := create(t, tc.sts, testPolicy(), Facts{})
			if diff := cmp.Diff(tc.want, ruleHits(res.Violations)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
			for _, v := range res.Violations {
				if v.Message == "" || v.Message[0] < 'a' || v.Message[0] > 'z' {
					t.Errorf("message must start lower-case: %q", v.Message)
				}
			}
		})
	}
}

func TestCoLocationRatchetsOnUpdate(t *testing.T) {
	pinned := func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.NodeName = "node-a" }
	t.Run("nodeName added by the update → error", func(t *testing.T) {
		res := evaluate(t, Request{Operation: Update, Object: compliant(pinned), OldObject: compliant()}, testPolicy(), Facts{})
		if diff := cmp.Diff([]string{"NodeNamePinned error spec.template.spec.nodeName"}, ruleHits(res.Violations)); diff != "" {
			t.Error(diff)
		}
	})
	t.Run("nodeName already there, update only relabels → warning", func(t *testing.T) {
		relabelled := compliant(pinned, func(s *appsv1.StatefulSet) { s.Labels["x"] = "y" })
		res := evaluate(t, Request{Operation: Update, Object: relabelled, OldObject: compliant(pinned)}, testPolicy(), Facts{})
		if diff := cmp.Diff([]string{"NodeNamePinned warning spec.template.spec.nodeName"}, ruleHits(res.Violations)); diff != "" {
			t.Error(diff)
		}
	})
	t.Run("scale from 1 to 3 with nodeName → error", func(t *testing.T) {
		res := evaluate(t, Request{Operation: Update, Object: compliant(pinned), OldObject: compliant(pinned, replicas(1))}, testPolicy(), Facts{})
		if diff := cmp.Diff([]string{"NodeNamePinned error spec.template.spec.nodeName"}, ruleHits(res.Violations)); diff != "" {
			t.Error(diff)
		}
	})
}
