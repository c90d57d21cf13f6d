package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodSelector(t *testing.T) {
	tests := []struct {
		name string
		sel  *metav1.LabelSelector
		want []string
	}{
		{"matchLabels → fine", ownTerm().LabelSelector, []string{}},
		{"missing selector → rejected, and no term is built from it", nil, []string{"PodSelectorInvalid error spec.selector"}},
		{"empty selector would select every pod in the namespace → rejected", &metav1.LabelSelector{}, []string{"PodSelectorInvalid error spec.selector"}},
		{"In without values → rejected", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn}}},
			[]string{"PodSelectorInvalid error spec.selector"}},
		{"selector that does not match the template labels → rejected, and no term built (it would never cover the pods)",
			&metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}, []string{"PodSelectorInvalid error spec.selector"}},
		{"unknown operator → rejected", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Like", Values: []string{"x"}}}},
			[]string{"PodSelectorInvalid error spec.selector"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sts := statefulSet(func(s *appsv1.StatefulSet) { s.Spec.Selector = tc.sel })
			res := create(t, sts, testPolicy(), Facts{})
			got := []string{}
			for _, v := range res.Violations {
				if v.Rule == RulePodSelectorInvalid {
					got = append(got, string(v.Rule)+" "+string(v.Severity)+" "+v.Field.String())
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
			if len(tc.want) > 0 && podAntiAffinity(&res.StatefulSet().Spec.Template.Spec) != nil {
				t.Error("a term was added from an unusable selector")
			}
		})
	}
}
