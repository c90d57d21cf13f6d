package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Helpers shared by the tests of the co-location rules, and the ratcheting test they share.

// violationCase is a StatefulSet evaluated as a CREATE under the default policy, and the
// violations ("rule severity field") it must give.
type violationCase struct {
	name string
	sts  *appsv1.StatefulSet
	want []string
}

func runCases(t *testing.T, cases []violationCase) {
	t.Helper()
	for _, tc := range cases {
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
