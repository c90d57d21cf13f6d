package collect

import (
	"context"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

func pod(ns, name, ownerKind string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}}}
	if ownerKind != "" {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: ownerKind, Name: "x", Controller: ptr.To(true)}}
	}
	return p
}

func names[T metav1.Object](objs []T) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, o.GetNamespace()+"/"+o.GetName())
	}
	return out
}

// paginate makes the fake clientset answer pod lists in pages of two, as an API server with
// limit and continue does, and records the options it was asked with.
func paginate(cs *fake.Clientset, pods []*corev1.Pod, asked *[]metav1.ListOptions) {
	cs.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		opts := a.(k8stesting.ListActionImpl).ListOptions
		*asked = append(*asked, opts)
		start := 0
		if opts.Continue != "" {
			start, _ = strconv.Atoi(opts.Continue)
		}
		end := min(start+2, len(pods))
		l := &corev1.PodList{}
		for _, p := range pods[start:end] {
			l.Items = append(l.Items, *p.DeepCopy())
		}
		if end < len(pods) {
			l.Continue = strconv.Itoa(end)
		}
		return true, l, nil
	})
}

func TestCollect(t *testing.T) {
	pods := []*corev1.Pod{
		pod("db", "pg-0", "StatefulSet"), pod("db", "web-abc", "ReplicaSet"), pod("db", "pg-1", "StatefulSet"),
		pod("db", "bare", ""), pod("db", "pg-2", "StatefulSet"),
	}
	cs := fake.NewClientset(
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "pg", Labels: map[string]string{"audit": "yes"}}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "other"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "db", Labels: map[string]string{"team": "data"}}},
	)
	var asked []metav1.ListOptions
	paginate(cs, pods, &asked)

	scheme := runtime.NewScheme()
	policy := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "stowage.dev/v1alpha1", "kind": "PlacementPolicy",
		"metadata": map[string]any{"name": "strict"},
		"spec":     map[string]any{"priority": int64(5), "enforcementAction": "Warn"},
	}}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme,
		map[schema.GroupVersionResource]string{PlacementPolicies: "PlacementPolicyList"}, policy)

	snap, err := Collect(context.Background(), cs, dyn, "db", "audit=yes")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"db/pg"}, names(snap.StatefulSets)); diff != "" {
		t.Errorf("statefulsets, by selector (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"db/pg-0", "db/pg-1", "db/pg-2"}, names(snap.Pods)); diff != "" {
		t.Errorf("pods owned by statefulsets (-want +got):\n%s", diff)
	}
	for _, p := range snap.Pods {
		if p.ManagedFields != nil {
			t.Errorf("%s kept its managed fields", p.Name)
		}
	}
	if len(asked) != 3 || asked[0].Limit != PageSize || asked[1].Continue != "2" || asked[2].Continue != "4" {
		t.Errorf("pod list calls: %+v", asked)
	}
	if diff := cmp.Diff([]string{"/node-a"}, names(snap.Nodes)); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	if len(snap.Namespaces) != 1 || snap.Namespaces[0].Labels["team"] != "data" {
		t.Errorf("namespaces: %+v", snap.Namespaces)
	}
	if len(snap.PlacementPolicies) != 1 || snap.PlacementPolicies[0].Name != "strict" || snap.PlacementPolicies[0].Spec.Priority != 5 {
		t.Errorf("policies: %+v", snap.PlacementPolicies)
	}
}

func TestCollectWithoutCRDOrNamespaceAccess(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "db", nil)
	})
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{PlacementPolicies: "PlacementPolicyList"})
	dyn.PrependReactor("list", "placementpolicies", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "stowage.dev", Resource: "placementpolicies"}, "")
	})
	snap, err := Collect(context.Background(), cs, dyn, "db", "")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Namespaces != nil || snap.PlacementPolicies != nil {
		t.Errorf("want no namespaces and no policies, got %v and %v", snap.Namespaces, snap.PlacementPolicies)
	}
}

func TestCollectListError(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", nil)
	})
	if _, err := Collect(context.Background(), cs, nil, "", ""); err == nil {
		t.Error("no error when nodes cannot be listed")
	}
}
