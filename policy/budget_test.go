package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

func TestDesiredBudget(t *testing.T) {
	one := intstr.FromInt32(1)
	always := policyv1.AlwaysAllow
	want := &policyv1.PodDisruptionBudget{
		TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "db-stowage", Namespace: "data",
			Labels:      map[string]string{ManagedByLabel: ManagedByValue, StatefulSetLabel: "db"},
			Annotations: map[string]string{PolicyAnnotation: "default"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: "uid-1",
				Controller: ptrTo(true), BlockOwnerDeletion: ptrTo(true)}},
		},
		Spec: policyv1.PodDisruptionBudgetSpec{
			Selector:                   ownTerm().LabelSelector,
			MaxUnavailable:             &one,
			UnhealthyPodEvictionPolicy: &always,
		},
	}
	withUID := func(s *appsv1.StatefulSet) { s.UID = types.UID("uid-1") }
	ours := budget("db-stowage", func(b *policyv1.PodDisruptionBudget) {
		b.Labels = map[string]string{ManagedByLabel: ManagedByValue}
	})
	tests := []struct {
		name   string
		sts    *appsv1.StatefulSet
		pdbs   []*policyv1.PodDisruptionBudget
		policy *v1alpha1.PlacementPolicy
		want   *policyv1.PodDisruptionBudget
	}{
		{"3 replicas, no budget → ours, owned by the StatefulSet", statefulSet(withUID), nil, nil, want},
		{"3 replicas, chart's budget selects the pods → none", statefulSet(withUID), []*policyv1.PodDisruptionBudget{budget("chart")}, nil, nil},
		{"3 replicas, only our own budget exists → still wanted, so drift is repaired", statefulSet(withUID), []*policyv1.PodDisruptionBudget{ours}, nil, want},
		{"3 replicas, a budget for other pods → ours", statefulSet(withUID), []*policyv1.PodDisruptionBudget{budget("cache", func(b *policyv1.PodDisruptionBudget) {
			b.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cache"}}
		})}, nil, want},
		{"3 replicas, a matching budget in another namespace → ours", statefulSet(withUID), []*policyv1.PodDisruptionBudget{budget("chart", func(b *policyv1.PodDisruptionBudget) { b.Namespace = "other" })}, nil, want},
		{"1 replica, below the minimum of 2 → none", statefulSet(withUID, replicas(1)), nil, nil, nil},
		{"budgets disabled → none", statefulSet(withUID), nil, testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.DisruptionBudget.Mode = v1alpha1.Disabled }), nil},
		{"offline object without a UID → no owner reference", statefulSet(), nil, nil, func() *policyv1.PodDisruptionBudget {
			w := want.DeepCopy()
			w.OwnerReferences = nil
			return w
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == nil {
				p = testPolicy()
			}
			res := create(t, tc.sts, p, Facts{PDBs: tc.pdbs})
			if diff := cmp.Diff(tc.want, res.PDB); diff != "" {
				t.Errorf("budget (-want +got):\n%s", diff)
			}
		})
	}
}

// budgetCase is a StatefulSet created beside some budgets, and the violations expected, as
// budgetHits gives them.
type budgetCase struct {
	name string
	sts  *appsv1.StatefulSet
	pdbs []*policyv1.PodDisruptionBudget
	want []string
}

// runBudgetCases creates each case's StatefulSet under the test policy and compares the
// violations; every budget a violation lists must be named in its message.
func runBudgetCases(t *testing.T, tests []budgetCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := create(t, tc.sts, testPolicy(), Facts{PDBs: tc.pdbs})
			if diff := cmp.Diff(tc.want, budgetHits(res.Violations)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
			for _, v := range res.Violations {
				for _, name := range v.Budgets {
					if !strings.Contains(v.Message, name) {
						t.Errorf("%s: the message does not name budget %s: %s", v.Rule, name, v.Message)
					}
				}
			}
		})
	}
}

// budgetHits is ruleHits with the budgets each violation names.
func budgetHits(vs []Violation) []string {
	out := ruleHits(vs)
	for i, v := range vs {
		out[i] += " [" + strings.Join(v.Budgets, " ") + "]"
	}
	return out
}

func TestBudgetName(t *testing.T) {
	long := make([]byte, 260)
	for i := range long {
		long[i] = 'a'
	}
	if got := BudgetName("db"); got != "db-stowage" {
		t.Errorf("BudgetName(db) = %q", got)
	}
	a, b := BudgetName(string(long)), BudgetName(string(long[:259])+"b")
	if len(a) > 253 || a == b || !strings.HasSuffix(a, "-stowage") {
		t.Errorf("BudgetName of two long names sharing a prefix: %q and %q", a, b)
	}
	dotted := strings.Repeat("a", 235) + "." + strings.Repeat("b", 20)
	if got := BudgetName(dotted); len(validation.IsDNS1123Subdomain(got)) > 0 {
		t.Errorf("BudgetName(%q) = %q is not a valid name", dotted, got)
	}
}
