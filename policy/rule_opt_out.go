package policy

// Rule OptOutNotAllowed.
//
// Reads: metadata.annotations["stowage.dev/opt-out"], metadata.namespace, and the policy's
// spec.optOut.namespaces.
//
// The annotation, set to "true", exempts the object from the policy entirely, but only in a
// namespace the policy lists. A platform team lists the namespaces it trusts; a tenant who sets
// the annotation anywhere else must not be able to exempt itself, so the annotation is ignored
// there and the tenant is told why.

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// RuleOptOutNotAllowed reports an opt-out annotation in a namespace the policy does not trust.
const RuleOptOutNotAllowed RuleID = "OptOutNotAllowed"

// The opt-out is decided before any other rule (see evaluateObject), so this file registers
// only its description.
func init() {
	addChecker(&checker{
		rules: []RuleInfo{{ID: RuleOptOutNotAllowed, Severity: SeverityWarning,
			Summary: "the opt-out annotation is only honoured in namespaces the policy lists"}},
	})
}

// optOut reports whether the object is exempt, or the violation for an ignored opt-out.
func optOut(meta metav1.Object, p *v1alpha1.PlacementPolicy) (bool, *Violation) {
	if meta.GetAnnotations()[v1alpha1.OptOutAnnotation] != "true" {
		return false, nil
	}
	if slices.Contains(p.Spec.OptOut.Namespaces, meta.GetNamespace()) {
		return true, nil
	}
	return false, &Violation{
		Rule:     RuleOptOutNotAllowed,
		Field:    pathAnnotations.Key(v1alpha1.OptOutAnnotation),
		Severity: SeverityWarning,
		Message: "the opt-out annotation is only honoured in namespaces that the policy lists in spec.optOut.namespaces, " +
			"so the policy still applies here; ask a cluster administrator to list this namespace, or remove the annotation",
	}
}
