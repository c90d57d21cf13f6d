package controllers

import (
	"context"
	"errors"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
	"github.com/stowage-dev/stowage/webhook"
)

const configName = "stowage"

// webhookConfig excludes the release namespace, as the chart renders it.
func webhookConfig() *admissionregistrationv1.ValidatingWebhookConfiguration {
	sel := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "stowage-system"}}}}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: configName},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{{Name: "validate.stowage.dev", NamespaceSelector: sel}},
	}
}

func namespaceObj(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelMetadataName: name}}}
}

func statefulSet(ns, name string) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "-" + name)},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "db"}}},
			},
		},
	}
}

func newFakeClient(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
}

func newReconciler(c client.Client) *BudgetReconciler {
	return &BudgetReconciler{Client: c, Cluster: &webhook.CacheCluster{Reader: c}, Scope: &NamespaceScope{Reader: c, ConfigName: configName}}
}

// reconcileOnce runs one pass for a StatefulSet and reports whether Stowage's budget exists after.
func reconcileOnce(t *testing.T, r *BudgetReconciler, ns, name string) bool {
	t.Helper()
	ctx := context.Background()
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}); err != nil {
		t.Fatalf("reconcile %s/%s: %v", ns, name, err)
	}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: policy.BudgetName(name)}, &policyv1.PodDisruptionBudget{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// Deleting the ValidatingWebhookConfiguration, the usual break-glass step, must never widen the
// controller's reach (issue 9 item 6): the release namespace stays out of scope, and budgets in
// scope are neither deleted nor left unmade.
func TestDeletedWebhookConfigurationNeverWidensScope(t *testing.T) {
	ctx := context.Background()
	c := newFakeClient(t, webhookConfig(), namespaceObj("apps"), namespaceObj("stowage-system"), policyfile.Default(),
		statefulSet("apps", "db"), statefulSet("stowage-system", "db"))
	r := newReconciler(c)

	if !reconcileOnce(t, r, "apps", "db") {
		t.Fatal("no budget in a covered namespace")
	}
	if reconcileOnce(t, r, "stowage-system", "db") {
		t.Fatal("a budget in the excluded release namespace")
	}

	if err := c.Delete(ctx, webhookConfig()); err != nil {
		t.Fatal(err)
	}
	if reconcileOnce(t, r, "stowage-system", "db") {
		t.Error("after the configuration was deleted, the excluded release namespace got a budget")
	}
	if !reconcileOnce(t, r, "apps", "db") {
		t.Error("after the configuration was deleted, the budget in a covered namespace was deleted")
	}
	// New StatefulSets follow the last scope seen.
	for _, s := range []*appsv1.StatefulSet{statefulSet("apps", "new"), statefulSet("stowage-system", "new")} {
		if err := c.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if !reconcileOnce(t, r, "apps", "new") {
		t.Error("a new StatefulSet in a covered namespace got no budget under the last scope seen")
	}
	if reconcileOnce(t, r, "stowage-system", "new") {
		t.Error("a new StatefulSet in the excluded namespace got a budget after the configuration was deleted")
	}

	// A process that never saw the configuration (a restart or a new leader after the deletion)
	// acts nowhere: it neither creates nor deletes.
	fresh := newReconciler(c)
	if !reconcileOnce(t, fresh, "apps", "db") {
		t.Error("a controller that never saw the configuration deleted a budget")
	}
	if reconcileOnce(t, fresh, "stowage-system", "db") {
		t.Error("a controller that never saw the configuration made a budget in the excluded namespace")
	}
	if err := c.Create(ctx, statefulSet("apps", "unseen")); err != nil {
		t.Fatal(err)
	}
	if reconcileOnce(t, fresh, "apps", "unseen") {
		t.Error("a controller that never saw the configuration made a budget")
	}
	if _, err := fresh.Scope.Covers(ctx, map[string]string{corev1.LabelMetadataName: "apps"}); !errors.Is(err, ErrScopeUnknown) {
		t.Errorf("Covers without a configuration ever seen = %v, want ErrScopeUnknown", err)
	}

	// The configuration coming back restores the scope it states.
	if err := c.Create(ctx, webhookConfig()); err != nil {
		t.Fatal(err)
	}
	if !reconcileOnce(t, fresh, "apps", "unseen") {
		t.Error("the restored configuration did not bring the budget")
	}
}

// Without a configuration name (a local run that installs none) every namespace is in scope.
func TestScopeWithoutConfigurationNameCoversAll(t *testing.T) {
	s := &NamespaceScope{Reader: newFakeClient(t)}
	if in, err := s.Covers(context.Background(), map[string]string{corev1.LabelMetadataName: "anything"}); err != nil || !in {
		t.Errorf("Covers = %v, %v", in, err)
	}
}
