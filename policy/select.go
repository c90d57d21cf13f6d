package policy

import (
	"cmp"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// Set is a group of defaulted, validated policies, ready to pick the one that applies to an
// object. It is immutable and safe for concurrent use.
type Set struct {
	entries []entry
	// states and uncertain are set by Compile.
	states    []PolicyState
	uncertain bool
}

type entry struct {
	policy *v1alpha1.PlacementPolicy
	ns     labels.Selector
	obj    labels.Selector
}

// NewSet compiles the policies' selectors. A policy whose selector does not compile is left
// out: validation rejects such policies before they get here.
func NewSet(policies ...*v1alpha1.PlacementPolicy) *Set {
	s := &Set{}
	for _, p := range policies {
		e := entry{policy: p, ns: labels.Everything(), obj: labels.Everything()}
		var err error
		if p.Spec.NamespaceSelector != nil {
			if e.ns, err = metav1.LabelSelectorAsSelector(p.Spec.NamespaceSelector.Meta()); err != nil {
				continue
			}
		}
		if p.Spec.ObjectSelector != nil {
			if e.obj, err = metav1.LabelSelectorAsSelector(p.Spec.ObjectSelector.Meta()); err != nil {
				continue
			}
		}
		s.entries = append(s.entries, e)
	}
	// Highest priority first; the lexically smallest name breaks ties.
	slices.SortFunc(s.entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(b.policy.Spec.Priority, a.policy.Spec.Priority), cmp.Compare(a.policy.Name, b.policy.Name))
	})
	return s
}

// Len returns the number of policies in force in the set.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.entries)
}

// Policies returns the policies in the order Select considers them.
func (s *Set) Policies() []*v1alpha1.PlacementPolicy {
	out := make([]*v1alpha1.PlacementPolicy, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.policy
	}
	return out
}

// Select returns the policy that applies to an object with the given labels in a namespace with
// the given labels, or nil when none does.
func (s *Set) Select(objectLabels, namespaceLabels map[string]string) *v1alpha1.PlacementPolicy {
	for _, e := range s.entries {
		if e.ns.Matches(labels.Set(namespaceLabels)) && e.obj.Matches(labels.Set(objectLabels)) {
			return e.policy
		}
	}
	return nil
}

// NamespaceLabels returns the labels every namespace is known to carry when its real labels are
// not available, as offline: the kubernetes.io/metadata.name label the API server sets.
func NamespaceLabels(namespace string) map[string]string {
	return map[string]string{corev1.LabelMetadataName: namespace}
}

// NamespaceLabelsOf returns a copy of a namespace's labels as the API server keeps them: with
// kubernetes.io/metadata.name set to its name, whatever the object says.
func NamespaceLabelsOf(ns *corev1.Namespace) map[string]string {
	out := make(map[string]string, len(ns.Labels)+1)
	maps.Copy(out, ns.Labels)
	out[corev1.LabelMetadataName] = ns.Name
	return out
}
