package webhook

// Operator custom resources that become StatefulSets (internal/operatorcr's table: a
// Prometheus, an Alertmanager, ...).
//
// The validating endpoint judges them with the same rules as a StatefulSet, at the fields the
// operator copies into its pod template, and answers with warnings only. It never denies one
// and never changes one:
//   - Stowage fixes the StatefulSet the operator makes, when the operator creates it, and keeps
//     the fix on every one of the operator's updates. Denying the resource would block an
//     install that Stowage makes safe anyway: "do no harm".
//   - The operator owns the resource, and a user's GitOps tool re-applies it: a mutated
//     resource would be rewritten on every sync and fought over for ever. The warning names
//     the field and the value to write, so the user can say it in the resource themselves.
//
// A warning reaches whoever created the resource (kubectl prints it as "Warning: ..."), while
// the operator's own request for the StatefulSet has nobody to read one.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/stowage-dev/stowage/internal/operatorcr"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

const (
	// maxValueRunes caps the value quoted in a warning's "set ... to ...". Past it the warning
	// points at `stowage check --fix`, which writes the value into the manifest.
	maxValueRunes = 600
	// maxWarningRunes is what the warnings of one answer may add up to. The API server keeps
	// 4096 runes of warnings per request and truncates every warning to 256 runes past that,
	// which would cut the fixes off mid-value.
	maxWarningRunes = 3800
)

// customKind returns the table entry for a request on an operator custom resource, or nil.
func customKind(req *admissionv1.AdmissionRequest) *operatorcr.Kind {
	if req.SubResource != "" {
		return nil
	}
	k := operatorcr.Lookup(req.Kind.Group+"/"+req.Kind.Version, req.Kind.Kind)
	if k == nil || req.Resource.Group != k.Group {
		return nil
	}
	return k
}

// adviseCustomResource answers the validating endpoint for an operator custom resource: always
// allowed, with warnings. On CREATE it warns about what the policy finds in the StatefulSet the
// operator will make: each fix Stowage will make to that StatefulSet, with the resource field
// and value that say the same, and each problem it cannot fix. On UPDATE it warns only about
// what the change newly breaks, judged as Stowage will judge the operator's update of its
// StatefulSet; what was already there was said at CREATE and is reported by the audit, and
// repeating it on every GitOps sync would teach users to ignore the warnings.
func (a *Admitter) adviseCustomResource(ctx context.Context, req *admissionv1.AdmissionRequest, k *operatorcr.Kind) (*admissionv1.AdmissionResponse, *decision) {
	d := &decision{advisory: true}
	resp := allowed()
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return resp, d
	}
	projs, deleting, err := projectRequest(k, req, req.Object.Raw)
	if err != nil {
		resp.Warnings = []string{fmt.Sprintf("stowage could not read this %s: %v; it is admitted unjudged, and the StatefulSet %s makes from it is judged when it is created",
			k.Kind, err, k.Operator)}
		return resp, d
	}
	if deleting {
		return resp, d
	}
	var olds map[string]*operatorcr.Projection // by StatefulSet name
	if req.Operation == admissionv1.Update {
		if oldProjs, _, err := projectRequest(k, req, req.OldObject.Raw); err == nil {
			olds = map[string]*operatorcr.Projection{}
			for _, o := range oldProjs {
				olds[o.StatefulSet.Name] = o
			}
		}
	}
	w := &warnings{}
	if req.Operation == admissionv1.Update && olds == nil {
		w.add(fmt.Sprintf("stowage could not read the stored %s, so this change is judged as if it were new", k.Kind))
	}
	log := logr.FromContextOrDiscard(ctx)
	var p *v1alpha1.PlacementPolicy
	for _, proj := range projs {
		ns := proj.StatefulSet.Namespace
		res, pol, err := a.evaluate(ctx, policy.Create, policy.Admit, proj.StatefulSet, nil, ns)
		if err != nil {
			log.Error(err, "evaluation of an operator resource failed; admitted unjudged")
			d.errored = true
			w.add(fmt.Sprintf("stowage could not judge the StatefulSet %s of this %s (%v); it is admitted unjudged", proj.StatefulSet.Name, k.Kind, err))
			continue
		}
		if res == nil || pol.Spec.EnforcementAction == v1alpha1.Audit {
			continue // no policy applies, or it only records: the audit reports
		}
		p = pol
		d.policy, d.action, d.exempt = pol.Name, pol.Spec.EnforcementAction, d.exempt || res.Exempt
		var found []policy.Violation
		if old := olds[proj.StatefulSet.Name]; old != nil {
			found, err = a.adviseUpdate(ctx, w, proj, old, pol)
			if err != nil {
				log.Error(err, "evaluation of an operator resource failed; admitted unjudged")
				d.errored = true
				w.add(fmt.Sprintf("stowage could not judge this change of the %s (%v); it is admitted unjudged", k.Kind, err))
			}
		} else {
			found = a.adviseCreate(ctx, w, proj, res, pol)
		}
		d.violations = append(d.violations, found...)
	}
	resp.Warnings = w.list(k)
	if len(resp.Warnings) > 0 && p != nil {
		log.V(1).Info("warned about an operator resource", "policy", p.Name, "warnings", len(resp.Warnings))
	}
	return resp, d
}

// adviseCreate warns about a new resource: res is the engine's result for its StatefulSet as
// Stowage will admit it (fixed, then judged). It returns the violations it warned about.
func (a *Admitter) adviseCreate(ctx context.Context, w *warnings, proj *operatorcr.Projection, res *policy.Result, p *v1alpha1.PlacementPolicy) []policy.Violation {
	k, sts := proj.Kind, proj.StatefulSet
	if len(res.Patch) > 0 {
		fixed := res.StatefulSet()
		changes, err := proj.Changes(fixed)
		var reasons []policy.Violation
		if err == nil && len(changes) > 0 {
			// Why each fix is made: what the StatefulSet would break without it.
			if bg, _, err := a.evaluate(ctx, policy.Background, policy.Admit, sts, nil, sts.Namespace); err == nil && bg != nil {
				reasons = bg.Violations
			}
		}
		for _, c := range changes {
			var why []string
			for _, v := range reasons {
				if at, _ := proj.Path(v.Field.String()); within(at, c.Resource) {
					// The rule's summary: the violation's own message tells how to fix the
					// StatefulSet, where this warning tells how to say it in the resource.
					msg := ruleSummaries()[v.Rule]
					if msg == "" {
						msg = v.Message
					}
					why = append(why, fmt.Sprintf("%s [stowage rule %s, policy %s]", msg, v.Rule, p.Name))
				}
			}
			if len(why) == 0 {
				why = []string{fmt.Sprintf("policy %s sets it", p.Name)}
			}
			w.add(fmt.Sprintf("%s: %s; Stowage makes this change at %s of the StatefulSet %s when %s creates it, and keeps it on the operator's updates; %s",
				c.Resource, strings.Join(why, "; "), c.StatefulSet, sts.Name, k.Operator, sayIt(k, c)))
		}
		if _, unmapped, _, err := proj.Patch(fixed); err == nil && len(unmapped) > 0 {
			w.add(fmt.Sprintf("Stowage also changes %s of the StatefulSet %s, which a %s has no field for; the change is made when %s creates it",
				strings.Join(unmapped, ", "), sts.Name, k.Kind, k.Operator))
		}
	}
	for _, v := range res.Violations {
		w.add(violationWarning(proj, v, p, fmt.Sprintf("Stowage will reject the StatefulSet %s that %s makes from this %s until it is fixed",
			sts.Name, k.Operator, k.Kind)))
	}
	return res.Violations
}

// adviseUpdate warns about what a change of the resource newly breaks. The StatefulSet the
// operator made is taken to be what Stowage admitted for the old resource (oldRes, its result
// on CREATE); the new one is judged against it as the operator's update of the StatefulSet
// will be: what the engine rejects there (its ratchet lets through what the stored object
// already had) and any other finding the old resource did not have.
func (a *Admitter) adviseUpdate(ctx context.Context, w *warnings, proj, old *operatorcr.Projection, p *v1alpha1.PlacementPolicy) ([]policy.Violation, error) {
	k, sts := proj.Kind, proj.StatefulSet
	ns := sts.Namespace
	stored, had := old.StatefulSet, map[string]bool{}
	oldRes, _, err := a.evaluate(ctx, policy.Create, policy.Admit, old.StatefulSet, nil, ns)
	if err != nil {
		return nil, err
	}
	if oldRes != nil {
		stored = oldRes.StatefulSet()
		for _, v := range oldRes.Violations {
			had[string(v.Rule)+" "+v.Field.String()] = true
		}
	}
	res, _, err := a.evaluate(ctx, policy.Update, policy.Admit, sts, stored, ns)
	if err != nil || res == nil {
		return nil, err
	}
	var out []policy.Violation
	for _, v := range res.Violations {
		if v.Severity != policy.SeverityError && had[string(v.Rule)+" "+v.Field.String()] {
			continue
		}
		out = append(out, v)
		w.add(violationWarning(proj, v, p, fmt.Sprintf("Stowage will reject %s's update of the StatefulSet %s until it is fixed", k.Operator, sts.Name)))
	}
	return out, nil
}

// violationWarning words a violation of the projected StatefulSet at the resource's field.
// rejected says what happens to the operator's request when the violation is an error.
func violationWarning(proj *operatorcr.Projection, v policy.Violation, p *v1alpha1.PlacementPolicy, rejected string) string {
	k := proj.Kind
	path, mapped := proj.Path(v.Field.String())
	msg := fmt.Sprintf("%s: %s", path, v.Message)
	if !mapped {
		msg += fmt.Sprintf(" (at %s of the StatefulSet %s makes; a %s has no field for it)", v.Field, k.Operator, k.Kind)
	}
	msg += fmt.Sprintf(" [stowage rule %s, policy %s]", v.Rule, p.Name)
	if v.Severity == policy.SeverityError {
		if !proj.LabelsKnown {
			rejected = strings.Replace(rejected, "will reject", "may reject", 1) +
				fmt.Sprintf(" (%s labels its pods in a way that cannot be read from the resource)", k.Operator)
		}
		msg += "; " + rejected
	}
	return msg
}

// sayIt tells how to write a change into the resource.
func sayIt(k *operatorcr.Kind, c operatorcr.Change) string {
	if c.Value == nil {
		return fmt.Sprintf("to say so in the %s, remove %s", k.Kind, c.Resource)
	}
	data, err := json.Marshal(c.Value)
	if err != nil || len([]rune(string(data))) > maxValueRunes {
		return fmt.Sprintf("to say so in the %s, set %s as `stowage check --fix` writes it", k.Kind, c.Resource)
	}
	return fmt.Sprintf("to say so in the %s, set %s to %s", k.Kind, c.Resource, data)
}

// ruleSummaries are the rules' one-sentence requirements, by rule.
var ruleSummaries = sync.OnceValue(func() map[policy.RuleID]string {
	m := map[policy.RuleID]string{}
	for _, r := range policy.Rules() {
		m[r.ID] = r.Summary
	}
	return m
})

// within reports whether a dotted field path is at or under another.
func within(path, under string) bool {
	rest, ok := strings.CutPrefix(path, under)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

// warnings collects an answer's warnings within what the API server passes on whole.
type warnings struct {
	items   []string
	runes   int
	dropped int
}

func (w *warnings) add(s string) {
	n := len([]rune(s))
	if w.dropped > 0 || w.runes+n > maxWarningRunes {
		w.dropped++
		return
	}
	w.items, w.runes = append(w.items, s), w.runes+n
}

func (w *warnings) list(k *operatorcr.Kind) []string {
	if w.dropped > 0 {
		return append(w.items, fmt.Sprintf("... and %d more; run `stowage check` on the %s's manifest for all of them", w.dropped, k.Kind))
	}
	return w.items
}

// projectRequest decodes a custom resource from a request, with the API server's own JSON
// library, and projects it onto its StatefulSets (one, or one per entry of the Kind's Sets). deleting is true for a resource on its way
// out, which is not judged again.
func projectRequest(k *operatorcr.Kind, req *admissionv1.AdmissionRequest, raw []byte) (projs []*operatorcr.Projection, deleting bool, err error) {
	var obj map[string]any
	if len(raw) == 0 {
		return nil, false, fmt.Errorf("the request carries no object")
	}
	if err := decodeJSON(raw, &obj); err != nil {
		return nil, false, fmt.Errorf("decoding it: %v", err)
	}
	if obj == nil {
		return nil, false, fmt.Errorf("the request's object is null")
	}
	meta, ok := obj["metadata"].(map[string]any)
	if !ok {
		if _, present := obj["metadata"]; present {
			return nil, false, fmt.Errorf("metadata: must be an object")
		}
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	if ts, ok := meta["deletionTimestamp"]; ok && ts != nil {
		return nil, true, nil
	}
	if name, _ := meta["name"].(string); name == "" && req.Name != "" {
		meta["name"] = req.Name
	}
	if ns, _ := meta["namespace"].(string); ns == "" {
		meta["namespace"] = req.Namespace
	}
	projs, err = operatorcr.Project(k, obj)
	if err != nil {
		return nil, false, err
	}
	return projs, false, nil
}
