package policy

// The one orchestration every entry point shares: which namespaces Stowage acts in, how the
// PlacementPolicies read from a cluster become the set in force (with the last valid version of
// a policy kept when an edit breaks it), and "select the policy, then evaluate, or keep what is
// stored when none applies". The webhook, the budget controller, the audit and `stowage check`
// each make one call to Decide and only adapt its Decision.

import (
	"cmp"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// SystemNamespace reports whether Stowage leaves a namespace alone whatever the policies say:
// the control plane's own namespaces, which the chart's webhook configuration never sends and
// which the audit and `stowage check` skip for the same reason.
func SystemNamespace(ns string) bool {
	switch ns {
	case metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease:
		return true
	}
	return false
}

// PolicyState is what Compile made of one PlacementPolicy.
type PolicyState struct {
	// Name and UID identify the policy.
	Name string
	UID  types.UID
	// Generation is the generation that was compiled.
	Generation int64
	// Problem is the validation error of the current spec, or "" when it is valid.
	Problem string
	// InForce is the defaulted spec that applies: the current one when valid, else the last
	// valid one (from the previous compile or from status.lastValid), else nil: the policy is
	// ignored.
	InForce *v1alpha1.PlacementPolicy
	// LastValidGeneration is the generation InForce comes from.
	LastValidGeneration int64
}

// Valid reports whether the current spec is valid.
func (s PolicyState) Valid() bool { return s.Problem == "" }

// Compile defaults and validates PlacementPolicies as read from a cluster, and returns the set
// in force. It never modifies its input.
//
// An invalid policy does not stop protecting what it protected: its last valid version stays in
// force, taken from previous (the set this replaces, for the same UID) or else from the policy's
// own status.lastValid, which the status controller records. Only a policy that was never valid
// is ignored, and the set then reports Uncertain, so that nothing is deleted on its account.
func Compile(items []v1alpha1.PlacementPolicy, previous *Set) *Set {
	var inForce []*v1alpha1.PlacementPolicy
	states := make([]PolicyState, 0, len(items))
	uncertain := false
	for i := range items {
		p := items[i].DeepCopy()
		st := PolicyState{Name: p.Name, UID: p.UID, Generation: p.Generation}
		v1alpha1.SetDefaults(p)
		if errs := v1alpha1.Validate(p); len(errs) > 0 {
			st.Problem = errs.ToAggregate().Error()
			st.InForce, st.LastValidGeneration = lastValid(&items[i], previous)
		} else {
			p.Status = v1alpha1.PlacementPolicyStatus{}
			st.InForce, st.LastValidGeneration = p, p.Generation
		}
		if st.InForce == nil {
			uncertain = true
		} else {
			inForce = append(inForce, st.InForce)
		}
		states = append(states, st)
	}
	s := NewSet(inForce...)
	s.states, s.uncertain = states, uncertain
	slices.SortFunc(s.states, func(a, b PolicyState) int { return cmp.Compare(a.Name, b.Name) })
	return s
}

// lastValid returns the last valid version of an invalid policy, or nil.
func lastValid(p *v1alpha1.PlacementPolicy, previous *Set) (*v1alpha1.PlacementPolicy, int64) {
	if previous != nil {
		for _, st := range previous.states {
			if st.Name == p.Name && st.UID == p.UID && st.InForce != nil {
				return st.InForce, st.LastValidGeneration
			}
		}
	}
	if lv := p.Status.LastValid; lv != nil && lv.Spec != nil {
		c := &v1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: p.Name, UID: p.UID, Generation: lv.Generation}, Spec: *lv.Spec.DeepCopy()}
		v1alpha1.SetDefaults(c)
		if len(v1alpha1.Validate(c)) == 0 {
			return c, lv.Generation
		}
	}
	return nil, 0
}

// States returns what Compile made of each policy, by name. A set made with NewSet has none.
func (s *Set) States() []PolicyState { return s.states }

// State returns what Compile made of the named policy.
func (s *Set) State(name string) (PolicyState, bool) {
	for _, st := range s.states {
		if st.Name == name {
			return st, true
		}
	}
	return PolicyState{}, false
}

// Uncertain reports whether some policy is ignored because it was never valid. What that
// policy would select is unknown, so nothing may be deleted on the ground that no policy
// selects an object.
func (s *Set) Uncertain() bool { return s.uncertain }

// SameInForce reports whether two sets apply the same policies, so a caller can tell whether a
// rebuild changed anything.
func (s *Set) SameInForce(o *Set) bool {
	if s == nil || o == nil {
		return s == o
	}
	a, b := s.Policies(), o.Policies()
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !apiequality.Semantic.DeepEqual(a[i].Spec, b[i].Spec) {
			return false
		}
	}
	return true
}

// Skip says why a Decision has no evaluation.
type Skip string

const (
	// NotSkipped: a policy applied, or Stowage kept what it stored.
	NotSkipped Skip = ""
	// SkipSystemNamespace: the object is in kube-system, kube-public or kube-node-lease.
	SkipSystemNamespace Skip = "SystemNamespace"
	// SkipNoPolicy: no policy selects the object.
	SkipNoPolicy Skip = "NoPolicy"
)

// Input is one object to decide on.
type Input struct {
	// Operation, Phase, Object and OldObject are as in Request.
	Operation Operation
	Phase     Phase
	Object    runtime.Object
	OldObject runtime.Object
	// NamespaceLabels are the labels of the object's namespace; nil means only the name is
	// known (the kubernetes.io/metadata.name label the API server sets).
	NamespaceLabels map[string]string
	// Facts loads the facts, and is called only when a policy applies. Nil means no facts:
	// nodes unknown, no budgets.
	Facts func() (Facts, error)
}

// Decision is what Decide found.
type Decision struct {
	// Policy is the policy in force that selects the object, or nil.
	Policy *v1alpha1.PlacementPolicy
	// Result is the engine's result: under Policy, or, on an Update no policy applies to in the
	// Admit or Mutate phase, what keeps the stored values (KeepStored). Nil when skipped.
	Result *Result
	// Skip says why there is no evaluation under a policy.
	Skip Skip
	// Uncertain is set when no policy selects the object but a policy that was never valid is
	// ignored: it might have. Never delete anything on such a decision.
	Uncertain bool
}

// Decide selects the policy for an object and evaluates it, the same way for every entry point.
func (s *Set) Decide(in Input) (Decision, error) {
	m, ok := in.Object.(metav1.Object)
	if !ok || m == nil {
		return Decision{}, fmt.Errorf("unsupported object %T", in.Object)
	}
	if SystemNamespace(m.GetNamespace()) {
		return Decision{Skip: SkipSystemNamespace}, nil
	}
	nsLabels := in.NamespaceLabels
	if nsLabels == nil {
		nsLabels = NamespaceLabels(m.GetNamespace())
	}
	if pdb, ok := in.Object.(*policyv1.PodDisruptionBudget); ok {
		return s.decideBudget(in, pdb, nsLabels)
	}
	req := Request{Operation: in.Operation, Phase: in.Phase, Object: in.Object, OldObject: in.OldObject}
	var p *v1alpha1.PlacementPolicy
	if s != nil {
		p = s.Select(m.GetLabels(), nsLabels)
	}
	if p == nil {
		d := Decision{Skip: SkipNoPolicy, Uncertain: s != nil && s.uncertain}
		if in.Operation == Update && in.Phase != Validate {
			// No policy applies now, but what Stowage filled in before must survive a re-apply.
			res, err := KeepStored(req)
			if err != nil {
				return d, err
			}
			d.Result = res
		}
		return d, nil
	}
	var facts Facts
	if in.Facts != nil {
		var err error
		if facts, err = in.Facts(); err != nil {
			return Decision{Policy: p}, fmt.Errorf("reading cluster facts: %w", err)
		}
	}
	if facts.NamespaceLabels == nil && in.NamespaceLabels != nil {
		facts.NamespaceLabels = in.NamespaceLabels
	}
	res, err := Evaluate(req, p, facts)
	if err != nil {
		return Decision{Policy: p}, err
	}
	return Decision{Policy: p, Result: res}, nil
}

// decideBudget judges a PodDisruptionBudget being written against every StatefulSet of its
// namespace whose pods it selects, each under the policy that selects that StatefulSet
// (DisruptionBudgetTooLoose). Nothing is mutated. The Decision's policy is the one behind the
// first violation, or the first that applies to a StatefulSet whose pods the budget selects; a
// budget over no such StatefulSet is skipped (SkipNoPolicy), whatever else the namespace holds.
func (s *Set) decideBudget(in Input, pdb *policyv1.PodDisruptionBudget, nsLabels map[string]string) (Decision, error) {
	d := Decision{Skip: SkipNoPolicy, Uncertain: s != nil && s.uncertain}
	if s == nil || s.Len() == 0 || in.Phase == Mutate || in.Facts == nil {
		return d, nil
	}
	old, _ := in.OldObject.(*policyv1.PodDisruptionBudget)
	if in.Operation == Update && old == nil {
		return d, fmt.Errorf("update of a PodDisruptionBudget needs the old one, got %T", in.OldObject)
	}
	facts, err := in.Facts()
	if err != nil {
		return d, fmt.Errorf("reading cluster facts: %w", err)
	}
	res := &Result{Object: pdb.DeepCopy()}
	for _, sts := range facts.StatefulSets {
		if sts.Namespace != pdb.Namespace || SystemNamespace(sts.Namespace) || !selectsPods(pdb.Spec.Selector, sts.Spec.Template.Labels) {
			continue // a budget over none of its pods cannot be too loose for it
		}
		p := s.Select(sts.Labels, nsLabels)
		if p == nil {
			continue
		}
		if exempt, _ := optOut(sts, p); exempt {
			continue
		}
		vs := judgeBudget(pdb, old, sts, p)
		if d.Policy == nil || len(vs) > 0 && len(res.Violations) == 0 {
			d.Policy, res.Policy, res.Action = p, p.Name, p.Spec.EnforcementAction
		}
		res.Violations = append(res.Violations, vs...)
	}
	if d.Policy == nil {
		return d, nil
	}
	d.Skip, d.Result = NotSkipped, res
	return d, nil
}
