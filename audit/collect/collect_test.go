package collect

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/stowage-dev/stowage/audit"
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

// TestSlimPodsKeepTheReport checks that cutting pods down to what the analysis reads changes
// nothing it reports: the same cluster, with full pods (containers, volumes, IPs, every
// condition, annotations) and with collected ones, gives the same report, findings included.
func TestSlimPodsKeepTheReport(t *testing.T) {
	now := metav1.Now()
	labels := map[string]string{"app": "pg", "app.kubernetes.io/instance": "pg"}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "pg", UID: "sts-uid"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template:             corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "pg", Image: "pg:16"}}}},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("openebs-hostpath")}}}}}
	node := func(name string, ready corev1.ConditionStatus) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}}}}
	}
	richPod := func(ordinal int, nodeName string, phase corev1.PodPhase, conds ...corev1.PodCondition) *corev1.Pod {
		name := "pg-" + strconv.Itoa(ordinal)
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: name, UID: types.UID(name + "-uid"), Labels: labels,
				Annotations:     map[string]string{"kwok.x-k8s.io/whatever": "x"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "pg", UID: "sts-uid", Controller: ptr.To(true)}},
				ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kwok"}}},
			Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "pg", Image: "pg:16"}},
				Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-" + name}}}}},
			Status: corev1.PodStatus{Phase: phase, PodIP: "10.0.0.1", HostIP: "192.168.0.1", Conditions: conds,
				ContainerStatuses: []corev1.ContainerStatus{{Name: "pg", Ready: phase == corev1.PodRunning}}},
		}
	}
	ready := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
	unschedulable := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
		Message: "0/2 nodes are available: 1 node(s) didn't match PersistentVolume's node affinity"}
	claimAndVolume := func(ordinal int, nodeName string) (*corev1.PersistentVolumeClaim, *corev1.PersistentVolume) {
		claim, pv := "data-pg-"+strconv.Itoa(ordinal), "pv-"+strconv.Itoa(ordinal)
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: claim},
				Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("openebs-hostpath"), VolumeName: pv}},
			&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: pv}, Spec: corev1.PersistentVolumeSpec{StorageClassName: "openebs-hostpath",
				ClaimRef: &corev1.ObjectReference{Namespace: "db", Name: claim},
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{nodeName}}}}}}}}}
	}
	objs := []runtime.Object{sts, node("n1", corev1.ConditionTrue), node("n2", corev1.ConditionTrue), node("n3", corev1.ConditionFalse),
		// Two replicas on n1 (co-located), one Pending on a volume pinned to the NotReady n3.
		richPod(0, "n1", corev1.PodRunning, ready), richPod(1, "n1", corev1.PodRunning, ready), richPod(2, "", corev1.PodPending, unschedulable)}
	for i, n := range []string{"n1", "n1", "n3"} {
		c, v := claimAndVolume(i, n)
		objs = append(objs, c, v)
	}

	direct := &audit.Snapshot{}
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.StatefulSet:
			direct.StatefulSets = append(direct.StatefulSets, o)
		case *corev1.Node:
			direct.Nodes = append(direct.Nodes, o)
		case *corev1.Pod:
			direct.Pods = append(direct.Pods, o)
		case *corev1.PersistentVolumeClaim:
			direct.PVCs = append(direct.PVCs, o)
		case *corev1.PersistentVolume:
			direct.PVs = append(direct.PVs, o)
		}
	}
	collected, err := Collect(context.Background(), fake.NewClientset(objs...), nil, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range collected.Pods {
		if len(p.Spec.Containers) != 0 || p.Status.PodIP != "" || p.Annotations != nil {
			t.Errorf("pod %s was not cut down: %+v", p.Name, p)
		}
	}
	opts := audit.Options{Now: now.Time, NotReadyThreshold: time.Minute}
	want, got := audit.Analyze(direct, nil, opts), audit.Analyze(collected, nil, opts)
	if len(want.Findings) < 3 {
		t.Fatalf("the scenario should have co-located, stranded and pending findings, got %+v", want.Findings)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report from collected pods differs from the one from full pods (-full +collected):\n%s", diff)
	}
}
