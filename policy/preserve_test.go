package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
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

func TestUpdateLeavesPreferredTermsAloneWithoutUpgrade(t *testing.T) {
	chartTerm := corev1.WeightedPodAffinityTerm{Weight: 1, PodAffinityTerm: ownTerm()}
	noUpgrade := testPolicy(func(s *v1alpha1.PlacementPolicySpec) { f := false; s.AntiAffinity.UpgradePreferred = &f })
	stored := create(t, statefulSet(withPreferredAnti(chartTerm)), noUpgrade, Facts{}).StatefulSet()
	next := stored.DeepCopy()
	next.Spec.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].Weight = 100 // a helm upgrade
	res := evaluate(t, Request{Operation: Update, Object: next, OldObject: stored}, noUpgrade, Facts{})
	if len(res.Patch) != 0 {
		t.Fatalf("a preferred term Stowage never upgraded was touched: %v", res.Patch)
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

func TestKeepStoredWithoutAPolicy(t *testing.T) {
	stored := create(t, statefulSet(), testPolicy(), Facts{}).StatefulSet()
	reapplied := stored.DeepCopy()
	reapplied.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = nil
	reapplied.Annotations = map[string]string{"stowage.dev/opt-out": "true"}
	trusting := testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.OptOut.Namespaces = []string{"data"} })
	t.Run("opted out since: the stored class is still kept", func(t *testing.T) {
		res := evaluate(t, Request{Operation: Update, Object: reapplied, OldObject: stored}, trusting, Facts{})
		if !res.Exempt || len(res.Patch) != 1 || res.Patch[0].Path != "/spec/volumeClaimTemplates/0/spec/storageClassName" {
			t.Fatalf("exempt %v, patch %v", res.Exempt, res.Patch)
		}
	})
	t.Run("no policy selects it any more: KeepStored keeps the class", func(t *testing.T) {
		res, err := KeepStored(Request{Operation: Update, Object: reapplied, OldObject: stored})
		if err != nil || len(res.Patch) != 1 || *res.StatefulSet().Spec.VolumeClaimTemplates[0].Spec.StorageClassName != "openebs-hostpath" {
			t.Fatalf("err %v, patch %v", err, res.Patch)
		}
	})
	t.Run("on Create KeepStored does nothing", func(t *testing.T) {
		res, err := KeepStored(Request{Operation: Create, Object: reapplied})
		if err != nil || len(res.Patch) != 0 {
			t.Fatalf("err %v, patch %v", err, res.Patch)
		}
	})
}
