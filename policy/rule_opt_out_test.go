package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

func TestOptOut(t *testing.T) {
	optedOut := func(s *appsv1.StatefulSet) { s.Annotations = map[string]string{v1alpha1.OptOutAnnotation: "true"} }
	trusting := testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.OptOut.Namespaces = []string{"data"} })
	tests := []struct {
		name       string
		sts        *appsv1.StatefulSet
		policy     *v1alpha1.PlacementPolicy
		wantExempt bool
		wantPatch  bool
		want       []string
	}{
		{"annotation in a namespace the policy lists → exempt, untouched", statefulSet(optedOut), trusting, true, false, []string{}},
		{"annotation in a namespace the policy does not list → ignored, reported, still mutated", statefulSet(optedOut), testPolicy(), false, true,
			[]string{"OptOutNotAllowed warning metadata.annotations[stowage.dev/opt-out]"}},
		{"annotation set to false → not an opt-out", statefulSet(func(s *appsv1.StatefulSet) {
			s.Annotations = map[string]string{v1alpha1.OptOutAnnotation: "false"}
		}), trusting, false, true, []string{}},
		{"exempt object with co-location problems → nothing reported", statefulSet(optedOut, func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.NodeName = "a" }), trusting, true, false, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := create(t, tc.sts, tc.policy, Facts{})
			if res.Exempt != tc.wantExempt {
				t.Errorf("Exempt = %v, want %v", res.Exempt, tc.wantExempt)
			}
			if (len(res.Patch) > 0) != tc.wantPatch {
				t.Errorf("patch = %v, want a patch: %v", res.Patch, tc.wantPatch)
			}
			if diff := cmp.Diff(tc.want, ruleHits(res.Violations)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("claims opt out the same way", func(t *testing.T) {
		c := claim(func(c *corev1.PersistentVolumeClaim) {
			c.Annotations = map[string]string{v1alpha1.OptOutAnnotation: "true"}
		})
		res := create(t, c, trusting, Facts{})
		if !res.Exempt || len(res.Patch) > 0 {
			t.Errorf("claim not exempt: %+v", res)
		}
	})
}
