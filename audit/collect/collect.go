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
	}, ownedByStatefulSet); err != nil {
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

// list follows the continue token until the last page, keeping the objects keep accepts, with
// their managed fields cleared.
func list[T any, PT interface {
	*T
	metav1.Object
}](ctx context.Context, what string, page func(context.Context, metav1.ListOptions) ([]T, string, error), keep func(PT) bool) ([]PT, error) {
	var out []PT
	opts := metav1.ListOptions{Limit: PageSize}
	for {
		items, cont, err := page(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", what, err)
		}
		for i := range items {
			o := PT(&items[i])
			if !keep(o) {
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

func keepAll[T any](*T) bool { return true }

// ownedByStatefulSet keeps the pods whose controller is a StatefulSet.
func ownedByStatefulSet(p *corev1.Pod) bool {
	ref := metav1.GetControllerOfNoCopy(p)
	return ref != nil && ref.Kind == "StatefulSet"
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
