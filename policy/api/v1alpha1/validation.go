package v1alpha1

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validate checks a defaulted policy and returns every problem at once, each with its field path.
// Call SetDefaults first: Validate treats an empty enum as invalid.
func Validate(p *PlacementPolicy) field.ErrorList {
	var errs field.ErrorList
	meta := field.NewPath("metadata")
	if p.Name == "" {
		errs = append(errs, field.Required(meta.Child("name"), "a policy needs a name"))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(p.Name) {
			errs = append(errs, field.Invalid(meta.Child("name"), p.Name, msg))
		}
	}
	if p.Namespace != "" {
		errs = append(errs, field.Forbidden(meta.Child("namespace"), "PlacementPolicy is cluster-scoped; remove metadata.namespace"))
	}
	return append(errs, ValidateSpec(&p.Spec, field.NewPath("spec"))...)
}

// ValidateSpec checks a defaulted spec, reporting paths under fldPath.
func ValidateSpec(s *PlacementPolicySpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	selOpts := metav1validation.LabelSelectorValidationOptions{}
	if s.NamespaceSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.NamespaceSelector.Meta(), selOpts, fldPath.Child("namespaceSelector"))...)
	}
	if s.ObjectSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.ObjectSelector.Meta(), selOpts, fldPath.Child("objectSelector"))...)
	}
	errs = append(errs, validateEnum(fldPath.Child("enforcementAction"), s.EnforcementAction, Deny, Warn, Audit)...)
	errs = append(errs, validateStorage(&s.Storage, fldPath.Child("storage"))...)
	errs = append(errs, validateAntiAffinity(&s.AntiAffinity, fldPath.Child("antiAffinity"))...)
	errs = append(errs, validateSpread(&s.TopologySpread, fldPath.Child("topologySpread"))...)
	errs = append(errs, validateBudget(&s.DisruptionBudget, fldPath.Child("disruptionBudget"))...)
	errs = append(errs, validateOptOut(&s.OptOut, fldPath.Child("optOut"))...)
	errs = append(errs, validateNodeCapacity(&s.NodeCapacity, fldPath.Child("nodeCapacity"))...)
	errs = append(errs, validateRecovery(&s.Recovery, fldPath.Child("recovery"))...)
	return errs
}

func validateStorage(s *StorageSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(s.ClassName) {
		errs = append(errs, field.Invalid(fldPath.Child("className"), s.ClassName, msg))
	}
	errs = append(errs, validateEnum(fldPath.Child("mode"), s.Mode, FillIfUnset, Enforce)...)
	errs = append(errs, validateNames(fldPath.Child("allowedClassNames"), s.AllowedClassNames, validation.IsDNS1123Subdomain)...)
	if s.Mode == FillIfUnset && len(s.AllowedClassNames) > 0 {
		errs = append(errs, field.Forbidden(fldPath.Child("allowedClassNames"), "only used with mode: Enforce; set mode: Enforce or remove the list"))
	}
	return errs
}

func validateAntiAffinity(a *AntiAffinitySpec, fldPath *field.Path) field.ErrorList {
	errs := validateEnum(fldPath.Child("mode"), a.Mode, Required, Preferred, Off)
	if a.PreferredWeight < 1 || a.PreferredWeight > 100 {
		errs = append(errs, field.Invalid(fldPath.Child("preferredWeight"), a.PreferredWeight, "must be between 1 and 100"))
	}
	if a.UpgradePreferred == nil {
		errs = append(errs, field.Required(fldPath.Child("upgradePreferred"), "set true or false"))
	}
	return errs
}

func validateSpread(t *TopologySpreadSpec, fldPath *field.Path) field.ErrorList {
	errs := validateEnum(fldPath.Child("mode"), t.Mode, Enabled, Disabled)
	keys := sets.New[string]()
	for i, c := range t.Constraints {
		p := fldPath.Child("constraints").Index(i)
		if c.TopologyKey == "" {
			errs = append(errs, field.Required(p.Child("topologyKey"), "name a node label, e.g. topology.kubernetes.io/zone"))
		} else {
			for _, msg := range validation.IsQualifiedName(c.TopologyKey) {
				errs = append(errs, field.Invalid(p.Child("topologyKey"), c.TopologyKey, msg))
			}
		}
		if keys.Has(c.TopologyKey) {
			errs = append(errs, field.Duplicate(p.Child("topologyKey"), c.TopologyKey))
		}
		keys.Insert(c.TopologyKey)
		if c.MaxSkew < 1 {
			errs = append(errs, field.Invalid(p.Child("maxSkew"), c.MaxSkew, "must be at least 1"))
		}
		errs = append(errs, validateEnum(p.Child("whenUnsatisfiable"), c.WhenUnsatisfiable, string(corev1.ScheduleAnyway), string(corev1.DoNotSchedule))...)
	}
	return errs
}

func validateBudget(b *DisruptionBudgetSpec, fldPath *field.Path) field.ErrorList {
	errs := validateEnum(fldPath.Child("mode"), b.Mode, Enabled, Disabled)
	if b.MaxUnavailable == nil {
		errs = append(errs, field.Required(fldPath.Child("maxUnavailable"), "set a count such as 1 or a percentage such as 25%"))
	} else {
		errs = append(errs, validateMaxUnavailable(*b.MaxUnavailable, fldPath.Child("maxUnavailable"))...)
	}
	if b.MinReplicas < 1 {
		errs = append(errs, field.Invalid(fldPath.Child("minReplicas"), b.MinReplicas, "must be at least 1"))
	}
	if b.UnhealthyPodEvictionPolicy == nil {
		errs = append(errs, field.Required(fldPath.Child("unhealthyPodEvictionPolicy"), "set AlwaysAllow or IfHealthyBudget"))
	} else {
		errs = append(errs, validateEnum(fldPath.Child("unhealthyPodEvictionPolicy"), *b.UnhealthyPodEvictionPolicy, policyv1.AlwaysAllow, policyv1.IfHealthyBudget)...)
	}
	return errs
}

func validateMaxUnavailable(v intstr.IntOrString, p *field.Path) field.ErrorList {
	switch v.Type {
	case intstr.Int:
		if v.IntVal < 1 {
			return field.ErrorList{field.Invalid(p, v.IntVal, "must be at least 1: 0 blocks every drain")}
		}
	case intstr.String:
		pct, ok := strings.CutSuffix(v.StrVal, "%")
		var n int
		if _, err := fmt.Sscanf(pct, "%d", &n); !ok || err != nil || fmt.Sprint(n) != pct {
			return field.ErrorList{field.Invalid(p, v.StrVal, "must be an integer or a percentage such as 25%")}
		}
		if n < 1 || n > 100 {
			return field.ErrorList{field.Invalid(p, v.StrVal, "must be between 1% and 100%: 0% blocks every drain")}
		}
	}
	return nil
}

func validateOptOut(o *OptOutSpec, fldPath *field.Path) field.ErrorList {
	return validateNames(fldPath.Child("namespaces"), o.Namespaces, validation.IsDNS1123Label)
}

func validateNodeCapacity(n *NodeCapacitySpec, fldPath *field.Path) field.ErrorList {
	errs := validateEnum(fldPath.Child("whenInsufficient"), n.WhenInsufficient, CapacityDeny, CapacityWarn)
	errs = append(errs, validateNames(fldPath.Child("growableNodeLabels"), n.GrowableNodeLabels, validation.IsQualifiedName)...)
	if len(n.GrowableNodeLabels) > 32 {
		errs = append(errs, field.TooMany(fldPath.Child("growableNodeLabels"), len(n.GrowableNodeLabels), 32))
	}
	return errs
}

// validateNames checks each name of a list with valid and reports names given twice.
func validateNames(p *field.Path, names []string, valid func(string) []string) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, name := range names {
		for _, msg := range valid(name) {
			errs = append(errs, field.Invalid(p.Index(i), name, msg))
		}
		if seen.Has(name) {
			errs = append(errs, field.Duplicate(p.Index(i), name))
		}
		seen.Insert(name)
	}
	return errs
}

func validateEnum[T ~string](p *field.Path, v T, allowed ...T) field.ErrorList {
	if slices.Contains(allowed, v) {
		return nil
	}
	s := make([]string, len(allowed))
	for i, a := range allowed {
		s[i] = string(a)
	}
	return field.ErrorList{field.NotSupported(p, string(v), s)}
}

// validateRecovery mirrors the CRD schema of spec.recovery (enum, minimum and the CEL rule on
// nodeNotReadyAfter); manifests' TestCRDAgreesWithValidate keeps the two in step.
func validateRecovery(r *RecoverySpec, fldPath *field.Path) field.ErrorList {
	errs := validateEnum(fldPath.Child("mode"), r.Mode, RecoveryOff, RecoveryManual, RecoveryAutomatic)
	if r.NodeNotReadyAfter != nil && r.NodeNotReadyAfter.Duration.Seconds() < MinNodeNotReadyAfterSeconds {
		errs = append(errs, field.Invalid(fldPath.Child("nodeNotReadyAfter"), r.NodeNotReadyAfter.Duration.String(),
			"must be a duration of at least 1m, such as 10m or 1h30m"))
	}
	if r.MinHealthy != nil && *r.MinHealthy < 1 {
		errs = append(errs, field.Invalid(fldPath.Child("minHealthy"), *r.MinHealthy, "must be at least 1"))
	}
	return errs
}
