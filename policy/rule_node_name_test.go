package policy

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

func TestNodeNamePinned(t *testing.T) {
	runCases(t, []violationCase{
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
	})
}
