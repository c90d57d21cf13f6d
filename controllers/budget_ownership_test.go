package controllers

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/webhook"
)

// The ownership rule: the controller creates a budget where none is, and afterwards touches
// only a budget this StatefulSet controls (owner reference with its UID). It repairs that
// budget's spec and its own metadata and keeps what others added; every other budget of the
// same name, `stowage check --fix`'s included, is left exactly as it is.
func TestBudgetOwnership(t *testing.T) {
	podLabels := map[string]string{"app.kubernetes.io/name": "galera", "app.kubernetes.io/instance": "db"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "galera", Namespace: "data", UID: "uid-sts"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: podLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "mariadb:11"}}},
			},
		},
	}
	name := policy.BudgetName(sts.Name)
	key := types.NamespacedName{Namespace: sts.Namespace, Name: name}
	controller := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: sts.Name, UID: sts.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
	budget := func(maxUnavailable int, labels, annotations map[string]string, owners ...metav1.OwnerReference) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: sts.Namespace, Labels: labels, Annotations: annotations, OwnerReferences: owners},
			Spec: policyv1.PodDisruptionBudgetSpec{
				Selector:       sts.Spec.Selector.DeepCopy(),
				MaxUnavailable: ptr.To(intstr.FromInt32(int32(maxUnavailable))),
			},
		}
	}
	// What `stowage check --fix` writes: Stowage's name and managed-by label, no owner reference.
	fixLabels := map[string]string{policy.ManagedByLabel: policy.ManagedByValue, "argocd.argoproj.io/instance": "databases"}
	gitopsAnnotations := map[string]string{"argocd.argoproj.io/tracking-id": "databases:policy/PodDisruptionBudget:data/x"}

	for _, tc := range []struct {
		name     string
		existing *policyv1.PodDisruptionBudget
		// check inspects the budget after one reconcile; nil means it must be exactly as it was.
		check func(t *testing.T, got *policyv1.PodDisruptionBudget)
	}{
		{"no budget → Stowage's is created, controlled by the StatefulSet", nil, func(t *testing.T, got *policyv1.PodDisruptionBudget) {
			if got == nil {
				t.Fatal("no budget created")
			}
			if !metav1.IsControlledBy(got, sts) || got.Labels[policy.ManagedByLabel] != policy.ManagedByValue {
				t.Errorf("created budget is not controlled by the StatefulSet or lacks the managed-by label: %+v", got.ObjectMeta)
			}
		}},
		{"budget written by check --fix (no owner reference), other spec → left alone, not adopted",
			budget(2, fixLabels, gitopsAnnotations), nil},
		{"budget controlled by an earlier StatefulSet of the same name → left alone (garbage collection removes it)",
			budget(2, fixLabels, nil, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: sts.Name, UID: "uid-old", Controller: ptr.To(true)}), nil},
		{"budget that only names the StatefulSet as a non-controlling owner → left alone",
			budget(2, fixLabels, nil, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: sts.Name, UID: sts.UID}), nil},
		{"Stowage's budget drifted, with others' labels, annotations and owner → spec repaired, others' metadata kept",
			budget(2, map[string]string{"team": "dba", policy.ManagedByLabel: policy.ManagedByValue}, map[string]string{"note": "keep me"}, controller,
				metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "Database", Name: "galera", UID: "uid-db"}),
			func(t *testing.T, got *policyv1.PodDisruptionBudget) {
				if got.Spec.MaxUnavailable == nil || got.Spec.MaxUnavailable.IntValue() != 1 {
					t.Errorf("spec not repaired: maxUnavailable %v, want 1", got.Spec.MaxUnavailable)
				}
				if got.Labels["team"] != "dba" || got.Labels[policy.StatefulSetLabel] != sts.Name {
					t.Errorf("labels %v: want others' kept and Stowage's added", got.Labels)
				}
				if got.Annotations["note"] != "keep me" || got.Annotations[policy.PolicyAnnotation] == "" {
					t.Errorf("annotations %v: want others' kept and Stowage's added", got.Annotations)
				}
				if len(got.OwnerReferences) != 2 || !metav1.IsControlledBy(got, sts) {
					t.Errorf("owner references %+v: want the Database's kept and the StatefulSet's as controller", got.OwnerReferences)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policyfile.Default()
			objs := []client.Object{sts.DeepCopy(), p, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sts.Namespace}}}
			if tc.existing != nil {
				objs = append(objs, tc.existing.DeepCopy())
			}
			c := newFakeClient(t, objs...)
			r := &BudgetReconciler{Client: c, Cluster: &webhook.CacheCluster{Reader: c}}
			if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: sts.Namespace, Name: sts.Name}}); err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			var got *policyv1.PodDisruptionBudget
			pdb := &policyv1.PodDisruptionBudget{}
			switch err := c.Get(context.Background(), key, pdb); {
			case apierrors.IsNotFound(err):
			case err != nil:
				t.Fatal(err)
			default:
				got = pdb
			}
			if tc.check != nil {
				tc.check(t, got)
				return
			}
			if got == nil {
				t.Fatal("the budget was deleted")
			}
			want := tc.existing
			if diff := cmp.Diff(want.Spec, got.Spec); diff != "" {
				t.Errorf("spec changed (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff([]any{want.Labels, want.Annotations, want.OwnerReferences}, []any{got.Labels, got.Annotations, got.OwnerReferences}); diff != "" {
				t.Errorf("metadata changed (-before +after):\n%s", diff)
			}
		})
	}
}
