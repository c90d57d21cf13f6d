package collect

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/stowage-dev/stowage/audit"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// PageSize is the number of objects asked for per list call.
const PageSize = 500

// PlacementPolicies is the resource of Stowage's PlacementPolicy CRD.
var PlacementPolicies = schema.GroupVersionResource{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version, Resource: "placementpolicies"}

// Collect lists a snapshot for the audit. namespace limits the namespaced objects to one
// namespace ("" is every namespace); selector is a label selector for the StatefulSets to audit
// ("" is all of them). Nodes, PersistentVolumes and StorageClasses are always listed in full.
// dyn may be nil, and then PlacementPolicies are not read; a missing CRD is not an error.
func Collect(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface, namespace, selector string) (*audit.Snapshot, error) {
	snap := &audit.Snapshot{}
	var err error

	if snap.StatefulSets, err = list(ctx, "statefulsets", func(ctx context.Context, o metav1.ListOptions) ([]appsv1.StatefulSet, string, error) {
		o.LabelSelector = selector
		l, err := cs.AppsV1().StatefulSets(namespace).List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, keepAll[appsv1.StatefulSet]); err != nil {
		return nil, err
	}
	if snap.Pods, err = list(ctx, "pods", func(ctx context.Context, o metav1.ListOptions) ([]corev1.Pod, string, error) {
		l, err := cs.CoreV1().Pods(namespace).List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, slimStatefulSetPod); err != nil {
		return nil, err
	}
	if snap.PVCs, err = list(ctx, "persistentvolumeclaims", func(ctx context.Context, o metav1.ListOptions) ([]corev1.PersistentVolumeClaim, string, error) {
		l, err := cs.CoreV1().PersistentVolumeClaims(namespace).List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, keepAll[corev1.PersistentVolumeClaim]); err != nil {
		return nil, err
	}
	if snap.PVs, err = list(ctx, "persistentvolumes", func(ctx context.Context, o metav1.ListOptions) ([]corev1.PersistentVolume, string, error) {
		l, err := cs.CoreV1().PersistentVolumes().List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, keepAll[corev1.PersistentVolume]); err != nil {
		return nil, err
	}
	if snap.Nodes, err = list(ctx, "nodes", func(ctx context.Context, o metav1.ListOptions) ([]corev1.Node, string, error) {
		l, err := cs.CoreV1().Nodes().List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, keepAll[corev1.Node]); err != nil {
		return nil, err
	}
	if snap.PDBs, err = list(ctx, "poddisruptionbudgets", func(ctx context.Context, o metav1.ListOptions) ([]policyv1.PodDisruptionBudget, string, error) {
		l, err := cs.PolicyV1().PodDisruptionBudgets(namespace).List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, keepAll[policyv1.PodDisruptionBudget]); err != nil {
		return nil, err
	}
	if snap.StorageClasses, err = list(ctx, "storageclasses", func(ctx context.Context, o metav1.ListOptions) ([]storagev1.StorageClass, string, error) {
		l, err := cs.StorageV1().StorageClasses().List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, keepAll[storagev1.StorageClass]); err != nil {
		return nil, err
	}
	if snap.Namespaces, err = namespaces(ctx, cs, namespace); err != nil {
		return nil, err
	}
	if snap.PlacementPolicies, err = placementPolicies(ctx, dyn); err != nil {
		return nil, err
	}
	return snap, nil
}

// list follows the continue token until the last page, keeping what keep returns for each
// object (nil drops it), with managed fields cleared.
func list[T any, PT interface {
	*T
	metav1.Object
}](ctx context.Context, what string, page func(context.Context, metav1.ListOptions) ([]T, string, error), keep func(PT) PT) ([]PT, error) {
	var out []PT
	opts := metav1.ListOptions{Limit: PageSize}
	for {
		items, cont, err := page(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", what, err)
		}
		for i := range items {
			o := keep(PT(&items[i]))
			if o == nil {
				continue
			}
			o.SetManagedFields(nil)
			out = append(out, o)
		}
		if cont == "" {
			return out, nil
		}
		opts.Continue = cont
	}
}

func keepAll[T any](o *T) *T { return o }

// slimStatefulSetPod keeps the pods whose controller is a StatefulSet, and of those only the
// fields the analysis reads: a copy, so that the page the pod came in, with every pod's full
// spec and status, is garbage as soon as the next page arrives. Pods are most of a cluster's
// objects, and of their bytes.
func slimStatefulSetPod(p *corev1.Pod) *corev1.Pod {
	ref := metav1.GetControllerOfNoCopy(p)
	if ref == nil || ref.Kind != "StatefulSet" {
		return nil
	}
	slim := &corev1.Pod{
		TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Labels: p.Labels, OwnerReferences: p.OwnerReferences, DeletionTimestamp: p.DeletionTimestamp,
		},
		Spec:   corev1.PodSpec{NodeName: p.Spec.NodeName},
		Status: corev1.PodStatus{Phase: p.Status.Phase, Reason: p.Status.Reason, Message: p.Status.Message},
	}
	for _, c := range p.Status.Conditions {
		slim.Status.Conditions = append(slim.Status.Conditions, corev1.PodCondition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message})
	}
	return slim
}

// namespaces lists the namespaces, or gets the one audited. Without permission to read them the
// audit falls back on the labels every namespace carries, so Forbidden is not an error.
func namespaces(ctx context.Context, cs kubernetes.Interface, namespace string) ([]*corev1.Namespace, error) {
	if namespace != "" {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
		switch {
		case apierrors.IsForbidden(err) || apierrors.IsNotFound(err):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("getting namespace %s: %w", namespace, err)
		}
		ns.ManagedFields = nil
		return []*corev1.Namespace{ns}, nil
	}
	out, err := list(ctx, "namespaces", func(ctx context.Context, o metav1.ListOptions) ([]corev1.Namespace, string, error) {
		l, err := cs.CoreV1().Namespaces().List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, keepAll[corev1.Namespace])
	if apierrors.IsForbidden(err) {
		return nil, nil
	}
	return out, err
}

// placementPolicies lists the cluster's PlacementPolicies, or none when the CRD is not
// installed.
func placementPolicies(ctx context.Context, dyn dynamic.Interface) ([]*v1alpha1.PlacementPolicy, error) {
	if dyn == nil {
		return nil, nil
	}
	var out []*v1alpha1.PlacementPolicy
	opts := metav1.ListOptions{Limit: PageSize}
	for {
		l, err := dyn.Resource(PlacementPolicies).List(ctx, opts)
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil, nil // the CRD is not installed
		}
		if err != nil {
			return nil, fmt.Errorf("listing placementpolicies: %w", err)
		}
		for i := range l.Items {
			p := &v1alpha1.PlacementPolicy{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(l.Items[i].Object, p); err != nil {
				return nil, fmt.Errorf("decoding PlacementPolicy %s: %w", l.Items[i].GetName(), err)
			}
			p.ManagedFields = nil
			out = append(out, p)
		}
		if l.GetContinue() == "" {
			return out, nil
		}
		opts.Continue = l.GetContinue()
	}
}
