package policy

// Rules AntiAffinityMissing and AntiAffinityWideKey.
//
// Reads: spec.selector, spec.template.metadata.labels, spec.replicas and
// spec.template.spec.affinity.podAntiAffinity; the policy's spec.antiAffinity.
// Writes: on Create, spec.template.spec.affinity.podAntiAffinity; on Update, only to keep what
// Stowage added on Create where the update drops it (see preserveAntiAffinity).
//
// Two replicas on one node means one node failure or one drain takes out two copies of the
// data. Required anti-affinity on kubernetes.io/hostname over the StatefulSet's own pods makes
// the scheduler refuse that. It is added to every StatefulSet, a single replica included, so a
// later scale-up never needs a pod-template change (which would roll the pods).
//
// The term selects the pods with spec.selector, matchExpressions included, plus "the pod has a
// statefulset.kubernetes.io/pod-name label": only pods a StatefulSet controller made carry it,
// so the term never repels another pod that happens to share the labels, such as a chart's
// `helm test` pod (required anti-affinity is symmetric). The user's own terms
// are kept: a required term on the hostname that already covers the pods makes ours redundant,
// and a chart's preferred term over exactly these pods is moved to the required list instead of
// being duplicated. The key is always the hostname: required anti-affinity on a wider key such
// as a zone lets at most one replica per zone run, and can leave pods unschedulable for good.

import (
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

const (
	// RuleAntiAffinityMissing reports a StatefulSet whose pods may share a node because the
	// required (or, in Preferred mode, preferred) hostname anti-affinity is absent or was removed.
	RuleAntiAffinityMissing RuleID = "AntiAffinityMissing"
	// RuleAntiAffinityWideKey reports required anti-affinity on a key wider than the hostname.
	RuleAntiAffinityWideKey RuleID = "AntiAffinityWideKey"
)

var pathRequiredAnti = pathAffinity.Child("podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution")

func init() {
	addChecker(&checker{
		rules: []RuleInfo{
			{ID: RuleAntiAffinityMissing, Severity: SeverityError,
				Summary: "pods need required anti-affinity on kubernetes.io/hostname over the StatefulSet's own pods"},
			{ID: RuleAntiAffinityWideKey, Severity: SeverityWarning,
				Summary: "required anti-affinity should use kubernetes.io/hostname, not a wider key"},
		},
		mutate:   mutateAntiAffinity,
		preserve: preserveAntiAffinity,
		check:    checkAntiAffinity,
	})
}

func mutateAntiAffinity(c *context) {
	if c.pods == nil || c.policy.AntiAffinity.Mode == v1alpha1.Off {
		return
	}
	if hasHostnameTerm(c, c.policy.AntiAffinity.Mode == v1alpha1.Preferred) {
		return
	}
	anti := ensureAntiAffinity(c.podSpec())
	if c.policy.AntiAffinity.Mode == v1alpha1.Preferred {
		anti.PreferredDuringSchedulingIgnoredDuringExecution = append(anti.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.WeightedPodAffinityTerm{Weight: c.policy.AntiAffinity.PreferredWeight, PodAffinityTerm: ownHostnameTerm(c)})
		return
	}
	if *c.policy.AntiAffinity.UpgradePreferred {
		for i, w := range anti.PreferredDuringSchedulingIgnoredDuringExecution {
			if w.PodAffinityTerm.TopologyKey == v1alpha1.HostnameTopologyKey && selectsExactlyOwnPods(&w.PodAffinityTerm, c.sts) {
				prefs := anti.PreferredDuringSchedulingIgnoredDuringExecution
				anti.RequiredDuringSchedulingIgnoredDuringExecution = append(anti.RequiredDuringSchedulingIgnoredDuringExecution, upgraded(w.PodAffinityTerm))
				anti.PreferredDuringSchedulingIgnoredDuringExecution = append(prefs[:i:i], prefs[i+1:]...)
				if len(anti.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
					anti.PreferredDuringSchedulingIgnoredDuringExecution = nil
				}
				return
			}
		}
	}
	anti.RequiredDuringSchedulingIgnoredDuringExecution = append(anti.RequiredDuringSchedulingIgnoredDuringExecution, ownHostnameTerm(c))
}

// ownHostnameTerm is the anti-affinity term Stowage adds: the StatefulSet's own pods, by its
// selector and the pod-name label only StatefulSet pods carry, on the hostname.
func ownHostnameTerm(c *context) corev1.PodAffinityTerm {
	return ownPodsOnly(corev1.PodAffinityTerm{
		LabelSelector: c.sts.Spec.Selector.DeepCopy(),
		TopologyKey:   v1alpha1.HostnameTopologyKey,
	})
}

// legacyHostnameTerm is the term Stowage added before it required the pod-name label. Objects
// stored with it keep it; it is recognised as Stowage's.
func legacyHostnameTerm(c *context) corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{LabelSelector: c.sts.Spec.Selector.DeepCopy(), TopologyKey: v1alpha1.HostnameTopologyKey}
}

// podNameExists is the requirement only pods made by a StatefulSet controller meet.
var podNameExists = metav1.LabelSelectorRequirement{Key: appsv1.StatefulSetPodNameLabel, Operator: metav1.LabelSelectorOpExists}

// ownPodsOnly narrows a term (a copy) to pods a StatefulSet controller made.
func ownPodsOnly(t corev1.PodAffinityTerm) corev1.PodAffinityTerm {
	t.LabelSelector = t.LabelSelector.DeepCopy()
	if !slices.ContainsFunc(t.LabelSelector.MatchExpressions, func(r metav1.LabelSelectorRequirement) bool { return r.Key == podNameExists.Key }) {
		t.LabelSelector.MatchExpressions = append(t.LabelSelector.MatchExpressions, podNameExists)
	}
	return t
}

// upgraded is the required form of a chart's preferred term over exactly the StatefulSet's pods.
func upgraded(t corev1.PodAffinityTerm) corev1.PodAffinityTerm { return ownPodsOnly(t) }

// hasHostnameTerm reports whether a hostname term of the pod template already keeps the pods
// apart: a required term, or with preferred also a preferred one.
func hasHostnameTerm(c *context, preferred bool) bool {
	if HostnameAntiAffinity(c.sts, c.facts.NamespaceLabels) {
		return true
	}
	if anti := podAntiAffinity(c.podSpec()); preferred && anti != nil {
		for i := range anti.PreferredDuringSchedulingIgnoredDuringExecution {
			t := &anti.PreferredDuringSchedulingIgnoredDuringExecution[i].PodAffinityTerm
			if t.TopologyKey == v1alpha1.HostnameTopologyKey && coversOwnPods(t, c.sts, c.facts.NamespaceLabels, false) {
				return true
			}
		}
	}
	return false
}

func checkAntiAffinity(c *context) {
	if c.pods == nil {
		return
	}
	required := requiredTerms(podAntiAffinity(c.podSpec()))
	for i := range required {
		if t := &required[i]; t.TopologyKey != v1alpha1.HostnameTopologyKey && coversOwnPods(t, c.sts, c.facts.NamespaceLabels, false) {
			c.report(RuleAntiAffinityWideKey, SeverityWarning, pathRequiredAnti.Index(i).Child("topologyKey"),
				"required anti-affinity on a key wider than kubernetes.io/hostname allows one replica per domain "+
					"and can leave replicas unschedulable when a domain is lost; use topologyKey: kubernetes.io/hostname, "+
					"and a topology spread constraint for the wider key")
		}
	}
	sev := SeverityWarning
	if c.replicated() {
		sev = SeverityError
	}
	switch c.policy.AntiAffinity.Mode {
	case v1alpha1.Required:
		if !hasHostnameTerm(c, false) {
			c.report(RuleAntiAffinityMissing, sev, pathRequiredAnti,
				"pods need a required anti-affinity term on kubernetes.io/hostname that selects this StatefulSet's pods, "+
					"so that no two replicas share a node; add one with labelSelector equal to spec.selector "+
					"(on an existing StatefulSet this rolls the pods)")
		}
	case v1alpha1.Preferred:
		if !hasHostnameTerm(c, true) {
			c.report(RuleAntiAffinityMissing, SeverityWarning, pathAffinity.Child("podAntiAffinity"),
				"pods need an anti-affinity term on kubernetes.io/hostname that selects this StatefulSet's pods; "+
					"add a preferred term with labelSelector equal to spec.selector")
		}
	}
}

func podAntiAffinity(spec *corev1.PodSpec) *corev1.PodAntiAffinity {
	if spec.Affinity == nil {
		return nil
	}
	return spec.Affinity.PodAntiAffinity
}

func ensureAntiAffinity(spec *corev1.PodSpec) *corev1.PodAntiAffinity {
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.PodAntiAffinity == nil {
		spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	return spec.Affinity.PodAntiAffinity
}

// preserveAntiAffinity keeps, on Update, the anti-affinity Stowage added on Create when the
// update drops it, so that no client fights Stowage:
//   - helm's and client-side kubectl apply's three-way merge turn a chart's explicit
//     `podAntiAffinity: null` into "delete", which removes the term from the stored object;
//   - kubectl replace, GitOps tools and operators send the whole object as they render it,
//     without the term;
//   - both kinds of apply put back a chart's preferred term that Stowage moved to the required
//     list (the applier still owns it).
//
// What Stowage added is recognised in the stored object by its shape: in Required mode, a
// required hostname term equal to the one Stowage adds (or added, before it required the
// pod-name label), or the required form of a preferred term the update carries; in Preferred
// mode, a preferred hostname term equal to Stowage's. Those are put back at their stored places,
// and a preferred term that the update puts back next to its upgraded form is taken out again,
// so when the incoming template differs from the stored one only by these, the result equals the
// stored template and the pods do not roll. A required hostname term of the update's own that
// covers the pods makes the stored one unnecessary, and nothing is put back. Nothing new is ever
// added on Update: an object that never had Stowage's term is only reported.
//
// The way to really remove the term is the policy's (antiAffinity.mode Off, or an opt-out where
// the policy allows it), never an edit to the object.
func preserveAntiAffinity(c *context, old *appsv1.StatefulSet) {
	if c.pods == nil || c.policy.AntiAffinity.Mode == v1alpha1.Off {
		return
	}
	oldAnti := podAntiAffinity(&old.Spec.Template.Spec)
	if oldAnti == nil {
		return
	}
	if c.policy.AntiAffinity.Mode == v1alpha1.Preferred {
		if hasHostnameTerm(c, true) {
			return
		}
		own, legacy := ownHostnameTerm(c), legacyHostnameTerm(c)
		for i, w := range oldAnti.PreferredDuringSchedulingIgnoredDuringExecution {
			if equalTerm(&w.PodAffinityTerm, &own) || equalTerm(&w.PodAffinityTerm, &legacy) {
				anti := ensureAntiAffinity(c.podSpec())
				anti.PreferredDuringSchedulingIgnoredDuringExecution = slices.Insert(anti.PreferredDuringSchedulingIgnoredDuringExecution,
					min(i, len(anti.PreferredDuringSchedulingIgnoredDuringExecution)), w)
			}
		}
		return
	}

	anti := podAntiAffinity(c.podSpec())
	var incomingPrefs []corev1.WeightedPodAffinityTerm
	if anti != nil {
		incomingPrefs = anti.PreferredDuringSchedulingIgnoredDuringExecution
	}
	// A preferred term of the update whose required form Stowage stored: the chart's term that
	// Stowage upgraded on Create, put back by a re-apply.
	reAdded := func(w *corev1.WeightedPodAffinityTerm) (corev1.PodAffinityTerm, bool) {
		if w.PodAffinityTerm.TopologyKey != v1alpha1.HostnameTopologyKey || !selectsExactlyOwnPods(&w.PodAffinityTerm, c.sts) ||
			containsPreferredTerm(oldAnti.PreferredDuringSchedulingIgnoredDuringExecution, w.PodAffinityTerm) {
			return corev1.PodAffinityTerm{}, false
		}
		for _, form := range []corev1.PodAffinityTerm{upgraded(w.PodAffinityTerm), w.PodAffinityTerm} {
			if containsTerm(oldAnti.RequiredDuringSchedulingIgnoredDuringExecution, form) {
				return form, true
			}
		}
		return corev1.PodAffinityTerm{}, false
	}

	// Put back the stored terms that are Stowage's, unless the update keeps the pods apart itself.
	if !hasHostnameTerm(c, false) {
		own, legacy := ownHostnameTerm(c), legacyHostnameTerm(c)
		var restore []int // indexes into the stored required list
		for i := range oldAnti.RequiredDuringSchedulingIgnoredDuringExecution {
			t := &oldAnti.RequiredDuringSchedulingIgnoredDuringExecution[i]
			stowages := equalTerm(t, &own) || equalTerm(t, &legacy)
			if !stowages && *c.policy.AntiAffinity.UpgradePreferred {
				for j := range incomingPrefs {
					if form, ok := reAdded(&incomingPrefs[j]); ok && equalTerm(&form, t) {
						stowages = true
						break
					}
				}
			}
			if stowages && !containsTerm(requiredTerms(anti), *t) {
				restore = append(restore, i)
			}
		}
		if len(restore) > 0 {
			anti = ensureAntiAffinity(c.podSpec())
			for _, i := range restore {
				req := anti.RequiredDuringSchedulingIgnoredDuringExecution
				anti.RequiredDuringSchedulingIgnoredDuringExecution = slices.Insert(req, min(i, len(req)),
					*oldAnti.RequiredDuringSchedulingIgnoredDuringExecution[i].DeepCopy())
			}
		}
	}

	// Take out a preferred term put back next to the required form Stowage stored for it.
	if anti == nil || len(anti.PreferredDuringSchedulingIgnoredDuringExecution) == 0 || !*c.policy.AntiAffinity.UpgradePreferred {
		return
	}
	var kept []corev1.WeightedPodAffinityTerm
	for i := range anti.PreferredDuringSchedulingIgnoredDuringExecution {
		w := &anti.PreferredDuringSchedulingIgnoredDuringExecution[i]
		if form, ok := reAdded(w); ok && containsTerm(anti.RequiredDuringSchedulingIgnoredDuringExecution, form) {
			continue
		}
		kept = append(kept, *w)
	}
	if len(kept) != len(anti.PreferredDuringSchedulingIgnoredDuringExecution) {
		anti.PreferredDuringSchedulingIgnoredDuringExecution = kept
	}
}

func requiredTerms(anti *corev1.PodAntiAffinity) []corev1.PodAffinityTerm {
	if anti == nil {
		return nil
	}
	return anti.RequiredDuringSchedulingIgnoredDuringExecution
}

func equalTerm(a, b *corev1.PodAffinityTerm) bool { return equal(reflectValue(a), reflectValue(b)) }

func containsTerm(list []corev1.PodAffinityTerm, t corev1.PodAffinityTerm) bool {
	for i := range list {
		if equal(reflectValue(&list[i]), reflectValue(&t)) {
			return true
		}
	}
	return false
}

// containsPreferredTerm reports whether a preferred list holds the term, whatever its weight.
func containsPreferredTerm(list []corev1.WeightedPodAffinityTerm, t corev1.PodAffinityTerm) bool {
	for i := range list {
		if equal(reflectValue(&list[i].PodAffinityTerm), reflectValue(&t)) {
			return true
		}
	}
	return false
}
