package operatorcr

import (
	"fmt"

	"github.com/stowage-dev/stowage/policy"
)

// Violation is an engine violation of the projected StatefulSet, told at the resource.
type Violation struct {
	// Field is the resource's field path; "spec" when the resource has no field for it.
	Field string
	// Mapped is false when the resource has no field for the StatefulSet path.
	Mapped bool
	// Message is the engine's message, with what the resource cannot say added to it.
	Message string
	// Severity is the engine's, or a warning when the operator's pod labels are not known.
	Severity policy.Severity
}

// Violation tells an engine violation of the projected StatefulSet at the resource's own
// field, with the words and severity `stowage check` gives it (check/custom.go), for the audit.
func (p *Projection) Violation(v policy.Violation) Violation {
	k := p.Kind
	stsPath := ""
	if v.Field != nil {
		stsPath = v.Field.String()
	}
	path, mapped := p.Path(stsPath)
	out := Violation{Field: path, Mapped: mapped, Message: v.Message, Severity: v.Severity}
	if !mapped {
		out.Message += fmt.Sprintf(" (at %s of the StatefulSet %s makes; %s has no field for it)", stsPath, k.Operator, k.Kind)
	}
	if !k.LabelsKnown {
		out.Severity = policy.SeverityWarning
		out.Message += fmt.Sprintf(" (%s labels its pods in a way that is not known offline: a warning only)", k.Operator)
	}
	return out
}
