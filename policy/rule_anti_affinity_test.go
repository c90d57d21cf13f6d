package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

func TestAntiAffinityMutation(t *testing.T) {
	wide := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/instance": "prod"}},
		TopologyKey:   corev1.LabelHostname,
	}
	narrowerThanSelector := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: podLabels},
		TopologyKey:   corev1.LabelHostname,
	}
	otherNamespace := ownTerm()
	otherNamespace.Namespaces = []string{"elsewhere"}
	zone := ownTerm()
	zone.TopologyKey = v1alpha1.ZoneTopologyKey
	exprSelector := &metav1.LabelSelector{
		MatchLabels:      map[string]string{"app.kubernetes.io/name": "db"},
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app.kubernetes.io/instance", Operator: metav1.LabelSelectorOpIn, Values: []string{"prod", "canary"}}},
	}
	preferredOff := func(s *v1alpha1.PlacementPolicySpec) { f := false; s.AntiAffinity.UpgradePreferred = &f }
	allNamespaces := ownTerm()
	allNamespaces.NamespaceSelector = &metav1.LabelSelector{}
	twoNamespaces := ownTerm()
	twoNamespaces.Namespaces = []string{"data", "other"}
	unknownNamespaces := ownTerm()
	unknownNamespaces.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpDoesNotExist}}}

	tests := []struct {
		name          string
		sts           *appsv1.StatefulSet
		policy        *v1alpha1.PlacementPolicy
		wantRequired  []corev1.PodAffinityTerm
		wantPreferred []corev1.WeightedPodAffinityTerm
	}{
		{
			name:         "no affinity at all → required hostname term over spec.selector",
			sts:          statefulSet(),
			wantRequired: []corev1.PodAffinityTerm{stowageTerm()},
		},
		{
			name:         "single replica → term added anyway, so a scale-up needs no template change",
			sts:          statefulSet(replicas(1)),
			wantRequired: []corev1.PodAffinityTerm{stowageTerm()},
		},
		{
			name: "selector with matchExpressions → the term copies them",
			sts: statefulSet(func(s *appsv1.StatefulSet) {
				s.Spec.Selector = exprSelector
			}),
			wantRequired: []corev1.PodAffinityTerm{ownPodsOnly(corev1.PodAffinityTerm{LabelSelector: exprSelector, TopologyKey: corev1.LabelHostname})},
		},
		{
			name:         "chart's preferred term over exactly these pods → upgraded to required, not duplicated",
			sts:          statefulSet(withPreferredAnti(corev1.WeightedPodAffinityTerm{Weight: 1, PodAffinityTerm: ownTerm()})),
			wantRequired: []corev1.PodAffinityTerm{stowageTerm()},
		},
		{
			name:         "preferred term with a narrower selector that still covers the pods → upgraded",
			sts:          statefulSet(withPreferredAnti(corev1.WeightedPodAffinityTerm{Weight: 1, PodAffinityTerm: narrowerThanSelector})),
			wantRequired: []corev1.PodAffinityTerm{ownPodsOnly(narrowerThanSelector)},
		},
		{
			name:          "preferred term over the whole release → kept as preferred, ours added",
			sts:           statefulSet(withPreferredAnti(corev1.WeightedPodAffinityTerm{Weight: 1, PodAffinityTerm: wide})),
			wantRequired:  []corev1.PodAffinityTerm{stowageTerm()},
			wantPreferred: []corev1.WeightedPodAffinityTerm{{Weight: 1, PodAffinityTerm: wide}},
		},
		{
			name: "two preferred terms, one over these pods → that one upgraded, the other kept in place",
			sts: statefulSet(withPreferredAnti(
				corev1.WeightedPodAffinityTerm{Weight: 50, PodAffinityTerm: zone},
				corev1.WeightedPodAffinityTerm{Weight: 1, PodAffinityTerm: ownTerm()})),
			wantRequired:  []corev1.PodAffinityTerm{stowageTerm()},
			wantPreferred: []corev1.WeightedPodAffinityTerm{{Weight: 50, PodAffinityTerm: zone}},
		},
		{
			name:          "upgradePreferred false → preferred kept, ours added",
			sts:           statefulSet(withPreferredAnti(corev1.WeightedPodAffinityTerm{Weight: 1, PodAffinityTerm: ownTerm()})),
			policy:        testPolicy(preferredOff),
			wantRequired:  []corev1.PodAffinityTerm{stowageTerm()},
			wantPreferred: []corev1.WeightedPodAffinityTerm{{Weight: 1, PodAffinityTerm: ownTerm()}},
		},
		{
			name:          "preferred term over these labels in every namespace → not upgraded (it would bind other releases), ours added",
			sts:           statefulSet(withPreferredAnti(corev1.WeightedPodAffinityTerm{Weight: 1, PodAffinityTerm: allNamespaces})),
			wantRequired:  []corev1.PodAffinityTerm{stowageTerm()},
			wantPreferred: []corev1.WeightedPodAffinityTerm{{Weight: 1, PodAffinityTerm: allNamespaces}},
		},
		{
			name:          "preferred term listing another namespace too → not upgraded, ours added",
			sts:           statefulSet(withPreferredAnti(corev1.WeightedPodAffinityTerm{Weight: 1, PodAffinityTerm: twoNamespaces})),
			wantRequired:  []corev1.PodAffinityTerm{stowageTerm()},
			wantPreferred: []corev1.WeightedPodAffinityTerm{{Weight: 1, PodAffinityTerm: twoNamespaces}},
		},
		{
			name:         "required term whose namespace selector the engine cannot decide → not trusted, ours added",
			sts:          statefulSet(withRequiredAnti(unknownNamespaces)),
			wantRequired: []corev1.PodAffinityTerm{unknownNamespaces, stowageTerm()},
		},
		{
			name:         "user's required term with matchLabelKeys on a template label covers the pods → nothing added",
			sts:          statefulSet(withRequiredAnti(byKeys([]string{"app.kubernetes.io/instance"}, nil, map[string]string{"app.kubernetes.io/name": "db"}))),
			wantRequired: []corev1.PodAffinityTerm{byKeys([]string{"app.kubernetes.io/instance"}, nil, map[string]string{"app.kubernetes.io/name": "db"})},
		},
		{
			name: "user's required term with matchLabelKeys on the revision hash lets a new revision join an old one → ours added",
			sts:  statefulSet(withRequiredAnti(byKeys([]string{appsv1.ControllerRevisionHashLabelKey}, nil, map[string]string{"app.kubernetes.io/name": "db"}))),
			wantRequired: []corev1.PodAffinityTerm{byKeys([]string{appsv1.ControllerRevisionHashLabelKey}, nil, map[string]string{"app.kubernetes.io/name": "db"}),
				stowageTerm()},
		},
		{
			name:         "user's required term with mismatchLabelKeys on the pod name (every other replica) covers → nothing added",
			sts:          statefulSet(withRequiredAnti(byKeys(nil, []string{appsv1.StatefulSetPodNameLabel}, map[string]string{"app.kubernetes.io/name": "db"}))),
			wantRequired: []corev1.PodAffinityTerm{byKeys(nil, []string{appsv1.StatefulSetPodNameLabel}, map[string]string{"app.kubernetes.io/name": "db"})},
		},
		{
			name:         "user's required term over the whole release covers the pods → nothing added",
			sts:          statefulSet(withRequiredAnti(wide)),
			wantRequired: []corev1.PodAffinityTerm{wide},
		},
		{
			name:         "required term scoped to another namespace does not cover → ours added after it",
			sts:          statefulSet(withRequiredAnti(otherNamespace)),
			wantRequired: []corev1.PodAffinityTerm{otherNamespace, stowageTerm()},
		},
		{
			name:         "required term on the zone key → kept, hostname term added",
			sts:          statefulSet(withRequiredAnti(zone)),
			wantRequired: []corev1.PodAffinityTerm{zone, stowageTerm()},
		},
		{
			name:          "Preferred mode → a preferred term with the policy's weight",
			sts:           statefulSet(),
			policy:        testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.AntiAffinity.Mode = v1alpha1.Preferred }),
			wantPreferred: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: stowageTerm()}},
		},
		{
			name:   "Off mode → nothing added",
			sts:    statefulSet(),
			policy: testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.AntiAffinity.Mode = v1alpha1.Off }),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == nil {
				p = testPolicy()
			}
			res := create(t, tc.sts, p, Facts{})
			anti := podAntiAffinity(&res.StatefulSet().Spec.Template.Spec)
			var req []corev1.PodAffinityTerm
			var pref []corev1.WeightedPodAffinityTerm
			if anti != nil {
				req, pref = anti.RequiredDuringSchedulingIgnoredDuringExecution, anti.PreferredDuringSchedulingIgnoredDuringExecution
			}
			if diff := cmp.Diff(tc.wantRequired, req); diff != "" {
				t.Errorf("required terms (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantPreferred, pref); diff != "" {
				t.Errorf("preferred terms (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAntiAffinityChecks(t *testing.T) {
	zone := ownTerm()
	zone.TopologyKey = v1alpha1.ZoneTopologyKey
	tests := []struct {
		name string
		op   Operation
		old  *appsv1.StatefulSet
		sts  *appsv1.StatefulSet
		want []string
	}{
		{
			name: "create → term added, so nothing to report",
			op:   Create,
			sts:  statefulSet(),
			want: []string{},
		},
		{
			name: "update that drops Stowage's term → kept, so nothing to report",
			op:   Update,
			old:  compliant(),
			sts:  compliant(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Affinity = nil }),
			want: []string{},
		},
		{
			name: "update that removes the user's own required term → error",
			op:   Update,
			old:  statefulSet(withRequiredAnti(userTerm())),
			sts:  statefulSet(),
			want: []string{"AntiAffinityMissing error spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution",
				"TopologySpreadMissing warning spec.template.spec.topologySpreadConstraints",
				"StorageClassUnset warning spec.volumeClaimTemplates[0].spec.storageClassName"},
		},
		{
			name: "update of a StatefulSet that never had the term → only a warning (ratchet)",
			op:   Update,
			old:  statefulSet(),
			sts:  statefulSet(func(s *appsv1.StatefulSet) { s.Labels["tier"] = "gold" }),
			want: []string{
				"AntiAffinityMissing warning spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution",
				"TopologySpreadMissing warning spec.template.spec.topologySpreadConstraints",
				"StorageClassUnset warning spec.volumeClaimTemplates[0].spec.storageClassName",
			},
		},
		{
			name: "background audit of a single replica without the term → warning",
			op:   Background,
			sts:  compliant(replicas(1), func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Affinity = nil }),
			want: []string{"AntiAffinityMissing warning spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution"},
		},
		{
			name: "required anti-affinity on the zone key → warning on that term",
			op:   Create,
			sts:  statefulSet(withRequiredAnti(zone)),
			want: []string{"AntiAffinityWideKey warning spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := evaluate(t, Request{Operation: tc.op, Object: tc.sts, OldObject: tc.old}, testPolicy(), Facts{})
			if diff := cmp.Diff(tc.want, ruleHits(res.Violations)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

// userTerm is a required hostname term a user wrote, wider than Stowage's (the whole release).
func userTerm() corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/instance": "prod"}},
		TopologyKey:   corev1.LabelHostname,
	}
}

// TestStowageTermRepelsOnlyReplicas: required anti-affinity is symmetric, so the term Stowage
// adds must not keep a pod that merely shares the labels (a chart's `helm test` pod) off every
// node. Judged with apimachinery's own selector, as the scheduler does.
func TestStowageTermRepelsOnlyReplicas(t *testing.T) {
	sts := create(t, statefulSet(), testPolicy(), Facts{}).StatefulSet()
	term := sts.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0]
	sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil {
		t.Fatal(err)
	}
	replica := labels.Set{appsv1.StatefulSetPodNameLabel: "db-1", appsv1.PodIndexLabel: "1"}
	for k, v := range sts.Spec.Template.Labels {
		replica[k] = v
	}
	if !sel.Matches(replica) {
		t.Errorf("the term does not select a replica %v", replica)
	}
	if sel.Matches(labels.Set(sts.Spec.Template.Labels)) {
		t.Errorf("the term selects a pod that only shares the template's labels (a helm test pod)")
	}
}
