package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestUpdateKeepsWhatReApplyWouldUndo covers what an UPDATE keeps: re-applying the original
// chart (client-side or server-side apply) replaces the atomic claim-template list and puts back
// the preferred term Stowage upgraded; neither may fail the update or roll the pods.
func TestUpdateKeepsWhatReApplyWouldUndo(t *testing.T) {
	chartTerm := corev1.WeightedPodAffinityTerm{Weight: 1, PodAffinityTerm: ownTerm()}
	// stored is the chart's StatefulSet as Stowage stored it on Create.
	stored := create(t, statefulSet(withPreferredAnti(chartTerm)), testPolicy(), Facts{}).StatefulSet()
	wider := corev1.WeightedPodAffinityTerm{Weight: 5, PodAffinityTerm: corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/instance": "prod"}}, TopologyKey: corev1.LabelHostname}}

	tests := []struct {
		name      string
		update    func(*appsv1.StatefulSet)
		wantPatch []string
		wantEqual bool // the result equals the stored object
		want      []string
	}{
		{
			name:      "re-apply drops the claim template's class → the stored class is kept",
			update:    func(s *appsv1.StatefulSet) { s.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = nil },
			wantPatch: []string{"add /spec/volumeClaimTemplates/0/spec/storageClassName"},
			wantEqual: true,
			want:      []string{},
		},
		{
			name: "re-apply puts back the chart's preferred term → taken out, template as stored",
			update: func(s *appsv1.StatefulSet) {
				s.Spec.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.WeightedPodAffinityTerm{chartTerm}
			},
			wantPatch: []string{"remove /spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution"},
			wantEqual: true,
			want:      []string{},
		},
		{
			name: "both at once, plus a label → both kept, the label goes through",
			update: func(s *appsv1.StatefulSet) {
				s.Labels["team"] = "dba"
				s.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = nil
				s.Spec.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.WeightedPodAffinityTerm{chartTerm}
			},
			wantPatch: []string{
				"add /spec/volumeClaimTemplates/0/spec/storageClassName",
				"remove /spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution",
			},
			want: []string{},
		},
		{
			name: "a user adds a wider preferred term → kept, it is theirs",
			update: func(s *appsv1.StatefulSet) {
				s.Spec.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.WeightedPodAffinityTerm{wider}
			},
			wantPatch: []string{},
			want:      []string{},
		},
		{
			name:      "an edit removes the required term → not put back, denied",
			update:    func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Affinity = nil },
			wantPatch: []string{},
			want:      []string{"AntiAffinityMissing error spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution"},
		},
		{
			name:      "a scale within the nodes → nothing to keep, nothing to report",
			update:    func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptrTo(int32(2)) },
			wantPatch: []string{},
			want:      []string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next := stored.DeepCopy()
			tc.update(next)
			res := evaluate(t, Request{Operation: Update, Object: next, OldObject: stored}, testPolicy(), Facts{})
			got := []string{}
			for _, op := range res.Patch {
				got = append(got, op.Operation+" "+op.Path)
			}
			if diff := cmp.Diff(tc.wantPatch, got); diff != "" {
				t.Errorf("patch (-want +got):\n%s", diff)
			}
			if tc.wantEqual {
				if diff := cmp.Diff(stored, res.StatefulSet()); diff != "" {
					t.Errorf("the kept object differs from the stored one:\n%s", diff)
				}
			}
			if diff := cmp.Diff(tc.want, ruleHits(res.Violations)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUpdateKeepsTheClaimsClass(t *testing.T) {
	stored := claim(func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = ptrTo("openebs-hostpath") })
	dropped := claim()
	res := evaluate(t, Request{Operation: Update, Object: dropped, OldObject: stored}, testPolicy(), Facts{})
	if len(res.Patch) != 1 || res.Patch[0].Path != "/spec/storageClassName" || *res.PersistentVolumeClaim().Spec.StorageClassName != "openebs-hostpath" {
		t.Fatalf("patch = %+v", res.Patch)
	}
}
