package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

var recNow = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// recWorld is a StatefulSet "db" of n replicas in namespace "ns", replica i on node n<i> with
// claim data-db-<i> bound to volume pv-<i>, pinned to n<i>; plus spare nodes.
type recWorld struct {
	f RecoveryFacts
}

func newRecWorld(n int) *recWorld {
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns", UID: "sts-uid", Annotations: map[string]string{}},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(int32(n)), VolumeClaimTemplates: []corev1.PersistentVolumeClaim{
			{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}},
	}
	w := &recWorld{f: RecoveryFacts{StatefulSet: sts, Now: metav1.NewTime(recNow),
		Spec: v1alpha1.RecoverySpec{Mode: v1alpha1.RecoveryAutomatic}}}
	for i := 0; i < n+2; i++ {
		w.f.Nodes = append(w.f.Nodes, recNode(fmt.Sprintf("n%d", i)))
	}
	for i := 0; i < n; i++ {
		w.f.Pods = append(w.f.Pods, recPod(sts, i, fmt.Sprintf("n%d", i), true))
		c, pv := recClaim(i, fmt.Sprintf("n%d", i))
		w.f.Claims = append(w.f.Claims, c)
		w.f.Volumes = append(w.f.Volumes, pv)
	}
	return w
}

func recNode(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

func recPod(sts *appsv1.StatefulSet, i int, node string, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("db-%d", i), Namespace: "ns", UID: types.UID(fmt.Sprintf("pod-%d", i)),
			CreationTimestamp: metav1.NewTime(recNow.Add(-time.Hour)),
			OwnerReferences:   []metav1.OwnerReference{{Kind: "StatefulSet", Name: sts.Name, UID: sts.UID, Controller: ptr.To(true)}}},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

func recClaim(i int, node string) (*corev1.PersistentVolumeClaim, *corev1.PersistentVolume) {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("data-db-%d", i), Namespace: "ns", UID: types.UID(fmt.Sprintf("claim-%d", i))},
		Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: fmt.Sprintf("pv-%d", i)},
		Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pv-%d", i)},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			ClaimRef:                      &corev1.ObjectReference{Namespace: "ns", Name: c.Name, UID: c.UID},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		},
	}
	return c, pv
}

func (w *recWorld) pod(name string) *corev1.Pod {
	for _, p := range w.f.Pods {
		if p.Name == name {
			return p
		}
	}
	return nil
}

func (w *recWorld) claim(name string) *corev1.PersistentVolumeClaim {
	for _, c := range w.f.Claims {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (w *recWorld) volume(name string) *corev1.PersistentVolume {
	for _, v := range w.f.Volumes {
		if v.Name == name {
			return v
		}
	}
	return nil
}

func (w *recWorld) node(name string) *corev1.Node {
	for _, n := range w.f.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// deleteNode removes node i; its replica's pod is recreated by the StatefulSet controller and
// judged unschedulable by the scheduler, as on a real control plane.
func (w *recWorld) deleteNode(i int) {
	name := fmt.Sprintf("n%d", i)
	var keep []*corev1.Node
	for _, n := range w.f.Nodes {
		if n.Name != name {
			keep = append(keep, n)
		}
	}
	w.f.Nodes = keep
	w.strandPod(i)
}

func (w *recWorld) strandPod(i int) {
	p := w.pod(fmt.Sprintf("db-%d", i))
	p.UID = types.UID(fmt.Sprintf("pod-%d-pending", i))
	p.Spec.NodeName = ""
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}}
}

func (w *recWorld) removeClaim(name string) {
	var keep []*corev1.PersistentVolumeClaim
	for _, c := range w.f.Claims {
		if c.Name != name {
			keep = append(keep, c)
		}
	}
	w.f.Claims = keep
}

func (w *recWorld) removePod(name string) {
	var keep []*corev1.Pod
	for _, p := range w.f.Pods {
		if p.Name != name {
			keep = append(keep, p)
		}
	}
	w.f.Pods = keep
}

// apply carries out a decision on the world the way the controller does on the cluster.
func (w *recWorld) apply(t *testing.T, d RecoveryDecision) {
	t.Helper()
	switch d.Action {
	case RecoveryBegin:
		w.f.StatefulSet.Annotations[RecoveryAnnotation] = d.Record.String()
	case RecoveryRetainVolume:
		d.Volume.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
		d.Volume.Annotations = map[string]string{RecoveredFromAnnotation: d.Record.RecoveredFrom("ns", d.Record.Claims[0])}
	case RecoveryDeleteClaim:
		w.removeClaim(d.Claim.Name)
	case RecoveryDeletePod:
		w.removePod(d.Pod.Name)
	case RecoveryFinish, RecoveryAbort:
		delete(w.f.StatefulSet.Annotations, RecoveryAnnotation)
	default:
		t.Fatalf("cannot apply %s", d.Action)
	}
}

func decide(t *testing.T, w *recWorld) RecoveryDecision {
	t.Helper()
	d := DecideRecovery(w.f)
	t.Logf("%s ordinal=%d guard=%s: %s", d.Action, d.Ordinal, d.Guard, d.Message)
	return d
}

// TestRecoveryGuards: one table, each row a guard that must hold (or its absence).
func TestRecoveryGuards(t *testing.T) {
	tests := []struct {
		name       string
		replicas   int
		setup      func(w *recWorld)
		wantAction RecoveryAction
		wantGuard  RecoveryGuard
		wantOrd    int32
	}{
		{name: "node deleted, quorum kept, Automatic → begin", replicas: 3,
			setup: func(w *recWorld) { w.deleteNode(1) }, wantAction: RecoveryBegin, wantOrd: 1},
		{name: "nothing gone → nothing", replicas: 3, setup: func(*recWorld) {}, wantAction: RecoveryNone, wantOrd: -1},
		// Node gone.
		{name: "out-of-service taint → begin", replicas: 3, setup: func(w *recWorld) {
			w.node("n1").Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute}}
			w.strandPod(1)
		}, wantAction: RecoveryBegin, wantOrd: 1},
		{name: "NotReady for an hour, nodeNotReadyAfter unset → nothing: a partitioned node can return", replicas: 3, setup: func(w *recWorld) {
			w.node("n1").Status.Conditions[0] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, LastTransitionTime: metav1.NewTime(recNow.Add(-time.Hour))}
			w.strandPod(1)
		}, wantAction: RecoveryNone, wantOrd: -1},
		{name: "NotReady for an hour, nodeNotReadyAfter 10m → begin", replicas: 3, setup: func(w *recWorld) {
			w.f.Spec.NodeNotReadyAfter = &metav1.Duration{Duration: 10 * time.Minute}
			w.node("n1").Status.Conditions[0] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, LastTransitionTime: metav1.NewTime(recNow.Add(-time.Hour))}
			w.strandPod(1)
		}, wantAction: RecoveryBegin, wantOrd: 1},
		{name: "NotReady for 5m, nodeNotReadyAfter 10m → nothing", replicas: 3, setup: func(w *recWorld) {
			w.f.Spec.NodeNotReadyAfter = &metav1.Duration{Duration: 10 * time.Minute}
			w.node("n1").Status.Conditions[0] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(recNow.Add(-5 * time.Minute))}
			w.strandPod(1)
		}, wantAction: RecoveryNone, wantOrd: -1},
		{name: "cordoned node → nothing: cordoned is not gone", replicas: 3, setup: func(w *recWorld) {
			w.node("n1").Spec.Unschedulable = true
			w.strandPod(1)
		}, wantAction: RecoveryNone, wantOrd: -1},
		{name: "no nodes known at all → uncertain, nothing", replicas: 3, setup: func(w *recWorld) {
			w.f.Nodes = nil
			w.strandPod(1)
		}, wantAction: RecoveryNone, wantGuard: GuardUncertain, wantOrd: -1},
		{name: "node renamed but hostname label kept → not gone", replicas: 3, setup: func(w *recWorld) {
			w.node("n1").Name = "n1-renamed"
			w.strandPod(1)
		}, wantAction: RecoveryNone, wantOrd: -1},
		// Guard 1: quorum.
		{name: "two of three nodes gone → quorum lost", replicas: 3,
			setup: func(w *recWorld) { w.deleteNode(1); w.deleteNode(2) }, wantAction: RecoveryNone, wantGuard: GuardQuorumLost, wantOrd: -1},
		{name: "another replica NotReady → quorum lost", replicas: 3, setup: func(w *recWorld) {
			w.deleteNode(1)
			w.pod("db-2").Status.Conditions[0].Status = corev1.ConditionFalse
		}, wantAction: RecoveryNone, wantGuard: GuardQuorumLost, wantOrd: -1},
		{name: "another replica Ready but on an out-of-service node → not healthy, quorum lost", replicas: 3, setup: func(w *recWorld) {
			w.deleteNode(1)
			w.node("n2").Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeOutOfService, Effect: corev1.TaintEffectNoExecute}}
		}, wantAction: RecoveryNone, wantGuard: GuardQuorumLost, wantOrd: -1},
		{name: "two of five gone → majority (3) still healthy → begin the lowest", replicas: 5,
			setup: func(w *recWorld) { w.deleteNode(3); w.deleteNode(1) }, wantAction: RecoveryBegin, wantOrd: 1},
		{name: "minHealthy 3 of 3 replicas → refused", replicas: 3, setup: func(w *recWorld) {
			w.f.Spec.MinHealthy = ptr.To[int32](3)
			w.deleteNode(0)
		}, wantAction: RecoveryNone, wantGuard: GuardQuorumLost, wantOrd: -1},
		{name: "minHealthy 1: two of three gone → begin", replicas: 3, setup: func(w *recWorld) {
			w.f.Spec.MinHealthy = ptr.To[int32](1)
			w.deleteNode(1)
			w.deleteNode(2)
		}, wantAction: RecoveryBegin, wantOrd: 1},
		{name: "single replica: quorum 1, no other replica → quorum lost", replicas: 1,
			setup: func(w *recWorld) { w.deleteNode(0) }, wantAction: RecoveryNone, wantGuard: GuardQuorumLost, wantOrd: -1},
		// Guard 2: one at a time, cluster cap.
		{name: "another StatefulSet recovering, cap 1 → cluster cap", replicas: 3, setup: func(w *recWorld) {
			w.deleteNode(1)
			w.f.InFlight = 1
		}, wantAction: RecoveryNone, wantGuard: GuardClusterCap, wantOrd: -1},
		{name: "another StatefulSet recovering, cap 2 → begin", replicas: 3, setup: func(w *recWorld) {
			w.deleteNode(1)
			w.f.InFlight, w.f.MaxInFlight = 1, 2
		}, wantAction: RecoveryBegin, wantOrd: 1},
		{name: "replica 2 recovering → replica 1 waits, replica 2 continues", replicas: 5, setup: func(w *recWorld) {
			w.deleteNode(1)
			w.deleteNode(2)
			w.f.StatefulSet.Annotations[RecoveryAnnotation] = (&RecoveryRecord{Ordinal: 2, Pod: "db-2", PodUID: "pod-2-pending", Node: "n2", Reason: NodeDeleted,
				Claims: []RecoveryClaim{{Name: "data-db-2", UID: "claim-2", Volume: "pv-2"}}}).String()
		}, wantAction: RecoveryRetainVolume, wantOrd: 2},
		// Guard 4: only stranded claims.
		{name: "claim not bound (being provisioned) → nothing", replicas: 3, setup: func(w *recWorld) {
			w.deleteNode(1)
			w.claim("data-db-1").Status.Phase = corev1.ClaimPending
		}, wantAction: RecoveryNone, wantOrd: -1},
		{name: "volume bound to another claim UID (fresh claim, old volume) → nothing", replicas: 3, setup: func(w *recWorld) {
			w.deleteNode(1)
			w.claim("data-db-1").UID = "fresh"
		}, wantAction: RecoveryNone, wantOrd: -1},
		{name: "volume not pinned by hostname (network storage) → nothing", replicas: 3, setup: func(w *recWorld) {
			w.deleteNode(1)
			w.volume("pv-1").Spec.NodeAffinity = nil
		}, wantAction: RecoveryNone, wantOrd: -1},
		{name: "volume pinned to a zone term only → nothing", replicas: 3, setup: func(w *recWorld) {
			w.deleteNode(1)
			w.volume("pv-1").Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Key = corev1.LabelTopologyZone
		}, wantAction: RecoveryNone, wantOrd: -1},
		{name: "claim of a scaled-away ordinal (3 of replicas 3) → nothing", replicas: 3, setup: func(w *recWorld) {
			c, pv := recClaim(3, "gone")
			w.f.Claims, w.f.Volumes = append(w.f.Claims, c), append(w.f.Volumes, pv)
		}, wantAction: RecoveryNone, wantOrd: -1},
		{name: "pod still bound to the deleted node → wait for pod GC", replicas: 3, setup: func(w *recWorld) {
			w.deleteNode(1)
			w.pod("db-1").Spec.NodeName = "n1"
		}, wantAction: RecoveryNone, wantGuard: GuardPodNotStranded, wantOrd: -1},
		{name: "pod not yet judged by the scheduler → wait", replicas: 3, setup: func(w *recWorld) {
			w.deleteNode(1)
			w.pod("db-1").Status.Conditions = nil
		}, wantAction: RecoveryNone, wantGuard: GuardPodNotStranded, wantOrd: -1},
		{name: "pod absent → wait for the StatefulSet controller", replicas: 3, setup: func(w *recWorld) {
			w.deleteNode(1)
			w.removePod("db-1")
		}, wantAction: RecoveryNone, wantGuard: GuardPodNotStranded, wantOrd: -1},
		{name: "pod of another owner with the same name → not the replica", replicas: 3, setup: func(w *recWorld) {
			w.deleteNode(1)
			w.pod("db-1").OwnerReferences[0].UID = "other"
		}, wantAction: RecoveryNone, wantGuard: GuardPodNotStranded, wantOrd: -1},
		// Modes.
		{name: "mode Off → reported, nothing", replicas: 3, setup: func(w *recWorld) {
			w.f.Spec.Mode = v1alpha1.RecoveryOff
			w.deleteNode(1)
		}, wantAction: RecoveryNone, wantGuard: GuardModeOff, wantOrd: -1},
		{name: "Manual without approval → awaiting approval", replicas: 3, setup: func(w *recWorld) {
			w.f.Spec.Mode = v1alpha1.RecoveryManual
			w.deleteNode(1)
		}, wantAction: RecoveryNone, wantGuard: GuardAwaitingApproval, wantOrd: -1},
		{name: "Manual approved for another ordinal → awaiting approval", replicas: 3, setup: func(w *recWorld) {
			w.f.Spec.Mode = v1alpha1.RecoveryManual
			w.f.StatefulSet.Annotations[RecoveryApproveAnnotation] = "2"
			w.deleteNode(1)
		}, wantAction: RecoveryNone, wantGuard: GuardAwaitingApproval, wantOrd: -1},
		{name: "Manual approved → begin", replicas: 3, setup: func(w *recWorld) {
			w.f.Spec.Mode = v1alpha1.RecoveryManual
			w.f.StatefulSet.Annotations[RecoveryApproveAnnotation] = "1"
			w.deleteNode(1)
		}, wantAction: RecoveryBegin, wantOrd: 1},
		{name: "Manual approved but quorum lost → refused all the same", replicas: 3, setup: func(w *recWorld) {
			w.f.Spec.Mode = v1alpha1.RecoveryManual
			w.f.StatefulSet.Annotations[RecoveryApproveAnnotation] = "1"
			w.deleteNode(1)
			w.deleteNode(2)
		}, wantAction: RecoveryNone, wantGuard: GuardQuorumLost, wantOrd: -1},
		{name: "unreadable record → uncertain, nothing", replicas: 3, setup: func(w *recWorld) {
			w.deleteNode(1)
			w.f.StatefulSet.Annotations[RecoveryAnnotation] = "{not json"
		}, wantAction: RecoveryNone, wantGuard: GuardUncertain, wantOrd: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newRecWorld(tt.replicas)
			tt.setup(w)
			d := decide(t, w)
			if d.Action != tt.wantAction || d.Guard != tt.wantGuard || d.Ordinal != tt.wantOrd {
				t.Errorf("got %s/%q/%d, want %s/%q/%d (%s)", d.Action, d.Guard, d.Ordinal, tt.wantAction, tt.wantGuard, tt.wantOrd, d.Message)
			}
		})
	}
}

// TestRecoveryRunsInOrder walks one recovery to the end, checking each step and that no other
// replica's objects are touched, and that a restart (a fresh decision from the same facts) at
// any point asks for the same step.
func TestRecoveryRunsInOrder(t *testing.T) {
	w := newRecWorld(3)
	w.deleteNode(1)
	var steps []string
	for i := 0; i < 20; i++ {
		d := decide(t, w)
		if again := DecideRecovery(w.f); again.Action != d.Action || again.Ordinal != d.Ordinal {
			t.Fatalf("not deterministic: %s then %s", d.Action, again.Action)
		}
		for _, obj := range []string{fmt.Sprint(d.Claim), fmt.Sprint(d.Pod), fmt.Sprint(d.Volume)} {
			if strings.Contains(obj, "db-0") || strings.Contains(obj, "db-2") || strings.Contains(obj, "pv-0") || strings.Contains(obj, "pv-2") {
				t.Fatalf("%s touches another replica", d.Action)
			}
		}
		if d.Action == RecoveryWait {
			// The cluster moves on: the StatefulSet controller recreates claim and pod, the
			// scheduler places the pod on a spare node, and it becomes Ready.
			if w.pod("db-1") == nil {
				c, pv := recClaim(1, "n4")
				c.UID, pv.Spec.ClaimRef.UID = "claim-1-new", "claim-1-new"
				w.f.Claims, w.f.Volumes = append(w.f.Claims, c), append(w.f.Volumes, pv)
				p := recPod(w.f.StatefulSet, 1, "n4", true)
				p.UID = "pod-1-new"
				w.f.Pods = append(w.f.Pods, p)
			}
			steps = append(steps, "Wait")
			continue
		}
		steps = append(steps, string(d.Action))
		if d.Action == RecoveryNone {
			break
		}
		if d.Action == RecoveryDeletePod && w.claim("data-db-1") != nil {
			t.Fatal("pod deleted while its old claim is still in the cache (kubernetes#113139)")
		}
		w.apply(t, d)
	}
	want := "Begin RetainVolume DeleteClaim DeletePod Wait Finish None"
	if got := strings.Join(steps, " "); got != want {
		t.Errorf("steps = %s, want %s", got, want)
	}
	if pv := w.volume("pv-1"); pv == nil || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || pv.Annotations[RecoveredFromAnnotation] == "" {
		t.Errorf("old volume not kept and annotated: %+v", pv)
	}
}

func TestRecoveryResume(t *testing.T) {
	begun := func(w *recWorld) {
		w.deleteNode(1)
		w.apply(t, DecideRecovery(w.f)) // Begin
	}
	tests := []struct {
		name  string
		setup func(w *recWorld)
		want  RecoveryAction
		guard RecoveryGuard
	}{
		{name: "node came back before the claim was released → abort, nothing done", setup: func(w *recWorld) {
			begun(w)
			w.f.Nodes = append(w.f.Nodes, recNode("n1"))
		}, want: RecoveryAbort},
		{name: "quorum lost after begin, before release → abort", setup: func(w *recWorld) {
			begun(w)
			w.pod("db-2").Status.Conditions[0].Status = corev1.ConditionFalse
		}, want: RecoveryAbort, guard: GuardQuorumLost},
		{name: "claim terminating (pvc-protection) → wait, never delete the pod yet", setup: func(w *recWorld) {
			begun(w)
			w.apply(t, DecideRecovery(w.f)) // RetainVolume
			w.claim("data-db-1").DeletionTimestamp = ptr.To(metav1.NewTime(recNow))
		}, want: RecoveryWait},
		{name: "claim released, node returns → the recovery goes on (the old volume is kept)", setup: func(w *recWorld) {
			begun(w)
			w.apply(t, DecideRecovery(w.f)) // RetainVolume
			w.apply(t, DecideRecovery(w.f)) // DeleteClaim
			w.f.Nodes = append(w.f.Nodes, recNode("n1"))
		}, want: RecoveryDeletePod},
		{name: "a fresh claim with the same name already exists → the old pod is deleted, the new claim never", setup: func(w *recWorld) {
			begun(w)
			w.apply(t, DecideRecovery(w.f))
			w.apply(t, DecideRecovery(w.f))
			c, _ := recClaim(1, "n4")
			c.UID, c.Status.Phase, c.Spec.VolumeName = "fresh", corev1.ClaimPending, ""
			w.f.Claims = append(w.f.Claims, c)
		}, want: RecoveryDeletePod},
		{name: "claim released, the StatefulSet controller gave the old pod a fresh claim and it was scheduled → never deleted, finish once Ready", setup: func(w *recWorld) {
			begun(w)
			w.apply(t, DecideRecovery(w.f))
			w.apply(t, DecideRecovery(w.f)) // DeleteClaim
			c, pv := recClaim(1, "n4")
			c.UID, pv.Spec.ClaimRef.UID = "claim-1-new", "claim-1-new"
			pv.Name, c.Spec.VolumeName = "pv-1-new", "pv-1-new"
			w.f.Claims, w.f.Volumes = append(w.f.Claims, c), append(w.f.Volumes, pv)
			p := w.pod("db-1")
			p.Spec.NodeName = "n4"
			p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		}, want: RecoveryFinish},
		{name: "new pod without its claim past the grace → delete it again (kubernetes#113139)", setup: func(w *recWorld) {
			begun(w)
			w.apply(t, DecideRecovery(w.f))
			w.apply(t, DecideRecovery(w.f))
			w.apply(t, DecideRecovery(w.f)) // DeletePod
			p := recPod(w.f.StatefulSet, 1, "", false)
			p.UID, p.Status.Phase = "pod-1-orphan", corev1.PodPending
			p.CreationTimestamp = metav1.NewTime(recNow.Add(-time.Minute))
			w.f.Pods = append(w.f.Pods, p)
		}, want: RecoveryDeletePod},
		{name: "new pod without its claim within the grace → wait (the cache may lag)", setup: func(w *recWorld) {
			begun(w)
			w.apply(t, DecideRecovery(w.f))
			w.apply(t, DecideRecovery(w.f))
			w.apply(t, DecideRecovery(w.f))
			p := recPod(w.f.StatefulSet, 1, "", false)
			p.UID, p.Status.Phase = "pod-1-orphan", corev1.PodPending
			p.CreationTimestamp = metav1.NewTime(recNow.Add(-5 * time.Second))
			w.f.Pods = append(w.f.Pods, p)
		}, want: RecoveryWait},
		{name: "scale-up after the claim was released: fresh pending claim of ordinal 3 is never a target", setup: func(w *recWorld) {
			begun(w)
			w.apply(t, DecideRecovery(w.f))
			w.apply(t, DecideRecovery(w.f))
			w.f.StatefulSet.Spec.Replicas = ptr.To[int32](4)
			c, _ := recClaim(3, "n4")
			c.Status.Phase, c.Spec.VolumeName = corev1.ClaimPending, ""
			w.f.Claims = append(w.f.Claims, c)
		}, want: RecoveryDeletePod},
		{name: "scale-up to 4 before the claim was released: 2 healthy of 4 is below a majority → abort", setup: func(w *recWorld) {
			begun(w)
			w.f.StatefulSet.Spec.Replicas = ptr.To[int32](4)
			c, _ := recClaim(3, "n4")
			c.Status.Phase, c.Spec.VolumeName = corev1.ClaimPending, ""
			w.f.Claims = append(w.f.Claims, c)
		}, want: RecoveryAbort, guard: GuardQuorumLost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newRecWorld(3)
			tt.setup(w)
			d := decide(t, w)
			if d.Action != tt.want || d.Guard != tt.guard {
				t.Errorf("got %s/%q, want %s/%q", d.Action, d.Guard, tt.want, tt.guard)
			}
			if d.Claim != nil && d.Claim.Name != "data-db-1" || d.Pod != nil && d.Pod.Name != "db-1" || d.Volume != nil && d.Volume.Name != "pv-1" {
				t.Errorf("targets another replica: %v %v %v", d.Claim, d.Pod, d.Volume)
			}
			if d.Claim != nil && d.Claim.UID != "claim-1" {
				t.Errorf("targets claim %s, not the recorded one", d.Claim.UID)
			}
		})
	}
}

func TestRecoveryPolicy(t *testing.T) {
	trusting := named("trusting", 1, func(s *v1alpha1.PlacementPolicySpec) { s.OptOut.Namespaces = []string{"legacy"} })
	sts := func(ns string, optOut bool) *appsv1.StatefulSet {
		s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"}}
		if optOut {
			s.Annotations = map[string]string{v1alpha1.OptOutAnnotation: "true"}
		}
		return s
	}
	tests := []struct {
		name string
		set  *Set
		sts  *appsv1.StatefulSet
		want string
	}{
		{"the policy Select picks", NewSet(trusting), sts("data", false), "trusting"},
		{"no set → none", nil, sts("data", false), ""},
		{"system namespace → none", NewSet(trusting), sts("kube-system", false), ""},
		{"opted out where the policy trusts it → none", NewSet(trusting), sts("legacy", true), ""},
		{"opted out where the policy does not trust it → the policy", NewSet(trusting), sts("data", true), "trusting"},
		{"annotation other than true → the policy", NewSet(trusting), func() *appsv1.StatefulSet {
			s := sts("legacy", true)
			s.Annotations[v1alpha1.OptOutAnnotation] = "yes"
			return s
		}(), "trusting"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := ""
			if p := tc.set.RecoveryPolicy(tc.sts, nil); p != nil {
				name = p.Name
			}
			if name != tc.want {
				t.Errorf("RecoveryPolicy = %q, want %q", name, tc.want)
			}
		})
	}
}
