package policy

// Rules AntiAffinityMissing and AntiAffinityWideKey.
//
// Reads: spec.selector, spec.template.metadata.labels, spec.replicas and
// spec.template.spec.affinity.podAntiAffinity; the policy's spec.antiAffinity.
// Writes: on Create, spec.template.spec.affinity.podAntiAffinity; on Update, only to take out
// a chart's preferred term that a re-apply puts back after Stowage upgraded it
// (see preserveAntiAffinity).
//
// Two replicas on one node means one node failure or one drain takes out two copies of the
// data. Required anti-affinity on kubernetes.io/hostname over the StatefulSet's own pods makes
// the scheduler refuse that. It is added to every StatefulSet, a single replica included, so a
// later scale-up never needs a pod-template change (which would roll the pods).
//
// The term selects the pods with spec.selector, matchExpressions included. The user's own terms
// are kept: a required term on the hostname that already covers the pods makes ours redundant,
// and a chart's preferred term over exactly these pods is moved to the required list instead of
// being duplicated. The key is always the hostname: required anti-affinity on a wider key such
// as a zone lets at most one replica per zone run, and can leave pods unschedulable for good.

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

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

func mutateAntiAffinity(c *context) {
	if c.pods == nil || c.policy.AntiAffinity.Mode == v1alpha1.Off {
		return
	}
	sts := c.sts
	anti := podAntiAffinity(c.podSpec())
	if hasHostnameTerm(anti, c, true, c.policy.AntiAffinity.Mode == v1alpha1.Preferred) {
		return
	}
	if c.policy.AntiAffinity.Mode == v1alpha1.Preferred {
		anti = ensureAntiAffinity(c.podSpec())
		anti.PreferredDuringSchedulingIgnoredDuringExecution = append(anti.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.WeightedPodAffinityTerm{Weight: c.policy.AntiAffinity.PreferredWeight, PodAffinityTerm: ownHostnameTerm(c)})
		return
	}
	anti = ensureAntiAffinity(c.podSpec())
	if *c.policy.AntiAffinity.UpgradePreferred {
		for i, w := range anti.PreferredDuringSchedulingIgnoredDuringExecution {
			if w.PodAffinityTerm.TopologyKey == v1alpha1.HostnameTopologyKey && selectsExactlyOwnPods(&w.PodAffinityTerm, sts) {
				prefs := anti.PreferredDuringSchedulingIgnoredDuringExecution
				anti.RequiredDuringSchedulingIgnoredDuringExecution = append(anti.RequiredDuringSchedulingIgnoredDuringExecution, w.PodAffinityTerm)
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
// selector, on the hostname.
func ownHostnameTerm(c *context) corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{
		LabelSelector: c.sts.Spec.Selector.DeepCopy(),
		TopologyKey:   v1alpha1.HostnameTopologyKey,
	}
}

// hasHostnameTerm reports whether a hostname term already keeps the pods apart: a required
// term, or with preferred also a preferred one.
func hasHostnameTerm(anti *corev1.PodAntiAffinity, c *context, required, preferred bool) bool {
	if anti == nil {
		return false
	}
	if required {
		for i := range anti.RequiredDuringSchedulingIgnoredDuringExecution {
			t := &anti.RequiredDuringSchedulingIgnoredDuringExecution[i]
			if t.TopologyKey == v1alpha1.HostnameTopologyKey && coversOwnPods(t, c.sts) {
				return true
			}
		}
	}
	if preferred {
		for i := range anti.PreferredDuringSchedulingIgnoredDuringExecution {
			t := &anti.PreferredDuringSchedulingIgnoredDuringExecution[i].PodAffinityTerm
			if t.TopologyKey == v1alpha1.HostnameTopologyKey && coversOwnPods(t, c.sts) {
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
	anti := podAntiAffinity(c.podSpec())
	if anti != nil {
		for i := range anti.RequiredDuringSchedulingIgnoredDuringExecution {
			t := &anti.RequiredDuringSchedulingIgnoredDuringExecution[i]
			if t.TopologyKey != v1alpha1.HostnameTopologyKey && coversOwnPods(t, c.sts) {
				c.report(RuleAntiAffinityWideKey, SeverityWarning, pathRequiredAnti.Index(i).Child("topologyKey"),
					"required anti-affinity on a key wider than kubernetes.io/hostname allows one replica per domain "+
						"and can leave replicas unschedulable when a domain is lost; use topologyKey: kubernetes.io/hostname, "+
						"and a topology spread constraint for the wider key")
			}
		}
	}
	sev := SeverityWarning
	if c.replicated() {
		sev = SeverityError
	}
	switch c.policy.AntiAffinity.Mode {
	case v1alpha1.Required:
		if !hasHostnameTerm(anti, c, true, false) {
			c.report(RuleAntiAffinityMissing, sev, pathRequiredAnti,
				"pods need a required anti-affinity term on kubernetes.io/hostname that selects this StatefulSet's pods, "+
					"so that no two replicas share a node; add one with labelSelector equal to spec.selector "+
					"(on an existing StatefulSet this rolls the pods)")
		}
	case v1alpha1.Preferred:
		if !hasHostnameTerm(anti, c, true, true) {
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

// preserveAntiAffinity undoes, on Update, one thing a re-apply of the original manifest does:
// both client-side and server-side apply put back a chart's preferred term that Stowage moved
// to the required list on Create (the applier still owns it). A preferred term over exactly
// these pods on the hostname that the stored template does not have, while the stored required
// list holds the same term, is taken out again, so the pod template stays as stored and a
// re-apply never rolls the pods. The required term itself is never put back: its removal is an
// edit that weakens placement, which the checks report.
func preserveAntiAffinity(c *context, old *appsv1.StatefulSet) {
	if c.pods == nil || c.policy.AntiAffinity.Mode != v1alpha1.Required || !*c.policy.AntiAffinity.UpgradePreferred {
		return
	}
	oldAnti, anti := podAntiAffinity(&old.Spec.Template.Spec), podAntiAffinity(c.podSpec())
	if oldAnti == nil || anti == nil || len(anti.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		return
	}
	var kept []corev1.WeightedPodAffinityTerm
	for _, w := range anti.PreferredDuringSchedulingIgnoredDuringExecution {
		reAdded := w.PodAffinityTerm.TopologyKey == v1alpha1.HostnameTopologyKey && selectsExactlyOwnPods(&w.PodAffinityTerm, c.sts) &&
			!containsPreferredTerm(oldAnti.PreferredDuringSchedulingIgnoredDuringExecution, w.PodAffinityTerm) &&
			containsTerm(oldAnti.RequiredDuringSchedulingIgnoredDuringExecution, w.PodAffinityTerm) &&
			containsTerm(anti.RequiredDuringSchedulingIgnoredDuringExecution, w.PodAffinityTerm)
		if !reAdded {
			kept = append(kept, w)
		}
	}
	if len(kept) != len(anti.PreferredDuringSchedulingIgnoredDuringExecution) {
		anti.PreferredDuringSchedulingIgnoredDuringExecution = kept
	}
}

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
