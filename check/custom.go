package check

import (
	"encoding/json"
	"fmt"
	"strings"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/stowage-dev/stowage/internal/operatorcr"
	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/policy"
)

// evaluateCustomResource judges an operator custom resource that will become a StatefulSet
// (internal/operatorcr's table): it projects the resource onto that StatefulSet, makes the same
// one call into the policy engine as for a StatefulSet, and reports and patches at the
// resource's own fields.
func evaluateCustomResource(d *stream.Document, k *operatorcr.Kind, opts *Options, facts *clusterFacts) (*Result, []any, []InputError) {
	data, _, err := d.JSON() // the values kubectl reads (YAML 1.1)
	var obj map[string]any
	if err == nil {
		err = json.Unmarshal(data, &obj)
	}
	if err != nil {
		line := stream.ErrorLine(err)
		if line == 0 {
			line = d.Line
		}
		return nil, nil, []InputError{{Source: d.Source, Line: line, Message: fmt.Sprintf("%s %s: %v", d.Kind, d.Ref(), err)}}
	}
	proj, err := operatorcr.Project(k, obj)
	if err != nil {
		return nil, nil, []InputError{{Source: d.Source, Line: d.Line, Message: fmt.Sprintf(
			"%s %s: %v; fix the field so that %s can make its StatefulSet", d.Kind, d.Ref(), err, k.Operator)}}
	}
	sts := proj.StatefulSet
	if sts.Namespace == "" {
		sts.Namespace = facts.defaultNamespace
	}
	ns := sts.Namespace
	res := &Result{Source: d.Source, Line: d.Line, APIVersion: d.APIVersion, Kind: d.Kind, Namespace: ns, Name: d.Name,
		Violations: []Violation{}, Patch: []jsonpatch.Operation{}, Generated: []any{}}
	dec, err := opts.Policies.Decide(policy.Input{
		Operation: policy.Create, Object: sts, NamespaceLabels: facts.namespaceLabels(ns),
		Facts: func() (policy.Facts, error) {
			return policy.Facts{NodesKnown: opts.NodesKnown, Nodes: opts.Nodes, PDBs: facts.budgets[ns]}, nil
		},
	})
	if err != nil {
		return nil, nil, []InputError{{Source: d.Source, Line: d.Line, Message: err.Error()}}
	}
	if dec.Result == nil {
		res.Skipped = string(dec.Skip)
		return res, nil, nil
	}
	if dec.Policy != nil {
		res.Policy = dec.Policy.Name
	}
	out := dec.Result
	res.Exempt = out.Exempt
	for _, v := range out.Violations {
		path, mapped := proj.Path(v.Field.String())
		msg := v.Message
		if !mapped {
			msg += fmt.Sprintf(" (at %s of the StatefulSet %s makes; %s has no field for it)", v.Field, k.Operator, d.Kind)
		}
		sev := v.Severity
		if !k.LabelsKnown {
			sev = policy.SeverityWarning
			msg += fmt.Sprintf(" (%s labels its pods in a way that is not known offline: a warning only)", k.Operator)
		}
		res.Violations = append(res.Violations, Violation{Rule: v.Rule, Field: path, Message: msg, Severity: sev,
			Line: stream.LineOf(d.Node, path)})
	}
	if len(out.Patch) > 0 {
		ops, unmapped, err := proj.Patch(out.StatefulSet())
		if err != nil {
			return nil, nil, []InputError{{Source: d.Source, Line: d.Line, Message: fmt.Sprintf("%s %s: %v", d.Kind, d.Ref(), err)}}
		}
		res.Patch = ops
		var errs []InputError
		if len(unmapped) > 0 {
			// Never dropped silently: the webhook makes these changes when the operator creates
			// the StatefulSet, but the resource cannot carry them.
			errs = append(errs, InputError{Source: d.Source, Line: d.Line, Message: fmt.Sprintf(
				"%s %s: the policy would also change %s of the StatefulSet %s makes, which %s has no field for; the webhook changes it when the StatefulSet is created",
				d.Kind, d.Ref(), strings.Join(unmapped, ", "), k.Operator, d.Kind)})
		}
		if len(errs) > 0 {
			return res, nil, errs
		}
	}
	var gen []any
	if !k.OwnBudget && out.PDB != nil && !facts.budgetInPlace(sts, out.PDB.Name) {
		if d.Namespace == "" {
			out.PDB.Namespace = ""
		}
		g := manifest(out.PDB)
		res.Generated = append(res.Generated, g)
		gen = append(gen, g)
	}
	return res, gen, nil
}
