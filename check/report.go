package check

import (
	"gomodules.xyz/jsonpatch/v2"

	"github.com/stowage-dev/stowage/policy"
)

// Report is everything one run found. Its JSON form is the stable output of `-o json`.
type Report struct {
	Results []Result     `json:"results"`
	Errors  []InputError `json:"errors"`
	// Warnings are problems with the input that do not stop it from being applied, such as an
	// empty input, a key given twice, or objects without a namespace beside ones with one.
	Warnings []InputError `json:"warnings"`
	Summary  Summary      `json:"summary"`
}

// Result is the decision about one StatefulSet or PersistentVolumeClaim.
type Result struct {
	Source     string `json:"source"`
	Line       int    `json:"line"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	// Policy is the name of the policy that applied, or "" when none selects the object.
	Policy string `json:"policy"`
	// Skipped says why no policy was applied: NoPolicy (none selects the object) or
	// SystemNamespace (kube-system, kube-public and kube-node-lease, which the webhook never
	// sees either). Empty when a policy applied.
	Skipped string `json:"skipped,omitempty"`
	// Exempt is true when the object opted out where the policy allows it.
	Exempt     bool        `json:"exempt,omitempty"`
	Violations []Violation `json:"violations"`
	// Patch is the RFC 6902 patch the webhook would apply on CREATE.
	Patch []jsonpatch.Operation `json:"patch"`
	// Generated holds the objects Stowage would create, such as the PodDisruptionBudget.
	Generated []any `json:"generated"`
}

// Violation is a policy violation with its position.
type Violation struct {
	Rule policy.RuleID `json:"rule"`
	// Field is the dotted Kubernetes field path, e.g. spec.template.spec.nodeSelector[kubernetes.io/hostname].
	Field    string          `json:"field"`
	Message  string          `json:"message"`
	Severity policy.Severity `json:"severity"`
	// Line is the line of the field in Source, or of its closest enclosing field.
	Line int `json:"line"`
}

// InputError is input that could not be read, parsed or decoded.
type InputError struct {
	Source  string `json:"source"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// Summary counts what the run saw and decided.
type Summary struct {
	Files int `json:"files"`
	// Objects counts every object read, of any kind.
	Objects int `json:"objects"`
	// Evaluated counts the StatefulSets and PersistentVolumeClaims evaluated.
	Evaluated int `json:"evaluated"`
	// Changed counts the evaluated objects that the policy would mutate.
	Changed int `json:"changed"`
	// Generated counts the objects Stowage would create.
	Generated     int `json:"generated"`
	Errors        int `json:"errors"`
	Warnings      int `json:"warnings"`
	InputErrors   int `json:"inputErrors"`
	InputWarnings int `json:"inputWarnings"`
	ExitCode      int `json:"exitCode"`
}

// Exit codes.
const (
	// ExitOK means no error-severity violations (mutations alone are fine).
	ExitOK = 0
	// ExitViolations means error-severity violations, or changes under --fail-on-change.
	ExitViolations = 1
	// ExitInputError means unreadable input, an invalid policy, or bad usage.
	ExitInputError = 2
)

func (s *Summary) add(r *Result) {
	s.Evaluated++
	if len(r.Patch) > 0 {
		s.Changed++
	}
	s.Generated += len(r.Generated)
	for _, v := range r.Violations {
		if v.Severity == policy.SeverityError {
			s.Errors++
		} else {
			s.Warnings++
		}
	}
}

// exitCode applies the documented precedence: input errors, then violations, then changes
// under --fail-on-change.
func (s *Summary) exitCode(failOnChange bool) int {
	switch {
	case s.InputErrors > 0:
		return ExitInputError
	case s.Errors > 0:
		return ExitViolations
	case failOnChange && (s.Changed > 0 || s.Generated > 0):
		return ExitViolations
	}
	return ExitOK
}
