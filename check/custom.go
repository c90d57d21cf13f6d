package check

import (
	"cmp"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/stowage-dev/stowage/internal/operatorcr"
	"github.com/stowage-dev/stowage/internal/stream"
)

// evaluateCustomResource judges an operator custom resource that will become a StatefulSet
// (internal/operatorcr's table): it projects the resource onto that StatefulSet, makes the same
// one call into the policy engine as for a StatefulSet, and reports and patches at the
// resource's own fields.
func evaluateCustomResource(d *stream.Document, k *operatorcr.Kind, opts *Options, facts *clusterFacts) (*Result, []any, []InputError, []InputError) {
	data, _, err := d.JSON() // the values kubectl reads (YAML 1.1)
	var obj map[string]any
	if err == nil {
		err = json.Unmarshal(data, &obj)
	}
	if err != nil {
		return nil, nil, []InputError{inputError(d, err)}, nil
	}
	projs, err := operatorcr.Project(k, obj)
	if err != nil {
		return nil, nil, []InputError{{Source: d.Source, Line: d.Line, Message: fmt.Sprintf(
			"%s %s: %v; fix the field so that %s can make its %s", d.Kind, d.Ref(), err, k.Operator, made(k))}}, nil
	}
	res := newResult(d, cmp.Or(d.Namespace, facts.defaultNamespace))
	var gen []any
	var errs, warns []InputError
	for _, proj := range projs {
		g, unmapped, held, err := evaluateProjection(d, k, proj, res, opts, facts)
		if err != nil {
			return nil, nil, []InputError{*err}, nil
		}
		gen = append(gen, g...)
		errs = append(errs, unmapped...)
		warns = append(warns, held...)
	}
	sort.SliceStable(res.Patch, func(i, j int) bool { return res.Patch[i].Path < res.Patch[j].Path })
	if len(errs) > 0 {
		return res, nil, errs, warns
	}
	return res, gen, nil, warns
}

// made says what the operator makes of a resource, for messages.
func made(k *operatorcr.Kind) string {
	if k.NotStatefulSet {
		return "pods"
	}
	return "StatefulSet"
}

// evaluateProjection makes the one call into the policy engine for one StatefulSet the resource
// becomes, and adds its findings, patch and budget to res at the resource's fields.
func evaluateProjection(d *stream.Document, k *operatorcr.Kind, proj *operatorcr.Projection, res *Result, opts *Options, facts *clusterFacts) (gen []any, unmapped, held []InputError, _ *InputError) {
	sts := proj.StatefulSet
	out, err := decide(sts, res, opts, facts)
	if err != nil {
		return nil, nil, nil, &InputError{Source: d.Source, Line: d.Line, Message: err.Error()}
	}
	if out == nil {
		return nil, nil, nil, nil
	}
	what := proj.Made()
	for _, v := range out.Violations {
		cv := proj.Violation(v)
		res.Violations = append(res.Violations, Violation{Rule: v.Rule, Field: cv.Field, Message: cv.Message, Severity: cv.Severity,
			Line: stream.LineOf(d.Node, cv.Field)})
	}
	if len(out.Patch) > 0 {
		ops, changed, kept, err := proj.Patch(out.StatefulSet())
		if err != nil {
			e := inputError(d, err)
			return nil, nil, nil, &e
		}
		res.Patch = append(res.Patch, ops...)
		if len(changed) > 0 {
			// Never dropped silently: the webhook makes these changes when the operator creates
			// the StatefulSet, but the resource cannot carry them.
			tail := "the webhook changes it when the StatefulSet is created"
			if k.NotStatefulSet {
				tail = "the webhook never sees these pods, so nothing changes it"
			}
			unmapped = append(unmapped, InputError{Source: d.Source, Line: d.Line, Message: fmt.Sprintf(
				"%s %s: the policy would also change %s of %s, which %s has no field for; %s",
				d.Kind, d.Ref(), strings.Join(changed, ", "), what, d.Kind, tail)})
		}
		if len(kept) > 0 {
			held = append(held, InputError{Source: d.Source, Line: stream.LineOf(d.Node, kept[0]), Message: fmt.Sprintf(
				"%s %s: the policy would change %s, left unfixed: %s; set them there or in that resource",
				d.Kind, d.Ref(), strings.Join(kept, ", "), proj.Held)})
		}
	}
	if !proj.OwnBudget {
		gen = generateBudget(d, res, sts, out.PDB, facts)
	}
	return gen, unmapped, held, nil
}
