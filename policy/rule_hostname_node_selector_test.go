package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestHostnameNodeSelector(t *testing.T) {
	tests := []struct {
		name string
		sts  *appsv1.StatefulSet
		want []string
	}{
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
