package audit

// Operator custom resources that become StatefulSets: the kinds of internal/operatorcr's table.
//
// Reads: each resource's name, namespace, UID and the fields the table says its operator copies
// into the StatefulSet it makes; that StatefulSet's controller reference and findings.
//
// An operator rewrites its StatefulSet from the custom resource on every reconcile, so an edit
// of the StatefulSet is undone: a spec finding is only of use at the resource's own field. Each
// resource is projected onto the StatefulSet its operator makes (operatorcr.Project) and the
// projection goes through the engine with the StatefulSets, in the same one Decide call, so the
// audit holds no rule about them. Each violation is then told at the resource's field
// (operatorcr's Violation, as `stowage check` tells it), and:
//
//   - when the StatefulSet exists and has a finding from the same rule, that finding moves to
//     the resource, linked to the StatefulSet, since the resource is where it is fixed;
//   - when the StatefulSet exists, was judged by a policy and complies, it is info only: Stowage
//     added what the resource lacks when the operator created the StatefulSet, and keeps it
//     through the operator's rewrites;
//   - when there is no StatefulSet yet, it has the engine's severity.
//
// A violation at a StatefulSet field the resource has no field for, and one that an audit check
// of the StatefulSet absorbed (budgets), stays with the StatefulSet.

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/stowage-dev/stowage/internal/operatorcr"
)

// customResource is a resource of the table with its projections: one per StatefulSet the
// operator makes of it (one per node set of an ECK Elasticsearch).
type customResource struct {
	obj   *unstructured.Unstructured
	kind  *operatorcr.Kind
	projs []*operatorcr.Projection
}

// projectCustomResources projects the resources of the table's kinds, sorted by namespace, kind
// and name. One that cannot be projected is a problem; other kinds are ignored.
func (a *analyzer) projectCustomResources(list []*unstructured.Unstructured) []*customResource {
	var out []*customResource
	for _, u := range list {
		if u == nil {
			continue
		}
		k := operatorcr.Lookup(u.GetAPIVersion(), u.GetKind())
		if k == nil {
			continue
		}
		projs, err := operatorcr.Project(k, u.Object)
		if err != nil {
			a.problem(u.GetKind(), u.GetNamespace(), u.GetName(), fmt.Sprintf("%v; fix the field so that %s can make what it makes of it", err, k.Operator))
			continue
		}
		for _, p := range projs {
			p.StatefulSet.Namespace = u.GetNamespace()
		}
		out = append(out, &customResource{obj: u, kind: k, projs: projs})
	}
	return dropTwice(a, out, func(cr *customResource) Problem {
		return Problem{Kind: cr.obj.GetKind(), Namespace: cr.obj.GetNamespace(), Name: cr.obj.GetName()}
	})
}

// owns reports whether the StatefulSet's controller is the resource.
func (cr *customResource) owns(sts *appsv1.StatefulSet) bool {
	if cr.kind.NotStatefulSet {
		return false // its pods are a pod set's (podset.go), not a StatefulSet's
	}
	ref := metav1.GetControllerOfNoCopy(sts)
	if ref == nil || ref.Kind != cr.kind.Kind || ref.Name != cr.obj.GetName() {
		return false
	}
	if group, _, _ := strings.Cut(ref.APIVersion, "/"); group != cr.kind.Group {
		return false
	}
	return ref.UID == "" || cr.obj.GetUID() == "" || ref.UID == cr.obj.GetUID()
}

// customResources reports the engine's verdicts on the projections (vs, in crs and projection
// order) at the resources, against the StatefulSets' own (stsVerdicts, in sets order).
func (a *analyzer) customResources(crs []*customResource, vs []verdict, sets []*appsv1.StatefulSet, stsVerdicts []verdict) {
	byRef := make(map[Ref]int, len(sets))
	for i, s := range sets {
		byRef[Ref{s.Namespace, s.Name}] = i
	}
	moved := map[int]bool{}
	next := 0
	a.report.CustomResources = make([]CustomResourceRow, 0, len(crs))
	for _, cr := range crs {
		u := cr.obj
		ns := u.GetNamespace()
		row := CustomResourceRow{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: ns, Name: u.GetName(), UID: string(u.GetUID()),
			Operator: cr.kind.Operator, StatefulSets: []MadeStatefulSet{}}
		for _, proj := range cr.projs {
			v := &vs[next]
			next++
			made := MadeStatefulSet{Name: proj.StatefulSet.Name, PodSet: cr.kind.NotStatefulSet}
			var owned *appsv1.StatefulSet
			var ownedV *verdict
			if j, ok := byRef[Ref{ns, made.Name}]; ok && cr.owns(sets[j]) {
				owned, ownedV = sets[j], &stsVerdicts[j]
				made.Found = true
			}
			row.StatefulSets = append(row.StatefulSets, made)
			a.judgeProjection(cr, proj, v, owned, ownedV, &row, moved)
		}
		a.report.CustomResources = append(a.report.CustomResources, row)
	}
	if len(moved) > 0 {
		keep := a.findings[:0]
		for j, f := range a.findings {
			if !moved[j] {
				keep = append(keep, f)
			}
		}
		a.findings = keep
		a.spans = nil // the indexes are stale
	}
}

// judgeProjection reports the engine's verdict on one projection at the resource. owned is the
// StatefulSet it became, when it exists, and ownedV the engine's verdict on it; the indexes of
// its findings that move to the resource are added to moved.
func (a *analyzer) judgeProjection(cr *customResource, proj *operatorcr.Projection, v *verdict, owned *appsv1.StatefulSet, ownedV *verdict,
	row *CustomResourceRow, moved map[int]bool) {
	ns, k := row.Namespace, cr.kind
	res := &ResourceRef{APIVersion: row.APIVersion, Kind: row.Kind, Name: row.Name}
	add := func(f Finding) {
		f.Namespace, f.Resource, f.Source = ns, res, SourcePolicy
		if owned != nil {
			f.StatefulSet = owned.Name
		}
		a.findings = append(a.findings, f)
	}
	switch {
	case v.policy == nil:
		// Nothing to judge by; the StatefulSet, when there is one, says so (NoPolicy).
		return
	case v.err != nil:
		row.Policy = v.policy.Name
		a.problem(row.Kind, ns, row.Name, "the policy engine could not evaluate "+proj.Made()+": "+v.err.Error())
		return
	}
	row.Policy = v.policy.Name
	row.Violations += len(v.violations)
	for _, vi := range v.violations {
		cv := proj.Violation(vi)
		f := Finding{ID: FindingID(vi.Rule), Severity: Severity(cv.Severity), Field: cv.Field, Policy: v.policy.Name,
			Rule: string(vi.Rule), Message: cv.Message}
		if owned == nil {
			add(f)
			continue
		}
		// The StatefulSet's findings from the same rule.
		var same []int
		absorbed := false
		sp := a.spans[Ref{ns, owned.Name}]
		for j := sp.first; j < sp.end; j++ {
			if g := &a.findings[j]; g.Rule == string(vi.Rule) {
				same = append(same, j)
				absorbed = absorbed || g.Source != SourcePolicy
			}
		}
		judged := ownedV.policy != nil && ownedV.err == nil && !ownedV.exempt
		switch {
		case !cv.Mapped || absorbed:
			// Stays with the StatefulSet.
		case len(same) > 0:
			for _, j := range same {
				moved[j] = true
			}
			add(f)
		case judged:
			f.Severity = SeverityInfo
			f.Message += fmt.Sprintf("; the StatefulSet %s that %s made complies (Stowage adds this when the operator creates it "+
				"and keeps it through the operator's rewrites), so this is for the record: set it on the %s so that it does not depend on Stowage",
				owned.Name, k.Operator, k.Kind)
			add(f)
		default:
			add(f)
		}
	}
}
