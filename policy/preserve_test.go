package policy

import (
	"strings"
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
			name:      "an edit drops the upgraded term (helm's null) → put back, template as stored",
			update:    func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Affinity = nil },
			wantPatch: []string{"add /spec/template/spec/affinity"},
			wantEqual: true,
			want:      []string{},
		},
		{
			name: "a replace of the original rendering (preferred term, no spread, no class) → as stored",
			update: func(s *appsv1.StatefulSet) {
				s.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = nil
				s.Spec.Template.Spec.TopologySpreadConstraints = nil
				s.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
					PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{chartTerm}}}
			},
			wantPatch: []string{
				"add /spec/volumeClaimTemplates/0/spec/storageClassName",
				"add /spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution",
				"remove /spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution",
				"add /spec/template/spec/topologySpreadConstraints",
			},
			wantEqual: true,
			want:      []string{},
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

// TestUpdateNeverFightsStowage covers issue 8: whatever the client (helm's three-way merge with
// a chart's explicit nulls, kubectl replace, an operator's full rewrite), an UPDATE that drops
// what Stowage added on Create gets it back, and the template ends up as stored.
func TestUpdateNeverFightsStowage(t *testing.T) {
	// A chart like Bitnami elasticsearch: no anti-affinity of its own, so Stowage adds all three.
	stored := create(t, statefulSet(), testPolicy(), Facts{}).StatefulSet()
	rendered := statefulSet() // the chart's rendering, as replace or an operator sends it
	offNs := testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.OptOut.Namespaces = []string{"data"} })
	legacy := compliant(func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0] = ownTerm()
	})
	preferredStored := create(t, statefulSet(), testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.AntiAffinity.Mode = v1alpha1.Preferred }), Facts{}).StatefulSet()
	userSpread := corev1.TopologySpreadConstraint{MaxSkew: 3, TopologyKey: "topology.kubernetes.io/region", WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: ownTerm().LabelSelector}
	withUserParts := create(t, statefulSet(withRequiredAnti(zoneTerm()), func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{userSpread}
	}), testPolicy(), Facts{}).StatefulSet()

	tests := []struct {
		name      string
		policy    *v1alpha1.PlacementPolicy
		stored    *appsv1.StatefulSet
		update    func(*appsv1.StatefulSet) // applied to a copy of stored
		replaceBy *appsv1.StatefulSet       // instead of update: the whole incoming object
		wantEqual bool                      // the result equals the stored object
		wantImage string                    // the result's image, when the update changed it
		wantTerm  bool                      // the result has a required hostname term
		want      []string                  // violations
	}{
		{
			name:      "helm upgrade of a chart rendering podAntiAffinity: null → term put back",
			stored:    stored,
			update:    func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Affinity.PodAntiAffinity = nil },
			wantEqual: true, wantTerm: true, want: []string{},
		},
		{
			name:      "kubectl replace of the rendering → term, spread and class put back",
			stored:    stored,
			replaceBy: rendered,
			wantEqual: true, wantTerm: true, want: []string{},
		},
		{
			name:      "replace with a new image → all put back, only the image changes",
			stored:    stored,
			replaceBy: statefulSet(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "db:2" }),
			wantImage: "db:2", wantTerm: true, want: []string{},
		},
		{
			name:   "the update brings its own required hostname term → Stowage's not put back",
			stored: stored,
			update: func(s *appsv1.StatefulSet) {
				s.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = []corev1.PodAffinityTerm{userTerm()}
			},
			wantTerm: true, want: []string{},
		},
		{
			name:      "stored by an older Stowage (term without the pod-name label) → recognised and put back",
			stored:    legacy,
			update:    func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Affinity = nil },
			wantEqual: true, wantTerm: true, want: []string{},
		},
		{
			name:   "user's own zone term and region spread kept by the update; only Stowage's parts dropped → put back in place",
			stored: withUserParts,
			update: func(s *appsv1.StatefulSet) {
				s.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = []corev1.PodAffinityTerm{zoneTerm()}
				s.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{userSpread}
			},
			wantEqual: true, wantTerm: true,
			want: []string{"AntiAffinityWideKey warning spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey"},
		},
		{
			name:      "a StatefulSet that never had the term (admitted before Stowage) → nothing added",
			stored:    statefulSet(),
			update:    func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "db:2" },
			wantImage: "db:2",
			want: []string{
				"AntiAffinityMissing warning spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution",
				"TopologySpreadMissing warning spec.template.spec.topologySpreadConstraints",
				"StorageClassUnset warning spec.volumeClaimTemplates[0].spec.storageClassName",
			},
		},
		{
			name: "the policy's anti-affinity is Off → the term may go; the class is still kept",
			policy: testPolicy(func(s *v1alpha1.PlacementPolicySpec) {
				s.AntiAffinity.Mode = v1alpha1.Off
				s.TopologySpread.Mode = v1alpha1.Disabled
			}),
			stored: stored, replaceBy: rendered,
			want: []string{},
		},
		{
			name:      "opted out where the policy allows it → the term may go; the class is still kept",
			policy:    offNs,
			stored:    stored,
			replaceBy: statefulSet(func(s *appsv1.StatefulSet) { s.Annotations = map[string]string{v1alpha1.OptOutAnnotation: "true"} }),
		},
		{
			name:   "Preferred mode: Stowage's preferred term dropped → put back",
			policy: testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.AntiAffinity.Mode = v1alpha1.Preferred }),
			stored: preferredStored, replaceBy: rendered,
			wantEqual: true, want: []string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == nil {
				p = testPolicy()
			}
			next := tc.replaceBy.DeepCopy()
			if tc.update != nil {
				next = tc.stored.DeepCopy()
				tc.update(next)
			}
			res := evaluate(t, Request{Operation: Update, Object: next, OldObject: tc.stored}, p, Facts{})
			got := res.StatefulSet()
			if tc.wantEqual {
				if diff := cmp.Diff(tc.stored.Spec, got.Spec); diff != "" {
					t.Errorf("the kept spec differs from the stored one (the pods would roll):\n%s", diff)
				}
			}
			if tc.wantImage != "" {
				if img := got.Spec.Template.Spec.Containers[0].Image; img != tc.wantImage {
					t.Errorf("image %s, want %s", img, tc.wantImage)
				}
				want := tc.stored.DeepCopy()
				want.Spec.Template.Spec.Containers[0].Image = tc.wantImage
				if tc.wantTerm {
					if diff := cmp.Diff(want.Spec, got.Spec); diff != "" {
						t.Errorf("besides the image, the spec differs from the stored one:\n%s", diff)
					}
				}
			}
			if has := len(requiredTerms(podAntiAffinity(&got.Spec.Template.Spec))) > 0; has != tc.wantTerm {
				t.Errorf("required term present %v, want %v", has, tc.wantTerm)
			}
			if c := got.Spec.VolumeClaimTemplates[0].Spec.StorageClassName; c == nil || *c != *tc.stored.Spec.VolumeClaimTemplates[0].Spec.StorageClassName && tc.stored.Spec.VolumeClaimTemplates[0].Spec.StorageClassName != nil {
				if tc.stored.Spec.VolumeClaimTemplates[0].Spec.StorageClassName != nil {
					t.Errorf("claim template class %v, want the stored %v", c, *tc.stored.Spec.VolumeClaimTemplates[0].Spec.StorageClassName)
				}
			}
			if tc.want != nil {
				if diff := cmp.Diff(tc.want, ruleHits(res.Violations)); diff != "" {
					t.Errorf("violations (-want +got):\n%s", diff)
				}
			}
			// Idempotent: the kept object, sent again, needs nothing more.
			again := evaluate(t, Request{Operation: Update, Object: got, OldObject: tc.stored}, p, Facts{})
			if len(again.Patch) != 0 {
				t.Errorf("a second pass still patches: %v", again.Patch)
			}
		})
	}
}

// TestValidateSaysTheMutationDidNotRun covers a mutating webhook that failed open: the
// validating webhook judges the object as it came and says why the term is missing.
func TestValidateSaysTheMutationDidNotRun(t *testing.T) {
	stored := create(t, statefulSet(), testPolicy(), Facts{}).StatefulSet()
	dropped := statefulSet(func(s *appsv1.StatefulSet) { s.Spec.VolumeClaimTemplates = stored.Spec.VolumeClaimTemplates })
	for _, tc := range []struct {
		name string
		req  Request
	}{
		{"update without the mutation", Request{Operation: Update, Object: dropped, OldObject: stored, Phase: Validate}},
		{"create without the mutation", Request{Operation: Create, Object: statefulSet(), Phase: Validate}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := evaluate(t, tc.req, testPolicy(), Facts{})
			if len(res.Patch) == 0 {
				t.Fatal("the validate phase should still compute what the mutation would change")
			}
			if diff := cmp.Diff(tc.req.Object, res.Object); diff != "" {
				t.Errorf("the validate phase changed the object:\n%s", diff)
			}
			errs := res.Errors()
			if len(errs) != 1 || errs[0].Rule != RuleAntiAffinityMissing || !strings.Contains(errs[0].Message, "mutating webhook did not run") {
				t.Fatalf("errors = %+v", errs)
			}
		})
	}
	t.Run("after the mutation ran → nothing to say", func(t *testing.T) {
		res := evaluate(t, Request{Operation: Create, Object: stored, Phase: Validate}, testPolicy(), Facts{})
		if len(res.Patch) != 0 || len(res.Violations) != 0 {
			t.Fatalf("patch %v, violations %v", res.Patch, res.Violations)
		}
	})
	t.Run("the mutate phase reports nothing", func(t *testing.T) {
		res := evaluate(t, Request{Operation: Update, Object: dropped, OldObject: stored, Phase: Mutate}, testPolicy(), Facts{})
		if len(res.Patch) == 0 || len(res.Violations) != 0 || res.PDB != nil {
			t.Fatalf("patch %v, violations %v, pdb %v", res.Patch, res.Violations, res.PDB)
		}
	})
}

func zoneTerm() corev1.PodAffinityTerm {
	t := ownTerm()
	t.TopologyKey = v1alpha1.ZoneTopologyKey
	return t
}
