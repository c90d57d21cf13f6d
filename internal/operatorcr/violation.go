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
	// Severity is the engine's, or a warning when the operator's pod labels are not known or
	// the field is held (Projection.Held).
	Severity policy.Severity
}

// Made says what the operator makes of the resource for this projection, for messages: "the
// StatefulSet prometheus-operator makes", "the pods strimzi makes", with the entry of Kind.Sets.
func (p *Projection) Made() string {
	k := p.Kind
	what := "the StatefulSet " + k.Operator + " makes"
	if k.NotStatefulSet {
		what = "the pods " + k.Operator + " makes"
	}
	if p.Set >= 0 {
		what += fmt.Sprintf(" for %s[%d]", k.Sets, p.Set)
	}
	return what
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
		out.Message += fmt.Sprintf(" (at %s of %s; %s has no field for it)", stsPath, p.Made(), k.Kind)
	}
	switch {
	case !p.LabelsKnown:
		out.Severity = policy.SeverityWarning
		out.Message += fmt.Sprintf(" (%s labels its pods in a way that is not known offline: a warning only)", k.Operator)
	case p.IsHeld(path):
		out.Severity = policy.SeverityWarning
		out.Message += fmt.Sprintf(" (%s: a warning only, and not fixed here)", p.Held)
	}
	return out
}
