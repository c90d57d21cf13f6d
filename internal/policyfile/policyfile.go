// Package policyfile loads PlacementPolicies from YAML or JSON bytes, strictly: unknown fields,
// wrong kinds and invalid values are errors that name the source, line and field. Every policy it
// returns is defaulted and validated. It also embeds Stowage's default policy.
//
// It does no I/O of its own: callers pass the bytes in.
//
// It may import the standard library, internal/stream and policy/api/v1alpha1.
package policyfile

import (
	"cmp"
	_ "embed"
	"fmt"
	"slices"

	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the text of the embedded default policy.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Default returns a fresh copy of the embedded default policy, defaulted and validated.
func Default() *v1alpha1.PlacementPolicy {
	ps, errs := Load("embedded default policy", defaultYAML)
	if len(errs) > 0 || len(ps) != 1 {
		panic(fmt.Sprintf("the embedded default policy is broken: %v", errs)) // a test guards this
	}
	return ps[0]
}

// Load reads every PlacementPolicy in a YAML or JSON stream (or in a List of them). Each problem
// is a *stream.Error with the source and line, in the order of the lines; the policies without
// problems are still returned. A stream without documents gives neither policies nor errors.
func Load(source string, data []byte) ([]*v1alpha1.PlacementPolicy, []error) {
	var out []*v1alpha1.PlacementPolicy
	var errs []error
	names := map[string]int{}
	readErrs := stream.Read(source, data, func(d *stream.Document) error {
		if d.APIVersion != v1alpha1.GroupVersion.String() || d.Kind != v1alpha1.Kind {
			errs = append(errs, &stream.Error{Source: source, Line: d.Line, Message: fmt.Sprintf(
				"expected apiVersion %s and kind %s, got %s %s", v1alpha1.GroupVersion, v1alpha1.Kind, d.APIVersion, d.Kind)})
			return nil
		}
		name := "policy " + d.Name
		if d.Name == "" {
			name = "policy without a name"
		}
		p := &v1alpha1.PlacementPolicy{}
		fieldErrs, err := stream.Decode(d, p)
		if err != nil {
			line := stream.ErrorLine(err)
			if line == 0 {
				line = d.Line
			}
			errs = append(errs, &stream.Error{Source: source, Line: line, Message: name + ": " + err.Error()})
			return nil
		}
		bad := false
		for _, fe := range fieldErrs {
			bad = true
			errs = append(errs, &stream.Error{Source: source, Line: fe.Line, Message: name + ": " + fe.Message})
		}
		v1alpha1.SetDefaults(p)
		for _, fe := range v1alpha1.Validate(p) {
			bad = true
			errs = append(errs, &stream.Error{Source: source, Line: stream.LineOf(d.Node, fe.Field), Message: name + ": " + fe.Error()})
		}
		if prev, dup := names[p.Name]; dup && p.Name != "" {
			bad = true
			errs = append(errs, &stream.Error{Source: source, Line: d.Line, Message: fmt.Sprintf("policy %s is defined twice (first at line %d); names must be unique", p.Name, prev)})
		}
		names[p.Name] = d.Line
		if !bad {
			out = append(out, p)
		}
		return nil
	})
	errs = append(readErrs, errs...)
	slices.SortStableFunc(errs, func(a, b error) int { return cmp.Compare(errorLine(a), errorLine(b)) })
	return out, errs
}

func errorLine(err error) int {
	if se, ok := err.(*stream.Error); ok {
		return se.Line
	}
	return 0
}
