package policy

import (
	"errors"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// Operation is the admission operation being evaluated.
type Operation string

const (
	// Create evaluates a new object: the engine mutates it and validates the result.
	Create Operation = "CREATE"
	// Update evaluates a change to a stored object. The engine adds nothing: it only keeps the
	// stored value where re-applying the original manifest would undo what Stowage did on
	// Create (an immutable claim class dropped, an upgraded preferred term put back), so a
	// re-apply neither fails nor rolls the pods. It validates the result and reports edits
	// that weaken placement. Problems already present in the old object are reported as
	// warnings, so that a running database is never blocked by a policy that arrived after it.
	Update Operation = "UPDATE"
	// Background evaluates a stored object as it is, for the audit: no mutation, no ratcheting.
	// What a Create would have added is reported as a violation instead.
	Background Operation = "BACKGROUND"
)

// Phase says which half of admission an evaluation is for.
type Phase string

const (
	// Admit, the default, mutates and then judges the mutated copy: the object as it will be
	// stored after both webhooks. `stowage check` and the audit use it.
	Admit Phase = ""
	// Mutate computes only the mutation and its patch, as the mutating webhook needs: no checks,
	// no violations, no budget.
	Mutate Phase = "Mutate"
	// Validate judges the object as given, as the validating webhook sees it after every
	// mutator. The mutation is still computed, and Result.Patch is what it would change: a
	// non-empty patch means the mutating webhook did not run on this request (it fails open),
	// and the violations it would have prevented say so.
	Validate Phase = "Validate"
)

// RuleID names a rule. It is stable: reports, metrics and SARIF use it.
type RuleID string

// Severity is how serious a violation is once the policy's enforcement action is applied.
type Severity string

const (
	// SeverityError is a violation that a Deny policy rejects and that makes `stowage check` exit 1.
	SeverityError Severity = "error"
	// SeverityWarning is reported (as an admission warning under Warn) but never rejects.
	SeverityWarning Severity = "warning"
)

// Violation is one way an object breaks the policy.
type Violation struct {
	// Rule is the rule that found it.
	Rule RuleID
	// Field is the path of the offending field in the evaluated object.
	Field *field.Path
	// Message is lower-case, states the requirement and the fix, and never echoes another
	// object's data: it names, at most, the PodDisruptionBudgets of the object's own namespace
	// that the violation is about.
	Message string
	// Severity is the rule's own severity after the policy's enforcement action and, on UPDATE,
	// ratcheting have been applied.
	Severity Severity
	// Budgets names the PodDisruptionBudgets a violation is about, sorted: set by the rules on
	// budgets when they judge a StatefulSet, so a report can list them without judging again.
	Budgets []string
}

// Facts are what the engine knows about the cluster. The caller builds them: the webhook from
// informer caches, `stowage check` from its inputs and --nodes, the audit from lists.
type Facts struct {
	// NodesKnown says whether Nodes is the complete list of the cluster's nodes. When false,
	// checks that need nodes are skipped.
	NodesKnown bool
	// Nodes are the cluster's nodes. Read-only.
	Nodes []*corev1.Node
	// PDBs are the PodDisruptionBudgets in the object's namespace. Read-only.
	PDBs []*policyv1.PodDisruptionBudget
	// NamespaceLabels are the labels of the object's namespace, when the caller has them: the
	// namespaceSelector of an affinity term is then decided fully, not only by the name label.
	// Read-only.
	NamespaceLabels map[string]string
	// DefaultStorageClass is the name of the cluster's default StorageClass, or "".
	DefaultStorageClass string
	// StatefulSets are the StatefulSets in a claim's namespace, when the caller has them. A
	// claim a StatefulSet makes from one of its (immutable) templates must follow the template,
	// so it is never rejected for its class. Read-only.
	StatefulSets []*appsv1.StatefulSet
	// Done, when set, is closed once nobody waits for the answer any more (the webhook passes
	// its request's deadline). The checks whose cost grows with the cluster stop early, and
	// Evaluate then returns ErrStopped rather than a result computed from part of the facts.
	Done <-chan struct{}
}

// ErrStopped is returned by Evaluate when Facts.Done closed during the evaluation.
var ErrStopped = errors.New("evaluation stopped: the caller's deadline passed")

// stopped reports whether Facts.Done has closed. A nil Done never does: the select takes default.
func (f *Facts) stopped() bool {
	select {
	case <-f.Done:
		return true
	default:
		return false
	}
}

// Request is what is evaluated.
type Request struct {
	// Operation is Create, Update or Background.
	Operation Operation
	// Object is the new object: *appsv1.StatefulSet or *corev1.PersistentVolumeClaim. Read-only.
	Object runtime.Object
	// OldObject is the stored object on Update, of the same type as Object. Read-only.
	OldObject runtime.Object
	// Phase is Admit (the default), Mutate or Validate.
	Phase Phase
}

// Result is the engine's decision about one object.
type Result struct {
	// Policy is the name of the policy that was applied.
	Policy string
	// Action is the policy's enforcement action.
	Action v1alpha1.EnforcementAction
	// Exempt is true when the object opted out in a namespace the policy allows it to.
	Exempt bool
	// Object is a deep copy of the input with the mutations applied. On Background and in the
	// Validate phase it equals the input; on Update it differs only where a stored value was
	// kept.
	Object runtime.Object
	// Patch turns the input into Object (RFC 6902). Empty when nothing changes, and always
	// empty on Background. In the Validate phase it is what the mutating phase would change.
	Patch []jsonpatch.Operation
	// Violations are sorted by field path, then rule.
	Violations []Violation
	// PDB is the PodDisruptionBudget that should exist for a StatefulSet, or nil when none
	// should be created: budgets are off, replicas are below the policy's minimum, or a
	// PodDisruptionBudget among the facts already selects its pods.
	PDB *policyv1.PodDisruptionBudget
}

// Errors returns the violations of error severity.
func (r *Result) Errors() []Violation { return r.filter(SeverityError) }

// Warnings returns the violations of warning severity.
func (r *Result) Warnings() []Violation { return r.filter(SeverityWarning) }

func (r *Result) filter(s Severity) []Violation {
	var out []Violation
	for _, v := range r.Violations {
		if v.Severity == s {
			out = append(out, v)
		}
	}
	return out
}

// StatefulSet returns Object as a StatefulSet, or nil.
func (r *Result) StatefulSet() *appsv1.StatefulSet {
	s, _ := r.Object.(*appsv1.StatefulSet)
	return s
}

// PersistentVolumeClaim returns Object as a PersistentVolumeClaim, or nil.
func (r *Result) PersistentVolumeClaim() *corev1.PersistentVolumeClaim {
	c, _ := r.Object.(*corev1.PersistentVolumeClaim)
	return c
}
