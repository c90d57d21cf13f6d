package collect

import (
	"context"
	"strconv"
	"strings"
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
	discoveryfake "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/stowage-dev/stowage/audit"
	"github.com/stowage-dev/stowage/internal/operatorcr"
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
		pod("db", "bare", ""), pod("db", "pg-2", "StatefulSet"), pod("db", "kruise-0", "StatefulSet"),
	}
	// OpenKruise's StatefulSet makes a pod set, which the selector filters like any other.
	pods[5].OwnerReferences[0].APIVersion = "apps.kruise.io/v1beta1"
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

// ownedPod is a pod whose controller is apiVersion/kind, mounting one claim.
func ownedPod(ns, name, apiVersion, kind string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: "set", Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "kafka"}}, Volumes: []corev1.Volume{
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-" + name}}},
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
		}},
	}
}

var prometheuses = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheuses"}

// TestCollectCustomResources lists the table's kinds that discovery finds, by their served
// plural, and notes the others as skipped: not installed, or forbidden.
func TestCollectCustomResources(t *testing.T) {
	cs := fake.NewClientset(
		ownedPod("kafka", "c-broker-0", "core.strimzi.io/v1beta2", "StrimziPodSet", map[string]string{"audit": "yes"}),
		ownedPod("kafka", "c-broker-1", "core.strimzi.io/v1beta2", "StrimziPodSet", map[string]string{"audit": "no"}),
		ownedPod("kafka", "web-0", "apps/v1", "ReplicaSet", map[string]string{"audit": "yes"}),
	)
	cs.Discovery().(*discoveryfake.FakeDiscovery).Resources = []*metav1.APIResourceList{{
		GroupVersion: "monitoring.coreos.com/v1",
		APIResources: []metav1.APIResource{
			{Name: "prometheuses", Kind: "Prometheus", Namespaced: true, Verbs: []string{"get", "list", "watch"}},
			{Name: "prometheuses/status", Kind: "Prometheus", Namespaced: true, Verbs: []string{"get"}},
			{Name: "alertmanagers", Kind: "Alertmanager", Namespaced: true, Verbs: []string{"get", "list", "watch"}},
		},
	}}
	cr := func(ns, name, label string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
			"spec": map[string]any{"replicas": int64(2)}}}
		u.SetNamespace(ns)
		u.SetName(name)
		u.SetLabels(map[string]string{"audit": label})
		u.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "helm"}})
		return u
	}
	alertmanagers := schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "alertmanagers"}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{PlacementPolicies: "PlacementPolicyList", prometheuses: "PrometheusList", alertmanagers: "AlertmanagerList"},
		cr("kafka", "kps", "yes"), cr("kafka", "other", "no"), cr("elsewhere", "kps", "yes"))
	dyn.PrependReactor("list", "alertmanagers", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "monitoring.coreos.com", Resource: "alertmanagers"}, "", nil)
	})

	snap, err := Collect(context.Background(), cs, dyn, "kafka", "audit=yes")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"kafka/kps"}, names(snap.CustomResources)); diff != "" {
		t.Errorf("custom resources, by namespace and selector (-want +got):\n%s", diff)
	}
	if snap.CustomResources[0].GetManagedFields() != nil {
		t.Error("the resource kept its managed fields")
	}
	var want []audit.Skipped
	for _, k := range operatorcr.Kinds {
		switch k.Kind {
		case "Prometheus":
		case "Alertmanager":
			want = append(want, audit.Skipped{Group: k.Group, Kind: k.Kind, Reason: audit.SkippedForbidden})
		default:
			want = append(want, audit.Skipped{Group: k.Group, Kind: k.Kind, Reason: audit.SkippedNotInstalled})
		}
	}
	if diff := cmp.Diff(want, snap.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	// The pod set's pod the selector matches is kept, cut down to its claims; the
	// ReplicaSet's is dropped.
	if diff := cmp.Diff([]string{"kafka/c-broker-0"}, names(snap.Pods)); diff != "" {
		t.Errorf("pods (-want +got):\n%s", diff)
	}
	wantVolumes := []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-c-broker-0"}}}}
	if diff := cmp.Diff(wantVolumes, snap.Pods[0].Spec.Volumes); diff != "" || len(snap.Pods[0].Spec.Containers) != 0 {
		t.Errorf("the pod set's pod was not cut down to its claims (-want +got):\n%s", diff)
	}
}

// TestCollectCustomResourcesForbiddenDiscovery: an audit role that may not even discover the
// operators' groups still audits the rest.
func TestCollectCustomResourcesForbiddenDiscovery(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("get", "resource", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{}, "", nil)
	})
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{PlacementPolicies: "PlacementPolicyList"})
	snap, err := Collect(context.Background(), cs, dyn, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Skipped) != len(operatorcr.Kinds) {
		t.Fatalf("skipped: %+v", snap.Skipped)
	}
	for _, s := range snap.Skipped {
		if s.Reason != audit.SkippedForbidden {
			t.Errorf("%+v, want Forbidden", s)
		}
	}
}

func TestCollectDiscoveryError(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("get", "resource", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("etcd is down")
	})
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{PlacementPolicies: "PlacementPolicyList"})
	if _, err := Collect(context.Background(), cs, dyn, "", ""); err == nil || !strings.Contains(err.Error(), "monitoring.coreos.com") {
		t.Errorf("a discovery failure other than not found or forbidden must be an error naming the group: %v", err)
	}
}
