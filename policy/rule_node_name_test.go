package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
)

func TestNodeNamePinned(t *testing.T) {
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
