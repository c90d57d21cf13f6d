package operatorcr

import (
	"reflect"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
)

// Resource returns the name the API server serves the kind at: the lower-case plural that its
// CRD declares in spec.names.plural, which admission webhook rules and RBAC name. It follows
// English plurals (Prometheus → prometheuses, RabbitmqCluster → rabbitmqclusters), as the
// operators' CRDs do; TestResourceIsTheCRDsPlural holds every entry of Kinds to its CRD.
func (k *Kind) Resource() string {
	s := strings.ToLower(k.Kind)
	switch {
	case strings.HasSuffix(s, "s"), strings.HasSuffix(s, "x"), strings.HasSuffix(s, "z"),
		strings.HasSuffix(s, "ch"), strings.HasSuffix(s, "sh"):
		return s + "es"
	case len(s) > 1 && strings.HasSuffix(s, "y") && !strings.ContainsAny(s[len(s)-2:len(s)-1], "aeiou"):
		return s[:len(s)-1] + "ies"
	}
	return s + "s"
}

// Change is one field of a custom resource whose value the policy engine changed in the
// StatefulSet the operator copies it to.
type Change struct {
	// Resource is the resource's field; StatefulSet the field of the StatefulSet it becomes.
	// Both are dotted paths, as field.Path prints them.
	Resource, StatefulSet string
	// Value is what the resource's field would have to hold to say the same, as JSON data;
	// nil when the engine removed the field.
	Value any
}

// Changes lists, field by field, what fixed (the engine's version of the projected
// StatefulSet) changes at the fields the operator copies from the resource, with the whole
// value each resource field would need. It is Patch at the granularity of the resource's own
// fields, for telling a user what to write rather than for applying. Fields the operator takes
// from another resource (IsHeld) are left out, as Patch leaves them.
func (p *Projection) Changes(fixed *appsv1.StatefulSet) ([]Change, error) {
	after, err := stsMap(fixed)
	if err != nil {
		return nil, err
	}
	var out []Change
	for _, f := range p.bound {
		if f.PathOnly || p.IsHeld(f.Resource) {
			continue
		}
		b, _ := get(p.typed, f.StatefulSet)
		a, inAfter := get(after, f.StatefulSet)
		if reflect.DeepEqual(b, a) {
			continue
		}
		c := Change{Resource: f.Resource, StatefulSet: f.StatefulSet}
		if inAfter {
			c.Value = relabel(a, statefulSetPodName, p.Kind.PodNameLabel)
		}
		out = append(out, c)
	}
	return out, nil
}
