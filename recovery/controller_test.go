package recovery

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// world is a three-replica StatefulSet whose replica 1's node was deleted; its pod is Pending.
func world(t *testing.T) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns", UID: "sts-uid"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}},
	}
	objs := []client.Object{sts}
	for i := 0; i < 4; i++ {
		if i == 1 {
			continue // n1 is gone
		}
		objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("n%d", i), Labels: map[string]string{corev1.LabelHostname: fmt.Sprintf("n%d", i)}}})
	}
	for i := 0; i < 3; i++ {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("db-%d", i), Namespace: "ns", UID: types.UID(fmt.Sprintf("pod-%d", i)),
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: sts.UID, Controller: ptr.To(true)}}},
			Spec:   corev1.PodSpec{NodeName: fmt.Sprintf("n%d", i)},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		}
		if i == 1 {
			pod.Spec.NodeName = ""
			pod.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}}
		}
		claim := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("data-db-%d", i), Namespace: "ns", UID: types.UID(fmt.Sprintf("claim-%d", i))},
			Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: fmt.Sprintf("pv-%d", i)},
			Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
		}
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pv-%d", i)},
			Spec: corev1.PersistentVolumeSpec{
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
				ClaimRef:                      &corev1.ObjectReference{Namespace: "ns", Name: claim.Name, UID: claim.UID},
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{fmt.Sprintf("n%d", i)}}},
				}}}},
			},
		}
		objs = append(objs, pod, claim, pv)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
}

func automatic(context.Context, *appsv1.StatefulSet) (*v1alpha1.PlacementPolicy, error) {
	p := &v1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	v1alpha1.SetDefaults(p)
	p.Spec.Recovery.Mode = v1alpha1.RecoveryAutomatic
	return p, nil
}

// TestRestartAtEveryStep runs the recovery with a new controller (a restart) before every
// reconcile, playing the StatefulSet controller, scheduler and kubelet in between, and checks
// the recovery finishes with the old volume kept and no other replica touched.
func TestRestartAtEveryStep(t *testing.T) {
	ctx := context.Background()
	c := world(t)
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "db"}}
	var lastMetrics *Metrics
	finished := false
	for i := 0; i < 20 && !finished; i++ {
		m := NewMetrics(prometheus.NewRegistry())
		r := &Reconciler{Client: c, APIReader: c, Policy: automatic, Metrics: m, Now: time.Now, blocked: map[string]string{}}
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatalf("reconcile %d: %v", i, err)
		}
		lastMetrics = m
		var sts appsv1.StatefulSet
		if err := c.Get(ctx, req.NamespacedName, &sts); err != nil {
			t.Fatal(err)
		}
		_, inFlight := sts.Annotations[policy.RecoveryAnnotation]
		// Play Kubernetes: once pod db-1 is gone, recreate claim and pod on a live node.
		var pod corev1.Pod
		if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "db-1"}, &pod); apierrors.IsNotFound(err) {
			claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data-db-1", Namespace: "ns", UID: "claim-1-new"},
				Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-new"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}
			newPod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "db-1", Namespace: "ns", UID: "pod-1-new",
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: "sts-uid", Controller: ptr.To(true)}}},
				Spec:   corev1.PodSpec{NodeName: "n3"},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
			}
			for _, o := range []client.Object{claim, newPod} {
				if err := c.Create(ctx, o); err != nil {
					t.Fatal(err)
				}
			}
		}
		if i > 0 && !inFlight && pod.UID == "pod-1-new" {
			finished = true
		}
	}
	if !finished {
		t.Fatal("the recovery never finished")
	}
	var pv corev1.PersistentVolume
	if err := c.Get(ctx, types.NamespacedName{Name: "pv-1"}, &pv); err != nil {
		t.Fatalf("old volume: %v", err)
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || pv.Annotations[policy.RecoveredFromAnnotation] == "" {
		t.Errorf("old volume not retained and annotated: %+v", pv)
	}
	for _, name := range []string{"db-0", "db-2"} {
		var p corev1.Pod
		var cl corev1.PersistentVolumeClaim
		if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: name}, &p); err != nil || p.UID != types.UID("pod-"+name[3:]) {
			t.Errorf("pod %s touched: %v", name, err)
		}
		if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "data-" + name}, &cl); err != nil || cl.UID != types.UID("claim-"+name[3:]) {
			t.Errorf("claim of %s touched: %v", name, err)
		}
	}
	if got := testutil.ToFloat64(lastMetrics.succeeded.WithLabelValues("ns", "db")); got != 1 {
		t.Errorf("succeeded = %v on the controller that finished", got)
	}
}

// TestQuorumLostNothingDone: with two nodes gone, reconciles never release anything, and the
// refusal is counted once and shown in the status annotation.
func TestQuorumLostNothingDone(t *testing.T) {
	ctx := context.Background()
	c := world(t)
	if err := c.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(prometheus.NewRegistry())
	r := &Reconciler{Client: c, APIReader: c, Policy: automatic, Metrics: m, Now: time.Now, blocked: map[string]string{}}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "db"}}
	for i := 0; i < 5; i++ {
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	var claim corev1.PersistentVolumeClaim
	if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "data-db-1"}, &claim); err != nil {
		t.Fatalf("claim released without quorum: %v", err)
	}
	var sts appsv1.StatefulSet
	if err := c.Get(ctx, req.NamespacedName, &sts); err != nil {
		t.Fatal(err)
	}
	if _, ok := sts.Annotations[policy.RecoveryAnnotation]; ok {
		t.Error("a recovery began without quorum")
	}
	if s := sts.Annotations[policy.RecoveryStatusAnnotation]; !containsAll(s, string(policy.GuardQuorumLost), `"ordinal":1`) {
		t.Errorf("status annotation = %s", s)
	}
	if got := testutil.ToFloat64(m.refused.WithLabelValues("ns", "db", string(policy.GuardQuorumLost))); got != 1 {
		t.Errorf("refused{QuorumLost} = %v after 5 reconciles, want 1 (counted once per change)", got)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// TestAfterStepSeesEveryStep: the hook the failure tests stop the process with is called once
// after each step that changed the cluster, in the recovery's order, and never for a wait.
func TestAfterStepSeesEveryStep(t *testing.T) {
	ctx := context.Background()
	c := world(t)
	var steps []policy.RecoveryAction
	r := &Reconciler{Client: c, APIReader: c, Policy: automatic, Now: time.Now,
		AfterStep: func(a policy.RecoveryAction) { steps = append(steps, a) }}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "db"}}
	for i := 0; i < 20; i++ {
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatalf("reconcile %d: %v", i, err)
		}
		var pod corev1.Pod
		if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "db-1"}, &pod); apierrors.IsNotFound(err) {
			newPod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "db-1", Namespace: "ns", UID: "pod-1-new",
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: "sts-uid", Controller: ptr.To(true)}}},
				Spec:   corev1.PodSpec{NodeName: "n3"},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
			}
			if err := c.Create(ctx, newPod); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := []policy.RecoveryAction{policy.RecoveryBegin, policy.RecoveryRetainVolume, policy.RecoveryDeleteClaim, policy.RecoveryDeletePod, policy.RecoveryFinish}
	if fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Errorf("AfterStep saw %v, want %v", steps, want)
	}
}
