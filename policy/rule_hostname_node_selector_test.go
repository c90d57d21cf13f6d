package policy

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestHostnameNodeSelector(t *testing.T) {
	runCases(t, []violationCase{
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
	})
}
