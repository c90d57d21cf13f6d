package webhook

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// A StatefulSet's admission never lists its namespace's StatefulSets, and only the validating
// phase reads the budgets and lists the nodes: the lists a request pays for grow with the cluster.
func TestFactsReadOnlyWhatTheAdmissionNeeds(t *testing.T) {
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "pg"}}
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "data-pg-0"}}
	budget := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "pg"},
		Spec: policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{}}}
	reader := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(
		sts.DeepCopy(), budget, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}).Build()
	c := &CacheCluster{Reader: reader}
	tests := []struct {
		obj               runtime.Object
		phase             policy.Phase
		want              Need
		statefulSets      int
		nodes, nodesKnown bool
		budgets           int
	}{
		{sts, policy.Mutate, NeedNothingElse, 0, false, false, 0},
		{sts, policy.Validate, NeedBudgets | NeedNodes, 0, true, true, 1},
		{claim, policy.Mutate, NeedStatefulSets, 1, false, false, 0},
		{claim, policy.Validate, NeedStatefulSets, 1, false, false, 0},
	}
	for _, tc := range tests {
		got := need(tc.obj, tc.phase)
		if got != tc.want {
			t.Errorf("need(%T, %s) = %d, want %d", tc.obj, tc.phase, got, tc.want)
		}
		f, err := c.Facts(context.Background(), "db", tc.obj, got)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.StatefulSets) != tc.statefulSets || (len(f.Nodes) > 0) != tc.nodes || f.NodesKnown != tc.nodesKnown || len(f.PDBs) != tc.budgets {
			t.Errorf("%T in %s: %d StatefulSets, %d nodes (known %v), %d budgets; want %d, nodes %v, %d budgets", tc.obj, tc.phase,
				len(f.StatefulSets), len(f.Nodes), f.NodesKnown, len(f.PDBs), tc.statefulSets, tc.nodes, tc.budgets)
		}
	}
}

// builderIndexer registers Index's indexes on a fake client being built.
type builderIndexer struct{ b *fake.ClientBuilder }

func (i builderIndexer) IndexField(_ context.Context, obj client.Object, field string, fn client.IndexerFunc) error {
	i.b.WithIndex(obj, field, fn)
	return nil
}

// The indexed cache hands the engine only the budgets and StatefulSets that can matter to an
// object, and the engine's every answer is the same as with the whole namespace: the budget the
// controller wants for each StatefulSet, the violations of each StatefulSet, budget and claim,
// and the budgets' wake-ups. Random namespaces mix selectors on shared and per-pod labels,
// expressions, empty and nil selectors, and claims named like a template's.
func TestIndexedFactsDecideAsTheWholeNamespace(t *testing.T) {
	p := policyfile.Default()
	p.Spec.Storage.Mode = v1alpha1.Enforce // a claim of another class is judged by its maker
	set := policy.NewSet(p)
	ctx := context.Background()
	for seed := uint64(1); seed <= 40; seed++ {
		objs := randomNamespace(rand.New(rand.NewPCG(seed, 7)))
		whole := &CacheCluster{Reader: fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(objs...).Build()}
		b := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(objs...)
		indexed := &CacheCluster{}
		if err := indexed.Index(ctx, builderIndexer{b}); err != nil {
			t.Fatal(err)
		}
		indexed.Reader = b.Build()
		narrowed := 0
		for _, o := range objs {
			in := policy.Input{Operation: policy.Create, Phase: policy.Validate, Object: o}
			need := NeedStatefulSets | NeedBudgets
			if _, ok := o.(*appsv1.StatefulSet); ok {
				in.Operation, in.Phase = policy.Background, policy.Admit
			}
			var decisions [2]policy.Decision
			var sizes [2]int
			for i, c := range []*CacheCluster{whole, indexed} {
				in.Facts = func() (policy.Facts, error) {
					f, err := c.Facts(ctx, "db", o, need)
					sizes[i] = len(f.PDBs) + len(f.StatefulSets)
					return f, err
				}
				d, err := set.Decide(in)
				if err != nil {
					t.Fatalf("seed %d, %s: %v", seed, o.GetName(), err)
				}
				decisions[i] = d
			}
			if sizes[1] < sizes[0] {
				narrowed++
			}
			if w, g := summary(decisions[0]), summary(decisions[1]); w != g {
				t.Errorf("seed %d, %T %s:\nwhole namespace: %s\nindexed:         %s", seed, o, o.GetName(), w, g)
			}
			if pdb, ok := o.(*policyv1.PodDisruptionBudget); ok {
				w, g := concerned(t, whole, pdb), concerned(t, indexed, pdb)
				if !slices.Equal(w, g) {
					t.Errorf("seed %d, budget %s wakes %v with the index, %v without", seed, pdb.Name, g, w)
				}
			}
		}
		if narrowed == 0 {
			t.Errorf("seed %d: the index never handed the engine fewer objects than the namespace", seed)
		}
	}
}

// concerned is the sorted names of the StatefulSets a budget concerns.
func concerned(t *testing.T, c *CacheCluster, pdb *policyv1.PodDisruptionBudget) []string {
	t.Helper()
	sets, err := c.StatefulSetsConcernedBy(context.Background(), pdb)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sets {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return names
}

// summary is a decision in a form that does not depend on the order of the facts.
func summary(d policy.Decision) string {
	if d.Result == nil {
		return fmt.Sprintf("skip=%v no result", d.Skip)
	}
	vs := slices.Clone(d.Result.Violations)
	slices.SortFunc(vs, func(a, b policy.Violation) int {
		return cmp.Or(cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Message, b.Message))
	})
	pdb := "none"
	if p := d.Result.PDB; p != nil {
		pdb = fmt.Sprintf("%s %v", p.Name, p.Spec.Selector)
	}
	return fmt.Sprintf("skip=%v exempt=%v pdb=%s violations=%v", d.Skip, d.Result.Exempt, pdb, vs)
}

func randomNamespace(r *rand.Rand) []client.Object {
	labelKeys := []string{"app", "tier", "app.kubernetes.io/instance", appsv1.StatefulSetPodNameLabel}
	values := []string{"a", "b", "c"}
	someLabels := func(n int) map[string]string {
		l := map[string]string{}
		for range n {
			k := labelKeys[r.IntN(len(labelKeys))]
			if k == appsv1.StatefulSetPodNameLabel {
				l[k] = fmt.Sprintf("x-%d", r.IntN(3))
			} else {
				l[k] = values[r.IntN(len(values))]
			}
		}
		return l
	}
	selector := func() *metav1.LabelSelector {
		switch r.IntN(6) {
		case 0:
			return nil
		case 1:
			return &metav1.LabelSelector{}
		case 2:
			return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: labelKeys[r.IntN(2)], Operator: metav1.LabelSelectorOpIn, Values: values[:1+r.IntN(2)]}}}
		default:
			return &metav1.LabelSelector{MatchLabels: someLabels(1 + r.IntN(2))}
		}
	}
	var objs []client.Object
	nSets := 4 + r.IntN(8)
	for i := range nSets {
		name := fmt.Sprintf("x-%d", i)
		template := someLabels(1 + r.IntN(3))
		templateClass := []string{"standard", "openebs-hostpath"}[r.IntN(2)]
		delete(template, appsv1.StatefulSetPodNameLabel)
		sel := &metav1.LabelSelector{MatchLabels: map[string]string{}}
		for k, v := range template {
			if r.IntN(2) == 0 || len(sel.MatchLabels) == 0 {
				sel.MatchLabels[k] = v
			}
		}
		objs = append(objs, &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: name, UID: types.UID(name)},
			Spec: appsv1.StatefulSetSpec{
				Replicas: ptr.To(int32(1 + r.IntN(5))), Selector: sel,
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: template}},
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"},
					Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &templateClass}}},
			},
		})
		if r.IntN(2) == 0 {
			class := "standard"
			if r.IntN(2) == 0 {
				class = "openebs-hostpath"
			}
			objs = append(objs, &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: fmt.Sprintf("data-%s-%d", name, r.IntN(3))},
				Spec:       corev1.PersistentVolumeClaimSpec{StorageClassName: &class}})
		}
	}
	for i := range 3 + r.IntN(8) {
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: fmt.Sprintf("budget-%d", i)},
			Spec:       policyv1.PodDisruptionBudgetSpec{Selector: selector(), MaxUnavailable: ptr.To(intstr.FromInt32(int32(1 + r.IntN(3))))},
		}
		if r.IntN(4) == 0 { // named as Stowage's budget of a StatefulSet
			pdb.Name = policy.BudgetName(fmt.Sprintf("x-%d", r.IntN(nSets)))
			pdb.Labels = map[string]string{policy.ManagedByLabel: policy.ManagedByValue}
		}
		objs = append(objs, pdb)
	}
	return dedupe(objs)
}

// dedupe keeps the first object of each kind and name.
func dedupe(objs []client.Object) []client.Object {
	seen := map[string]bool{}
	var out []client.Object
	for _, o := range objs {
		k := fmt.Sprintf("%T/%s", o, o.GetName())
		if !seen[k] {
			seen[k] = true
			out = append(out, o)
		}
	}
	return out
}
