package collect

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/stowage-dev/stowage/audit"
	"github.com/stowage-dev/stowage/internal/operatorcr"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// PageSize is the number of objects asked for per list call.
const PageSize = 500

// PlacementPolicies is the resource of Stowage's PlacementPolicy CRD.
var PlacementPolicies = schema.GroupVersionResource{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version, Resource: "placementpolicies"}

// Collect lists a snapshot for the audit. namespace limits the namespaced objects to one
// namespace ("" is every namespace); selector is a label selector for the StatefulSets, the
// operator resources and the pod sets to audit ("" is all of them). Nodes, PersistentVolumes
// and StorageClasses are always listed in full. dyn may be nil, and then PlacementPolicies and
// operator resources are not read. A missing CRD is not an error, nor is an operator resource
// kind the caller may not list: it is noted in Snapshot.Skipped.
func Collect(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface, namespace, selector string) (*audit.Snapshot, error) {
	snap := &audit.Snapshot{}
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("label selector %q: %w", selector, err)
	}

	if snap.StatefulSets, err = list(ctx, "statefulsets", selector, cs.AppsV1().StatefulSets(namespace).List, keepAll[appsv1.StatefulSet]); err != nil {
		return nil, err
	}
	if snap.Pods, err = list(ctx, "pods", "", cs.CoreV1().Pods(namespace).List, func(p *corev1.Pod) *corev1.Pod { return slimPod(p, sel) }); err != nil {
		return nil, err
	}
	if snap.PVCs, err = list(ctx, "persistentvolumeclaims", "", cs.CoreV1().PersistentVolumeClaims(namespace).List, keepAll[corev1.PersistentVolumeClaim]); err != nil {
		return nil, err
	}
	if snap.PVs, err = list(ctx, "persistentvolumes", "", cs.CoreV1().PersistentVolumes().List, keepAll[corev1.PersistentVolume]); err != nil {
		return nil, err
	}
	if snap.Nodes, err = list(ctx, "nodes", "", cs.CoreV1().Nodes().List, keepAll[corev1.Node]); err != nil {
		return nil, err
	}
	if snap.PDBs, err = list(ctx, "poddisruptionbudgets", "", cs.PolicyV1().PodDisruptionBudgets(namespace).List, keepAll[policyv1.PodDisruptionBudget]); err != nil {
		return nil, err
	}
	if snap.StorageClasses, err = list(ctx, "storageclasses", "", cs.StorageV1().StorageClasses().List, keepAll[storagev1.StorageClass]); err != nil {
		return nil, err
	}
	if snap.Namespaces, err = namespaces(ctx, cs, namespace); err != nil {
		return nil, err
	}
	if snap.PlacementPolicies, err = placementPolicies(ctx, dyn); err != nil {
		return nil, err
	}
	if snap.CustomResources, snap.Skipped, err = customResources(ctx, cs.Discovery(), dyn, namespace, selector); err != nil {
		return nil, err
	}
	return snap, nil
}

// list follows the continue token until the last page of a typed or dynamic client's List, with
// the label selector, keeping what keep returns for each object (nil drops it), with managed
// fields cleared.
func list[T any, PT interface {
	*T
	metav1.Object
}, L interface {
	runtime.Object
	GetContinue() string
}](ctx context.Context, what, selector string, page func(context.Context, metav1.ListOptions) (L, error), keep func(PT) PT) ([]PT, error) {
	var out []PT
	opts := metav1.ListOptions{Limit: PageSize, LabelSelector: selector}
	for {
		l, err := page(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", what, err)
		}
		items, err := meta.ExtractList(l) // pointers into l's items, not copies
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", what, err)
		}
		for _, item := range items {
			o := keep(item.(PT))
			if o == nil {
				continue
			}
			o.SetManagedFields(nil)
			out = append(out, o)
		}
		if l.GetContinue() == "" {
			return out, nil
		}
		opts.Continue = l.GetContinue()
	}
}

func keepAll[T any](o *T) *T { return o }

// slimPod keeps the pods whose controller is an apps/v1 StatefulSet, or may make a pod set
// (audit.PodSetOwner) and whose labels the selector matches, and of those only the fields the
// analysis reads: a copy, so that the page the pod came in, with every pod's full spec and
// status, is garbage as soon as the next page arrives. Pods are most of a cluster's objects, and
// of their bytes.
func slimPod(p *corev1.Pod, sel labels.Selector) *corev1.Pod {
	ref := metav1.GetControllerOfNoCopy(p)
	if !audit.StatefulSetOwner(ref) && (!audit.PodSetOwner(ref) || !sel.Matches(labels.Set(p.Labels))) {
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
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			slim.Spec.Volumes = append(slim.Spec.Volumes, corev1.Volume{Name: v.Name,
				VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: v.PersistentVolumeClaim.ClaimName}}})
		}
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
	out, err := list(ctx, "namespaces", "", cs.CoreV1().Namespaces().List, keepAll[corev1.Namespace])
	if apierrors.IsForbidden(err) {
		return nil, nil
	}
	return out, err
}

// placementPolicies lists the cluster's PlacementPolicies, or none when the CRD is not
// installed. Unlike an operator's resources, the policies may not be skipped when forbidden: the
// audit would judge by the default policy instead of the cluster's.
func placementPolicies(ctx context.Context, dyn dynamic.Interface) ([]*v1alpha1.PlacementPolicy, error) {
	if dyn == nil {
		return nil, nil
	}
	items, err := list(ctx, "placementpolicies", "", dyn.Resource(PlacementPolicies).List, keepAll[unstructured.Unstructured])
	switch {
	case skipReason(err) == audit.SkippedNotInstalled:
		return nil, nil // the CRD is not installed
	case err != nil:
		return nil, err
	}
	var out []*v1alpha1.PlacementPolicy
	for _, u := range items {
		p := &v1alpha1.PlacementPolicy{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, p); err != nil {
			return nil, fmt.Errorf("decoding PlacementPolicy %s: %w", u.GetName(), err)
		}
		out = append(out, p)
	}
	return out, nil
}

// customResources lists the operator resources of internal/operatorcr's table, each kind at the
// first of its versions the API server serves (found by discovery, which also gives the
// resource's plural). A kind the server does not serve, or that the caller may not list, is
// skipped and noted, never an error: most clusters run few of these operators, and the audit's
// role may not be granted every operator's group.
func customResources(ctx context.Context, disc discovery.DiscoveryInterface, dyn dynamic.Interface, namespace, selector string) ([]*unstructured.Unstructured, []audit.Skipped, error) {
	if dyn == nil {
		return nil, nil, nil
	}
	var out []*unstructured.Unstructured
	var skipped []audit.Skipped
	cache := map[string]served{}
	for _, k := range operatorcr.Kinds {
		gvr, reason, err := resourceOf(disc, cache, k)
		if err != nil {
			return nil, nil, err
		}
		if reason == "" {
			items, err := list(ctx, gvr.Resource+"."+gvr.Group, selector, dyn.Resource(gvr).Namespace(namespace).List, keepAll[unstructured.Unstructured])
			reason = skipReason(err)
			if err != nil && reason == "" {
				return nil, nil, err
			}
			out = append(out, items...)
		}
		if reason != "" {
			skipped = append(skipped, audit.Skipped{Group: k.Group, Kind: k.Kind, Reason: reason})
		}
	}
	return out, skipped, nil
}

// served is what discovery said of one group version: its resources, or that it may not be read.
type served struct {
	list      *metav1.APIResourceList
	forbidden bool
}

// resourceOf finds the resource of a table kind at the first of its versions the server serves,
// or why there is none: audit.SkippedNotInstalled or audit.SkippedForbidden.
func resourceOf(disc discovery.DiscoveryInterface, cache map[string]served, k operatorcr.Kind) (schema.GroupVersionResource, string, error) {
	reason := audit.SkippedNotInstalled
	for _, v := range k.Versions {
		gv := schema.GroupVersion{Group: k.Group, Version: v}.String()
		s, ok := cache[gv]
		if !ok {
			l, err := disc.ServerResourcesForGroupVersion(gv)
			switch {
			case apierrors.IsNotFound(err):
			case apierrors.IsForbidden(err):
				s.forbidden = true
			case err != nil:
				return schema.GroupVersionResource{}, "", fmt.Errorf("discovering %s: %w", gv, err)
			default:
				s.list = l
			}
			cache[gv] = s
		}
		if s.forbidden {
			reason = audit.SkippedForbidden
		}
		if s.list == nil {
			continue
		}
		for _, r := range s.list.APIResources {
			if r.Kind == k.Kind && !strings.Contains(r.Name, "/") && slices.Contains(r.Verbs, "list") {
				return schema.GroupVersionResource{Group: k.Group, Version: v, Resource: r.Name}, "", nil
			}
		}
	}
	return schema.GroupVersionResource{}, reason, nil
}

// skipReason says whether a list error means the kind is not installed (audit.SkippedNotInstalled:
// the CRD is missing, or went away) or may not be read (audit.SkippedForbidden); else "".
func skipReason(err error) string {
	switch {
	case err == nil:
		return ""
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
		return audit.SkippedNotInstalled
	case apierrors.IsForbidden(err):
		return audit.SkippedForbidden
	}
	return ""
}
