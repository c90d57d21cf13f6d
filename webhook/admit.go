package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// Cluster is what the admitter knows about the cluster. The server implements it over informer
// caches: nothing on the request path may make a live API call.
type Cluster interface {
	// Policies returns the valid policies in force. An empty set admits everything unchanged.
	Policies() *policy.Set
	// NamespaceLabels returns the labels of a namespace.
	NamespaceLabels(ctx context.Context, namespace string) (map[string]string, error)
	// Facts returns the facts the engine needs for an object in the namespace: the default
	// StorageClass, and what need asks for besides.
	Facts(ctx context.Context, namespace string, obj runtime.Object, need Need) (policy.Facts, error)
	// StatefulSet returns a stored StatefulSet, for requests on its scale subresource.
	StatefulSet(ctx context.Context, namespace, name string) (*appsv1.StatefulSet, error)
}

// Need says which facts an admission needs besides the default StorageClass.
type Need uint8

const (
	// NeedNothingElse: the mutating phase patches a StatefulSet without judging its budgets or
	// its capacity (its patch depends on neither).
	NeedNothingElse Need = 0
	// NeedStatefulSets: the StatefulSets of the namespace that can matter to the object: the
	// one that may have made a claim from a template, those whose pods a budget (written, or
	// kept by the controller) selects.
	NeedStatefulSets Need = 1 << iota
	// NeedNodes: the validating phase judges a StatefulSet's capacity on the nodes.
	NeedNodes
	// NeedBudgets: the budgets that can select a StatefulSet's pods (the budget rules, and the
	// budget the controller keeps).
	NeedBudgets
)

// need is what an object's admission needs in a phase. A StatefulSet never needs its
// namespace's StatefulSets: SelectorOverlap is reported by check, the audit and the budget
// controller's narrowing instead.
func need(obj runtime.Object, phase policy.Phase) Need {
	if _, ok := obj.(*appsv1.StatefulSet); !ok {
		return NeedStatefulSets
	}
	if phase == policy.Mutate {
		return NeedNothingElse
	}
	return NeedBudgets | NeedNodes
}

// Admitter adapts admission requests to the policy engine and its results to responses.
type Admitter struct {
	Cluster Cluster
}

// decision summarises an answer for metrics and logs.
type decision struct {
	policy     string
	action     v1alpha1.EnforcementAction
	violations []policy.Violation
	mutated    bool
	denied     bool
	exempt     bool
	errored    bool
	// advisory is set for an operator custom resource: its violations are only warned about.
	advisory bool
}

var (
	statefulSetsGVR = metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	claimsGVR       = metav1.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
	budgetsGVR      = metav1.GroupVersionResource{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"}
	budgetGK        = schema.GroupKind{Group: "policy", Kind: "PodDisruptionBudget"}
	statefulSetGK   = schema.GroupKind{Group: "apps", Kind: "StatefulSet"}
	claimGK         = schema.GroupKind{Kind: "PersistentVolumeClaim"}
)

func allowed() *admissionv1.AdmissionResponse { return &admissionv1.AdmissionResponse{Allowed: true} }

// Mutate answers the mutating endpoint. On CREATE it returns the policy's patch; on UPDATE only
// what keeps the stored object's values where a re-applied manifest would undo Stowage's work.
// It never rejects; the validating endpoint, which runs after every mutator, is the only place
// that does.
func (a *Admitter) Mutate(ctx context.Context, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, *decision) {
	d := &decision{}
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update || req.SubResource != "" {
		return allowed(), d
	}
	obj, gk, ok := decodeObject(req.Resource, req.Object)
	if !ok {
		return unsupported(req), d
	}
	op := policy.Create
	var old runtime.Object
	if req.Operation == admissionv1.Update {
		op = policy.Update
		old, _, _ = decodeObject(req.Resource, req.OldObject)
	}
	if obj == nil || op == policy.Update && old == nil {
		// An object the API server could decode but we cannot is a bug here, not in the
		// request; admit it unchanged and let the validating endpoint say what is wrong.
		logr.FromContextOrDiscard(ctx).Error(nil, "cannot decode the object; admitting it unchanged", "kind", gk.Kind)
		d.errored = true
		return allowed(), d
	}
	setNamespace(obj, req.Namespace)
	if old != nil {
		setNamespace(old, req.Namespace)
	}
	res, p, err := a.evaluate(ctx, op, policy.Mutate, obj, old, req.Namespace)
	if err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "evaluation failed; admitting unchanged")
		d.errored = true
		return allowed(), d
	}
	resp := allowed()
	if res == nil {
		return resp, d
	}
	if p == nil {
		p = &v1alpha1.PlacementPolicy{} // no policy applies: only what keeps the stored values
	}
	d.policy, d.action, d.exempt = p.Name, p.Spec.EnforcementAction, res.Exempt
	if len(res.Patch) > 0 {
		ops := res.Patch
		if op == policy.Update {
			ops = append(ops, keepStoredManagedFields(res.Object, old)...)
		}
		patch, err := json.Marshal(ops)
		if err != nil {
			logr.FromContextOrDiscard(ctx).Error(err, "encoding the patch; admitting unchanged")
			d.errored = true
			return resp, d
		}
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = patch, &pt
		d.mutated = true
		logr.FromContextOrDiscard(ctx).V(4).Info("mutating", "policy", p.Name, "operations", len(res.Patch))
	}
	return resp, d
}

// Validate answers the validating endpoint. A CREATE is judged as it will be stored, after every
// mutator; an UPDATE (including a change of replicas through the scale subresource) against
// the stored object, so that only what it makes worse is rejected. Where the mutating endpoint
// would still have changed the object, it did not run on this request (it fails open), and the
// denial says so. An operator custom resource is never denied (see adviseCustomResource).
func (a *Admitter) Validate(ctx context.Context, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, *decision) {
	if k := customKind(req); k != nil {
		return a.adviseCustomResource(ctx, req, k)
	}
	d := &decision{}
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
	default:
		return allowed(), d // DELETE and CONNECT are never decoded
	}
	var obj, old runtime.Object
	var gk schema.GroupKind
	op := policy.Create
	switch {
	case req.SubResource == "scale" && req.Resource == statefulSetsGVR:
		if req.Operation != admissionv1.Update {
			return allowed(), d
		}
		var err error
		obj, old, err = a.scaled(ctx, req)
		if err != nil {
			return errored(http.StatusBadRequest, err), d
		}
		if obj == nil {
			return allowed(), d
		}
		gk, op = statefulSetGK, policy.Update
	case req.SubResource != "":
		return allowed(), d
	default:
		var ok bool
		obj, gk, ok = decodeObject(req.Resource, req.Object)
		if !ok {
			return unsupported(req), d
		}
		if obj == nil {
			return errored(http.StatusBadRequest, fmt.Errorf("cannot decode the %s in the request", gk.Kind)), d
		}
		if req.Operation == admissionv1.Update {
			old, _, _ = decodeObject(req.Resource, req.OldObject)
			if old == nil {
				return errored(http.StatusBadRequest, fmt.Errorf("cannot decode the old %s in the request", gk.Kind)), d
			}
			op = policy.Update
		}
	}
	setNamespace(obj, req.Namespace)
	if old != nil {
		setNamespace(old, req.Namespace)
	}
	if m, ok := obj.(metav1.Object); ok && m.GetDeletionTimestamp() != nil {
		return allowed(), d // an object on its way out is not placed again
	}
	res, p, err := a.evaluate(ctx, op, policy.Validate, obj, old, req.Namespace)
	if err != nil {
		d.errored = true
		return errored(http.StatusInternalServerError, err), d
	}
	if res == nil {
		return allowed(), d
	}
	d.policy, d.action, d.exempt, d.violations = p.Name, p.Spec.EnforcementAction, res.Exempt, res.Violations
	resp := allowed()
	log := logr.FromContextOrDiscard(ctx)
	if p.Spec.EnforcementAction != v1alpha1.Audit {
		for _, v := range res.Warnings() {
			resp.Warnings = append(resp.Warnings, fmt.Sprintf("%s: %s [stowage rule %s, policy %s]", v.Field, v.Message, v.Rule, p.Name))
		}
	}
	if errs := res.Errors(); len(errs) > 0 {
		var fieldErrs field.ErrorList
		rules := make([]string, 0, len(errs))
		for _, v := range errs {
			fieldErrs = append(fieldErrs, field.Forbidden(v.Field, fmt.Sprintf("%s [stowage rule %s, policy %s]", v.Message, v.Rule, p.Name)))
			rules = append(rules, string(v.Rule))
		}
		status := apierrors.NewInvalid(gk, req.Name, fieldErrs).ErrStatus
		resp.Allowed, resp.Result = false, &status
		d.denied = true
		log.V(1).Info("denied", "policy", p.Name, "rules", strings.Join(rules, ","))
	} else if len(res.Violations) > 0 {
		log.V(1).Info("admitted with violations", "policy", p.Name, "action", p.Spec.EnforcementAction, "violations", len(res.Violations))
	}
	return resp, d
}

// evaluate makes the engine's one decision. It returns a nil result when nothing applies, and a
// nil policy with a result when no policy applies but the stored values are kept.
func (a *Admitter) evaluate(ctx context.Context, op policy.Operation, phase policy.Phase, obj, old runtime.Object, ns string) (*policy.Result, *v1alpha1.PlacementPolicy, error) {
	labels, err := a.Cluster.NamespaceLabels(ctx, ns)
	if err != nil {
		labels = nil // a namespace created a moment ago may not be cached yet: its name is known
	}
	d, err := a.Cluster.Policies().Decide(policy.Input{
		Operation: op, Phase: phase, Object: obj, OldObject: old, NamespaceLabels: labels,
		Facts: func() (policy.Facts, error) { return a.Cluster.Facts(ctx, ns, obj, need(obj, phase)) },
	})
	if err != nil {
		return nil, nil, err
	}
	return d.Result, d.Policy, nil
}

// keepStoredManagedFields makes an update that only re-adds what Stowage stored a no-op at the
// API server. The API server's field manager runs before mutating admission: a client that
// drops Stowage's term (helm's `podAntiAffinity: null`, a replace, an operator's rewrite) has
// the term taken out of the managedFields, and the entry re-stamped, before Stowage puts the term
// back. The object is then stored again, with a new resourceVersion, though nothing but that
// bookkeeping changed. When the mutated object equals the stored one in everything but its
// managedFields, the stored managedFields are put back too, so the API server sees no change
// and writes nothing. In any other case the API server's own record stands.
func keepStoredManagedFields(mutated, old runtime.Object) []jsonpatch.Operation {
	m, ok1 := mutated.(metav1.Object)
	o, ok2 := old.(metav1.Object)
	if !ok1 || !ok2 || len(o.GetManagedFields()) == 0 || apiequality.Semantic.DeepEqual(m.GetManagedFields(), o.GetManagedFields()) {
		return nil
	}
	a, b := mutated.DeepCopyObject(), old.DeepCopyObject()
	a.(metav1.Object).SetManagedFields(nil)
	b.(metav1.Object).SetManagedFields(nil)
	if !apiequality.Semantic.DeepEqual(a, b) {
		return nil
	}
	return []jsonpatch.Operation{jsonpatch.NewOperation("add", "/metadata/managedFields", o.GetManagedFields())}
}

// scaled turns a scale subresource update into the StatefulSet before and after it.
func (a *Admitter) scaled(ctx context.Context, req *admissionv1.AdmissionRequest) (runtime.Object, runtime.Object, error) {
	var scale, oldScale autoscalingv1.Scale
	if err := decodeJSON(req.Object.Raw, &scale); err != nil {
		return nil, nil, fmt.Errorf("cannot decode the Scale in the request: %w", err)
	}
	if len(req.OldObject.Raw) > 0 {
		if err := decodeJSON(req.OldObject.Raw, &oldScale); err != nil {
			return nil, nil, fmt.Errorf("cannot decode the old Scale in the request: %w", err)
		}
	}
	stored, err := a.Cluster.StatefulSet(ctx, req.Namespace, req.Name)
	if err != nil || stored == nil {
		// Not cached yet: the API server has it, we do not; let the scale through.
		logr.FromContextOrDiscard(ctx).Info("StatefulSet not in the cache; scale admitted unchecked")
		return nil, nil, nil
	}
	after, before := stored.DeepCopy(), stored.DeepCopy()
	after.Spec.Replicas = &scale.Spec.Replicas
	if len(req.OldObject.Raw) > 0 {
		before.Spec.Replicas = &oldScale.Spec.Replicas
	}
	return after, before, nil
}

// decodeObject decodes the object of a request on a resource Stowage handles, or takes the one
// decodeReview already decoded. ok is false for any other resource; obj is nil when the bytes do
// not decode.
func decodeObject(gvr metav1.GroupVersionResource, ext runtime.RawExtension) (obj runtime.Object, gk schema.GroupKind, ok bool) {
	switch gvr {
	case statefulSetsGVR:
		obj, gk = &appsv1.StatefulSet{}, statefulSetGK
	case claimsGVR:
		obj, gk = &corev1.PersistentVolumeClaim{}, claimGK
	case budgetsGVR:
		obj, gk = &policyv1.PodDisruptionBudget{}, budgetGK
	default:
		return nil, schema.GroupKind{}, false
	}
	if ext.Object != nil {
		if reflect.TypeOf(ext.Object) != reflect.TypeOf(obj) {
			return nil, gk, true
		}
		return ext.Object, gk, true
	}
	if len(ext.Raw) == 0 || decodeJSON(ext.Raw, obj) != nil {
		return nil, gk, true
	}
	return obj, gk, true
}

func setNamespace(obj runtime.Object, ns string) {
	if m, ok := obj.(metav1.Object); ok && m.GetNamespace() == "" {
		m.SetNamespace(ns)
	}
}

func unsupported(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	r := allowed()
	r.Warnings = []string{fmt.Sprintf("stowage does not handle %s %s; the webhook configuration should not send it here",
		req.Resource.Group+"/"+req.Resource.Version, req.Resource.Resource)}
	return r
}

func errored(code int32, err error) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: code, Reason: metav1.StatusReasonBadRequest, Message: err.Error(),
	}}
}
