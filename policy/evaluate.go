package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// Evaluate applies a defaulted, validated policy to one StatefulSet or PersistentVolumeClaim.
//
// On Create it mutates a deep copy (storage class, anti-affinity, topology spread), computes the
// patch, and validates the mutated copy. On Update it never mutates: it validates the new object
// and reports as warnings the problems that the old object already had. On Background it
// validates the object as it is. It never modifies req, p or facts.
//
// It returns an error only for input it cannot evaluate at all: an unsupported type, or an
// Update without an old object of the same type.
func Evaluate(req Request, p *v1alpha1.PlacementPolicy, facts Facts) (*Result, error) {
	if p == nil {
		return nil, fmt.Errorf("no policy given")
	}
	switch req.Operation {
	case Create, Update, Background:
	default:
		return nil, fmt.Errorf("unsupported operation %q: want %s, %s or %s", req.Operation, Create, Update, Background)
	}
	switch req.Phase {
	case Admit, Mutate, Validate:
	default:
		return nil, fmt.Errorf("unsupported phase %q: want %q, %s or %s", req.Phase, Admit, Mutate, Validate)
	}
	res := &Result{Policy: p.Name, Action: p.Spec.EnforcementAction}
	var err error
	switch obj := req.Object.(type) {
	case *appsv1.StatefulSet:
		err = evaluateObject(statefulSets, res, req, obj, p, &facts)
	case *corev1.PersistentVolumeClaim:
		err = evaluateObject(claims, res, req, obj, p, &facts)
	default:
		err = unsupported(req.Object)
	}
	if err != nil {
		return nil, err
	}
	if facts.stopped() {
		return nil, ErrStopped // some check may have given up part way
	}
	return res, nil
}

// objects checks that the object is set and, on Update, returns the old object of the same type.
func objects[T object[T]](req Request, obj T, k *kind[T]) (T, error) {
	var old T
	if obj == nil {
		return old, fmt.Errorf("nil %s", k.name)
	}
	if req.Operation != Update {
		return old, nil
	}
	o, ok := req.OldObject.(T)
	if !ok || o == nil {
		return old, fmt.Errorf("update of a %s needs the old %s, got %T", k.name, k.name, req.OldObject)
	}
	return o, nil
}

func unsupported(obj runtime.Object) error {
	return fmt.Errorf("unsupported object %T: Stowage evaluates apps/v1 StatefulSets and v1 PersistentVolumeClaims", obj)
}

// KeepStored evaluates an Update that no policy applies to (none selects the object, or it
// opted out): nothing is checked and nothing is added, but what keeps the stored object's
// immutable values still applies. A claim (template) class that Stowage filled in earlier must
// survive a re-apply that drops it, or the API server rejects the update as changing an
// immutable field. Other operations give an empty result.
func KeepStored(req Request) (*Result, error) {
	switch obj := req.Object.(type) {
	case *appsv1.StatefulSet:
		return keepStored(statefulSets, req, obj)
	case *corev1.PersistentVolumeClaim:
		return keepStored(claims, req, obj)
	}
	return nil, unsupported(req.Object)
}

func keepStored[T object[T]](k *kind[T], req Request, in T) (*Result, error) {
	old, err := objects(req, in, k)
	if err != nil {
		return nil, err
	}
	out := in.DeepCopy()
	if req.Operation != Update {
		return &Result{Object: out}, nil
	}
	k.keep(k.context(Update, out, &v1alpha1.PlacementPolicy{}, &Facts{}), old) // no policy applies
	return &Result{Object: out, Patch: k.patch(in, out)}, nil
}

// context carries what the rules of one evaluation read, and collects what they find.
type context struct {
	op     Operation
	policy *v1alpha1.PlacementPolicySpec
	facts  *Facts

	// For StatefulSets.
	sts      *appsv1.StatefulSet
	replicas int32
	// pods is spec.selector; nil when it is missing, empty, malformed, or does not select the
	// template's own labels.
	pods *metav1.LabelSelector

	// For PersistentVolumeClaims.
	pvc *corev1.PersistentVolumeClaim

	found []Violation
}

func (c *context) report(rule RuleID, sev Severity, path *field.Path, format string, args ...any) {
	c.reportBudgets(rule, sev, path, nil, format, args...)
}

// reportBudgets records a violation about the named PodDisruptionBudgets.
func (c *context) reportBudgets(rule RuleID, sev Severity, path *field.Path, budgets []string, format string, args ...any) {
	c.found = append(c.found, Violation{Rule: rule, Field: path, Message: fmt.Sprintf(format, args...), Severity: sev, Budgets: budgets})
}

// replicated reports whether co-location is possible at all.
func (c *context) replicated() bool { return c.replicas >= 2 }

// stsReplicas is spec.replicas, which defaults to 1.
func stsReplicas(sts *appsv1.StatefulSet) int32 {
	if sts.Spec.Replicas == nil {
		return 1
	}
	return *sts.Spec.Replicas
}

// podSpec returns the pod template's spec.
func (c *context) podSpec() *corev1.PodSpec { return &c.sts.Spec.Template.Spec }

var (
	pathSpec        = field.NewPath("spec")
	pathReplicas    = pathSpec.Child("replicas")
	pathSelector    = pathSpec.Child("selector")
	pathPodSpec     = pathSpec.Child("template", "spec")
	pathAffinity    = pathPodSpec.Child("affinity")
	pathVCTs        = pathSpec.Child("volumeClaimTemplates")
	pathAnnotations = field.NewPath("metadata", "annotations")
)

// object is what Stowage evaluates: a StatefulSet or a PersistentVolumeClaim.
type object[T any] interface {
	*appsv1.StatefulSet | *corev1.PersistentVolumeClaim
	runtime.Object
	metav1.Object
	DeepCopy() T
}

// kind is what differs between evaluating a StatefulSet and a claim; evaluateObject is the
// rest, one decision path for both.
type kind[T object[T]] struct {
	name string
	// context makes the context the rules read for obj.
	context func(op Operation, obj T, p *v1alpha1.PlacementPolicy, facts *Facts) *context
	// hooks returns a rule file's functions for this kind.
	hooks func(*checker) (mutate func(*context), preserve func(*context, T), check func(*context))
	// keep is what KeepStored applies: the preserve hook that keeps immutable stored values.
	keep func(*context, T)
	// patch diffs the parts of the object the mutators may touch.
	patch func(in, out T) []jsonpatch.Operation
}

var statefulSets = &kind[*appsv1.StatefulSet]{
	name: "StatefulSet",
	context: func(op Operation, sts *appsv1.StatefulSet, p *v1alpha1.PlacementPolicy, facts *Facts) *context {
		c := &context{op: op, policy: &p.Spec, facts: facts, sts: sts, replicas: stsReplicas(sts)}
		if validPodSelector(sts.Spec.Selector) && selectsPods(sts.Spec.Selector, sts.Spec.Template.Labels) {
			c.pods = sts.Spec.Selector
		}
		return c
	},
	hooks: func(k *checker) (func(*context), func(*context, *appsv1.StatefulSet), func(*context)) {
		return k.mutate, k.preserve, k.check
	},
	keep:  preserveStorageClass,
	patch: statefulSetPatch,
}

var claims = &kind[*corev1.PersistentVolumeClaim]{
	name: "PersistentVolumeClaim",
	context: func(op Operation, pvc *corev1.PersistentVolumeClaim, p *v1alpha1.PlacementPolicy, facts *Facts) *context {
		return &context{op: op, policy: &p.Spec, facts: facts, pvc: pvc}
	},
	hooks: func(k *checker) (func(*context), func(*context, *corev1.PersistentVolumeClaim), func(*context)) {
		return k.mutateClaim, k.preserveClaim, k.checkClaim
	},
	keep: preserveClaimStorageClass,
	patch: func(in, out *corev1.PersistentVolumeClaim) []jsonpatch.Operation {
		return diffTyped(nil, "/spec", &in.Spec, &out.Spec)
	},
}

// evaluateObject decides one object: the opt-out first; then, on a deep copy, the mutators
// (Create) or the preservers (Update) and the patch; then, except in the Mutate phase, the
// checks, with an Update ratcheted against the old object, and a StatefulSet's desired budget.
func evaluateObject[T object[T]](k *kind[T], res *Result, req Request, in T, p *v1alpha1.PlacementPolicy, facts *Facts) error {
	op, phase := req.Operation, req.Phase
	old, err := objects(req, in, k)
	if err != nil {
		return err
	}
	if exempt, v := optOut(in, p); exempt {
		res.Exempt = true
		kept, _ := keepStored(k, req, in) // objects(req, in, k) passed above, so no error
		res.Object, res.Patch = kept.Object, kept.Patch
		if phase == Validate {
			res.Object = in.DeepCopy()
		}
		return nil
	} else if v != nil && phase != Mutate {
		res.Violations = append(res.Violations, *v)
	}

	out := in.DeepCopy()
	c := k.context(op, out, p, facts)
	if op == Create || op == Update {
		for _, r := range checkers {
			mutate, preserve, _ := k.hooks(r)
			if op == Create && mutate != nil {
				mutate(c)
			} else if op == Update && preserve != nil {
				preserve(c, old)
			}
		}
		res.Patch = k.patch(in, out)
	}
	res.Object = out
	if phase == Mutate {
		return nil
	}
	if phase == Validate {
		// Judge what will be stored: the object as it came, after every mutator.
		stored := in.DeepCopy()
		res.Object, c = stored, k.context(op, stored, p, facts)
	}
	check(k, c)
	found := c.found
	if op == Update {
		oc := k.context(Background, old, p, facts)
		check(k, oc)
		found = ratchet(found, oc.found, c.replicas > oc.replicas) // claims have no replicas
	}
	if phase == Validate {
		notSkippedMutation(found, res.Patch)
	}
	res.Violations = finish(append(res.Violations, found...), p.Spec.EnforcementAction)
	if c.sts != nil {
		res.PDB = desiredBudget(c.sts, c.replicas, p, facts)
	}
	return nil
}

// check runs every rule file's checks for the kind.
func check[T object[T]](k *kind[T], c *context) {
	for _, r := range checkers {
		if _, _, check := k.hooks(r); check != nil {
			check(c)
		}
	}
}

// mutationSkipped is added to a violation that the mutating webhook would have prevented.
const mutationSkipped = "; Stowage's mutating webhook did not run on this request (it fails open, so the API server " +
	"admitted the object unchanged), which is why this is missing: check that the stowage webhook pods are running " +
	"and its Service has endpoints, then retry"

// notSkippedMutation marks the violations at fields the mutation would have changed: the
// mutating webhook did not run on this request.
func notSkippedMutation(found []Violation, patch []jsonpatch.Operation) {
	if len(patch) == 0 {
		return
	}
	paths := make([]string, len(patch))
	for j := range patch {
		paths[j] = patch[j].Path + "/"
	}
	for i := range found {
		at := pointer(found[i].Field) + "/"
		for _, path := range paths {
			if strings.HasPrefix(at, path) || strings.HasPrefix(path, at) {
				found[i].Message += mutationSkipped
				break
			}
		}
	}
}

// pointer turns a field path (spec.a[0].b) into a JSON pointer (/spec/a/0/b).
func pointer(p *field.Path) string {
	return "/" + pathToPointer.Replace(p.String())
}

var pathToPointer = strings.NewReplacer("[", "/", "]", "", ".", "/")

// statefulSetPatch diffs the parts of a StatefulSet that the mutators may touch: the claim
// templates' specs and the pod template's affinity and topology spread. The tests check that
// nothing outside them ever changes.
func statefulSetPatch(in, out *appsv1.StatefulSet) []jsonpatch.Operation {
	var ops []jsonpatch.Operation
	for i := range out.Spec.VolumeClaimTemplates {
		ops = diffTyped(ops, "/spec/volumeClaimTemplates/"+strconv.Itoa(i)+"/spec", &in.Spec.VolumeClaimTemplates[i].Spec, &out.Spec.VolumeClaimTemplates[i].Spec)
	}
	a, b := podSurface{in.Spec.Template.Spec.Affinity, in.Spec.Template.Spec.TopologySpreadConstraints},
		podSurface{out.Spec.Template.Spec.Affinity, out.Spec.Template.Spec.TopologySpreadConstraints}
	return diffTyped(ops, "/spec/template/spec", &a, &b)
}

// podSurface is the part of a PodSpec that the mutators may touch, with the same JSON tags.
type podSurface struct {
	Affinity                  *corev1.Affinity                  `json:"affinity,omitempty"`
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
}

// ratchet downgrades to warnings the errors that the old object already had, so an update is
// only rejected for what it makes worse: an error at the same rule and field in the old object
// (an error there too, not a warning), unless the update adds replicas to a problem that grows
// with them. A scale-down of a StatefulSet that already breaks the policy is never rejected.
func ratchet(found, before []Violation, grew bool) []Violation {
	for i := range found {
		v := &found[i]
		if v.Severity != SeverityError || grew && growsWithReplicas(v.Rule) {
			continue
		}
		for _, b := range before {
			if b.Rule == v.Rule && b.Severity == SeverityError && b.Field.String() == v.Field.String() {
				v.Severity = SeverityWarning
				v.Message += " (already so before this update, so not rejected)"
				break
			}
		}
	}
	return found
}

// finish applies the enforcement action and sorts the violations.
func finish(vs []Violation, action v1alpha1.EnforcementAction) []Violation {
	if action != v1alpha1.Deny {
		for i := range vs {
			vs[i].Severity = SeverityWarning
		}
	}
	slices.SortStableFunc(vs, func(a, b Violation) int {
		return cmp.Or(cmp.Compare(a.Field.String(), b.Field.String()), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Message, b.Message))
	})
	return vs
}
