//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/e2e/cluster"
	"github.com/stowage-dev/stowage/e2e/provisioner"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// The recovery suite proves guarded recovery on the scheduling control plane: a replica whose
// local volume is pinned to a node that is deleted, or tainted out-of-service, comes back on a
// live node with a new volume while its old volume is kept (Retain, annotated) and no other
// replica is touched; and with two of three nodes gone nothing is done and the refusal is
// reported and counted.

const (
	recoveryLabel       = "stowage.dev/e2e-recovery"
	recoveryManualLabel = "stowage.dev/e2e-recovery-manual"
)

// recoveryPool returns n fake nodes of their own pool, so that killing them touches no other suite.
func recoveryPool(prefix string, n int) []cluster.NodeSpec {
	zones := []string{"zone-a", "zone-b", "zone-c"}
	var out []cluster.NodeSpec
	for i := 1; i <= n; i++ {
		out = append(out, cluster.NodeSpec{
			Name: fmt.Sprintf("%s-%d", prefix, i), Zone: zones[(i-1)%len(zones)],
			Labels: map[string]string{"stowage.dev/pool": prefix},
			Taints: []corev1.Taint{{Key: "stowage.dev/pool", Value: prefix, Effect: corev1.TaintEffectNoSchedule}},
		})
	}
	return out
}

// createPool creates fake nodes and deletes them when the test ends.
func createPool(t *testing.T, nodes []cluster.NodeSpec) {
	t.Helper()
	deleteAtEnd(t, nodes)
	if err := env.cluster.CreateNodes(context.Background(), nodes); err != nil {
		t.Fatal(err)
	}
}

// deleteAtEnd deletes the nodes (those that still exist) when the test ends.
func deleteAtEnd(t *testing.T, nodes []cluster.NodeSpec) {
	t.Cleanup(func() {
		for _, n := range nodes {
			_ = env.cluster.Client.Delete(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name}})
		}
	})
}

// recoveryPolicy creates an Automatic recovery policy over the StatefulSets labelled label and
// deletes it when the test ends; edit changes it before it is created.
func recoveryPolicy(t *testing.T, name, label string, edit func(*v1alpha1.PlacementPolicySpec)) {
	t.Helper()
	ctx := context.Background()
	pol := &v1alpha1.PlacementPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.PlacementPolicySpec{
			Priority:       100,
			ObjectSelector: &v1alpha1.LabelSelector{MatchLabels: map[string]v1alpha1.LabelValue{label: "true"}},
			Recovery:       v1alpha1.RecoverySpec{Mode: v1alpha1.RecoveryAutomatic},
		},
	}
	if edit != nil {
		edit(&pol.Spec)
	}
	if err := env.cluster.Client.Create(ctx, pol); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.cluster.Client.Delete(ctx, pol) })
}

// recoveryStatefulSet is a three-replica database on the pool, each replica with a local volume.
func recoveryStatefulSet(ns, name, pool, selectedBy string) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{selectedBy: "true"}},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To[int32](3),
			ServiceName:         name,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"stowage.dev/pool": pool},
					Tolerations:  []corev1.Toleration{{Key: "stowage.dev/pool", Operator: corev1.TolerationOpEqual, Value: pool, Effect: corev1.TaintEffectNoSchedule}},
					Containers: []corev1.Container{{Name: "db", Image: "registry.k8s.io/pause:3.10",
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					StorageClassName: ptr.To(provisioner.StorageClassName),
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

// replicaState is what the suite remembers of one replica to prove it was not touched.
type replicaState struct {
	podUID, node, claimUID, volume string
}

func replicaStates(t *testing.T, ns, name string) map[string]replicaState {
	t.Helper()
	ctx := context.Background()
	out := map[string]replicaState{}
	for i := 0; i < 3; i++ {
		pod := fmt.Sprintf("%s-%d", name, i)
		var p corev1.Pod
		var c corev1.PersistentVolumeClaim
		if err := env.cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: pod}, &p); err != nil {
			t.Fatal(err)
		}
		if err := env.cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "data-" + pod}, &c); err != nil {
			t.Fatal(err)
		}
		out[pod] = replicaState{podUID: string(p.UID), node: p.Spec.NodeName, claimUID: string(c.UID), volume: c.Spec.VolumeName}
	}
	return out
}

func waitAllReady(t *testing.T, ns string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "every replica in "+ns+" Ready", func() (bool, error) { return allRunning(t, ns) })
}

// forceDeletePodsOn does now what the pod garbage collector does about 40 s after a node is
// deleted.
func forceDeletePodsOn(t *testing.T, node string) {
	for _, p := range listPods(t) {
		if p.Spec.NodeName == node {
			_ = env.cluster.Client.Delete(context.Background(), &p, client.GracePeriodSeconds(0))
		}
	}
}

// recoveredOnLiveNode waits until replica pod is Ready on a node other than dead, with a new
// claim bound to a volume pinned to that node, and returns how long it took from start.
func recoveredOnLiveNode(t *testing.T, ns, pod, dead string, old replicaState, start time.Time) time.Duration {
	t.Helper()
	return replicaRecovered(t, ns, pod, dead, old.podUID, map[string]claimState{"data-" + pod: {uid: old.claimUID, volume: old.volume}}, start)
}

// claimState is a claim's UID and the volume bound to it.
type claimState struct{ uid, volume string }

// replicaRecovered waits until replica pod is Ready on a node other than dead, as a pod other
// than oldPodUID, with each of its claims (old, by name) replaced by a new claim bound to a new
// volume pinned to the pod's node. It returns how long that took from start, and checks that
// every old volume is kept, Retain and annotated.
func replicaRecovered(t *testing.T, ns, pod, dead, oldPodUID string, old map[string]claimState, start time.Time) time.Duration {
	t.Helper()
	ctx := context.Background()
	defer func() {
		if t.Failed() {
			t.Logf("%s:\n%s\nwebhook log:\n%s", ns, describePods(t, ns), env.webhook.logTail())
		}
	}()
	var took time.Duration
	eventually(t, 3*time.Minute, pod+" Ready on a live node with a new volume", func() (bool, error) {
		var p corev1.Pod
		if err := env.cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: pod}, &p); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		if !podReady(&p) || p.Spec.NodeName == dead || string(p.UID) == oldPodUID {
			return false, nil
		}
		for name, o := range old {
			var c corev1.PersistentVolumeClaim
			if err := env.cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &c); err != nil {
				return false, client.IgnoreNotFound(err)
			}
			if string(c.UID) == o.uid || c.Spec.VolumeName == "" || c.Spec.VolumeName == o.volume {
				return false, nil
			}
			var pv corev1.PersistentVolume
			if err := env.cluster.Client.Get(ctx, client.ObjectKey{Name: c.Spec.VolumeName}, &pv); err != nil {
				return false, client.IgnoreNotFound(err)
			}
			if pinnedNode(&pv) != p.Spec.NodeName {
				return false, fmt.Errorf("new volume %s pinned to %s, pod on %s", pv.Name, pinnedNode(&pv), p.Spec.NodeName)
			}
		}
		took = time.Since(start)
		return true, nil
	})
	// The old volumes are kept, Retain, annotated.
	for _, o := range old {
		if !volumeRetained(t, o.volume) {
			t.Errorf("old volume %s of %s is not kept with reclaim policy Retain and annotated", o.volume, pod)
		}
	}
	return took
}

// volumeRetained says whether a volume exists with reclaim policy Retain and the
// stowage.dev/recovered-from annotation.
func volumeRetained(t *testing.T, name string) bool {
	t.Helper()
	var pv corev1.PersistentVolume
	if err := env.cluster.Client.Get(context.Background(), client.ObjectKey{Name: name}, &pv); err != nil {
		t.Logf("volume %s: %v", name, err)
		return false
	}
	return pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRetain && pv.Annotations[policy.RecoveredFromAnnotation] != ""
}

// untouched checks that every replica but the recovered one keeps its pod, claim and volume.
func untouched(t *testing.T, before, after map[string]replicaState, recovered string) {
	t.Helper()
	for pod, b := range before {
		if pod == recovered {
			continue
		}
		if a := after[pod]; a != b {
			t.Errorf("replica %s was touched: before %+v, after %+v", pod, b, a)
		}
	}
}

func statefulSetAnnotations(t *testing.T, ns, name string) map[string]string {
	t.Helper()
	var sts appsv1.StatefulSet
	if err := env.cluster.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &sts); err != nil {
		t.Fatal(err)
	}
	return sts.Annotations
}

func eventReasons(t *testing.T, ns, kind, name string) []string {
	t.Helper()
	var out []string
	for _, e := range eventsAbout(t, ns, kind, name, "") {
		out = append(out, e.Reason)
	}
	return out
}

// eventsAbout lists the events of a namespace about one object (with uid, only that
// incarnation of it).
func eventsAbout(t *testing.T, ns, kind, name, uid string) []corev1.Event {
	t.Helper()
	var list corev1.EventList
	if err := env.cluster.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name && (uid == "" || string(e.InvolvedObject.UID) == uid) {
			out = append(out, e)
		}
	}
	return out
}

// claimReleased checks that the released claim (that incarnation: uid) carries a ClaimReleased
// event: the event is on the claim as well as on the StatefulSet.
func claimReleased(t *testing.T, ns, claim, uid string) {
	t.Helper()
	err := cluster.WaitFor(context.Background(), 15*time.Second, func() (bool, error) {
		for _, e := range eventsAbout(t, ns, "PersistentVolumeClaim", claim, uid) {
			if e.Reason == "ClaimReleased" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Errorf("no ClaimReleased event on claim %s/%s (uid %s): %v", ns, claim, uid, err)
	}
}

// counter reads one sample of a counter (or a histogram's _count) from the webhook's metrics;
// the first sample whose labels include labels, 0 when there is none.
func counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	text, err := env.webhook.metricsText()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for k, v := range labels {
		want = append(want, fmt.Sprintf(`%s="%s"`, k, v))
	}
	line := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(?:\{([^}]*)\})? (\S+)$`)
	for _, m := range line.FindAllStringSubmatch(text, -1) {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(m[1], w)
		}
		if ok {
			v, _ := strconv.ParseFloat(m[2], 64)
			return v
		}
	}
	return 0
}

func TestRecovery(t *testing.T) {
	ctx := context.Background()
	poolA, poolB, poolC := recoveryPool("rec-a", 5), recoveryPool("rec-b", 3), recoveryPool("rec-c", 4)
	all := append(append(append([]cluster.NodeSpec{}, poolA...), poolB...), poolC...)
	createPool(t, all)
	recoveryPolicy(t, "e2e-recovery", recoveryLabel, nil)
	recoveryPolicy(t, "e2e-recovery-manual", recoveryManualLabel, func(s *v1alpha1.PlacementPolicySpec) { s.Recovery.Mode = v1alpha1.RecoveryManual })

	var report []string
	defer func() {
		t.Logf("recovery results:\n| case | result | time |\n|---|---|---|\n%s", strings.Join(report, "\n"))
	}()

	ns := namespace(t, "rec-auto", nil)
	if err := env.cluster.Client.Create(ctx, recoveryStatefulSet(ns, "db", "rec-a", recoveryLabel)); err != nil {
		t.Fatal(err)
	}
	waitAllReady(t, ns, 2*time.Minute)

	t.Run("node deleted: the replica comes back on a live node, nothing else touched", func(t *testing.T) {
		before := replicaStates(t, ns, "db")
		victim := before["db-1"]
		start := time.Now()
		if err := env.cluster.DeleteNode(ctx, victim.node); err != nil {
			t.Fatal(err)
		}
		forceDeletePodsOn(t, victim.node)
		took := recoveredOnLiveNode(t, ns, "db-1", victim.node, victim, start)
		untouched(t, before, replicaStates(t, ns, "db"), "db-1")
		eventually(t, 30*time.Second, "the recovery record removed and the status says Recovered", func() (bool, error) {
			a := statefulSetAnnotations(t, ns, "db")
			_, inFlight := a[policy.RecoveryAnnotation]
			return !inFlight && strings.Contains(a[policy.RecoveryStatusAnnotation], `"Recovered"`), nil
		})
		reasons := strings.Join(eventReasons(t, ns, "StatefulSet", "db"), ",")
		for _, r := range []string{"RecoveryStarted", "VolumeRetained", "ClaimReleased", "RecoverySucceeded"} {
			if !strings.Contains(reasons, r) {
				t.Errorf("no %s event on the StatefulSet; events: %s", r, reasons)
			}
		}
		claimReleased(t, ns, "data-db-1", victim.claimUID)
		for _, name := range []string{"stowage_recoveries_started_total", "stowage_recoveries_succeeded_total"} {
			if n := counter(t, name, map[string]string{"namespace": ns, "statefulset": "db"}); n < 1 {
				t.Errorf("%s{namespace=%s,statefulset=db} = %v, want ≥ 1", name, ns, n)
			}
		}
		if n := counter(t, "stowage_recovery_duration_seconds_count", nil); n < 1 {
			t.Errorf("stowage_recovery_duration_seconds_count = %v, want ≥ 1", n)
		}
		report = append(report, fmt.Sprintf("| node %s deleted | db-1 Ready on a live node, new volume; old volume Retain+annotated; db-0, db-2 untouched | %s |", victim.node, took.Round(100*time.Millisecond)))
		t.Logf("node deleted → replica Ready on a live node in %s", took.Round(100*time.Millisecond))
	})

	t.Run("out-of-service taint: the same", func(t *testing.T) {
		waitAllReady(t, ns, time.Minute)
		before := replicaStates(t, ns, "db")
		victim := before["db-2"]
		start := time.Now()
		var node corev1.Node
		if err := env.cluster.Client.Get(ctx, client.ObjectKey{Name: victim.node}, &node); err != nil {
			t.Fatal(err)
		}
		node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute})
		if err := env.cluster.Client.Update(ctx, &node); err != nil {
			t.Fatal(err)
		}
		took := recoveredOnLiveNode(t, ns, "db-2", victim.node, victim, start)
		untouched(t, before, replicaStates(t, ns, "db"), "db-2")
		report = append(report, fmt.Sprintf("| node %s tainted out-of-service | db-2 Ready on a live node, new volume; old volume Retain+annotated; others untouched | %s |", victim.node, took.Round(100*time.Millisecond)))
		t.Logf("out-of-service taint → replica Ready on a live node in %s", took.Round(100*time.Millisecond))
	})

	t.Run("two of three nodes gone: quorum lost, nothing done, reported and counted", func(t *testing.T) {
		qns := namespace(t, "rec-quorum", nil)
		if err := env.cluster.Client.Create(ctx, recoveryStatefulSet(qns, "q", "rec-b", recoveryLabel)); err != nil {
			t.Fatal(err)
		}
		waitAllReady(t, qns, 2*time.Minute)
		before := replicaStates(t, qns, "q")
		for _, pod := range []string{"q-0", "q-1"} {
			if err := env.cluster.DeleteNode(ctx, before[pod].node); err != nil {
				t.Fatal(err)
			}
			forceDeletePodsOn(t, before[pod].node)
		}
		eventually(t, 2*time.Minute, "the status annotation says QuorumLost for both stranded replicas", func() (bool, error) {
			s := statefulSetAnnotations(t, qns, "q")[policy.RecoveryStatusAnnotation]
			return strings.Count(s, string(policy.GuardQuorumLost)) >= 2, nil
		})
		time.Sleep(10 * time.Second) // a few more reconciles: still nothing may happen
		a := statefulSetAnnotations(t, qns, "q")
		if _, ok := a[policy.RecoveryAnnotation]; ok {
			t.Errorf("a recovery began without quorum: %s", a[policy.RecoveryAnnotation])
		}
		for _, pod := range []string{"q-0", "q-1"} {
			var c corev1.PersistentVolumeClaim
			if err := env.cluster.Client.Get(ctx, client.ObjectKey{Namespace: qns, Name: "data-" + pod}, &c); err != nil || string(c.UID) != before[pod].claimUID {
				t.Errorf("claim data-%s was released without quorum (err %v)", pod, err)
			}
		}
		if !strings.Contains(strings.Join(eventReasons(t, qns, "StatefulSet", "q"), ","), "RecoveryBlocked") {
			t.Error("no RecoveryBlocked event on the StatefulSet")
		}
		n := counter(t, "stowage_recoveries_refused_total", map[string]string{"namespace": qns, "statefulset": "q", "guard": string(policy.GuardQuorumLost)})
		if n < 1 {
			t.Errorf("stowage_recoveries_refused_total{guard=QuorumLost} = %v", n)
		}
		// The audit says the same: both stranded replicas are Blocked by QuorumLost.
		out, errOut, code := stowage(t, "audit", "-n", qns, "-o", "json")
		var rep struct {
			StatefulSets []struct {
				Name     string `json:"name"`
				Replicas []struct {
					Pod      string `json:"pod"`
					Recovery *struct {
						State string `json:"state"`
						Guard string `json:"guard"`
					} `json:"recovery"`
				} `json:"replicas"`
			} `json:"statefulSets"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("stowage audit (exit %d): %v\n%s", code, err, errOut)
		}
		blocked := 0
		for _, s := range rep.StatefulSets {
			for _, r := range s.Replicas {
				if s.Name == "q" && r.Recovery != nil && r.Recovery.State == "Blocked" && r.Recovery.Guard == string(policy.GuardQuorumLost) {
					blocked++
				}
			}
		}
		if blocked != 2 {
			t.Errorf("the audit shows %d replicas of q blocked by QuorumLost, want 2:\n%s", blocked, out)
		}
		report = append(report, fmt.Sprintf("| 2 of 3 nodes of q deleted | nothing done: claims kept, status QuorumLost, RecoveryBlocked event, refused counter %v, audit: 2 replicas Blocked (QuorumLost) | - |", n))
	})

	t.Run("Manual mode: recover --plan lists the replica, recover does it", func(t *testing.T) {
		mns := namespace(t, "rec-manual", nil)
		if err := env.cluster.Client.Create(ctx, recoveryStatefulSet(mns, "m", "rec-c", recoveryManualLabel)); err != nil {
			t.Fatal(err)
		}
		waitAllReady(t, mns, 2*time.Minute)
		before := replicaStates(t, mns, "m")
		victim := before["m-1"]
		start := time.Now()
		if err := env.cluster.DeleteNode(ctx, victim.node); err != nil {
			t.Fatal(err)
		}
		forceDeletePodsOn(t, victim.node)
		eventually(t, 2*time.Minute, "recover --plan lists m-1 as awaiting approval", func() (bool, error) {
			out, err := runStowage(t, "recover", "--plan", "-n", mns, "-o", "json")
			if err != nil {
				return false, nil
			}
			return strings.Contains(out, `"statefulSet": "m"`) && strings.Contains(out, string(policy.GuardAwaitingApproval)), nil
		})
		table, _ := runStowage(t, "recover", "--plan", "-n", mns)
		t.Logf("recover --plan:\n%s", table)
		time.Sleep(5 * time.Second) // Manual: the controller alone does nothing
		var c corev1.PersistentVolumeClaim
		if err := env.cluster.Client.Get(ctx, client.ObjectKey{Namespace: mns, Name: "data-m-1"}, &c); err != nil || string(c.UID) != victim.claimUID {
			t.Fatalf("Manual mode released the claim without approval (err %v)", err)
		}
		out, err := runStowage(t, "recover", mns+"/m", "1", "--yes", "--timeout", "3m")
		t.Logf("recover %s/m 1 --yes:\n%s", mns, out)
		if err != nil {
			t.Fatalf("recover: %v", err)
		}
		took := recoveredOnLiveNode(t, mns, "m-1", victim.node, victim, start)
		untouched(t, before, replicaStates(t, mns, "m"), "m-1")
		report = append(report, fmt.Sprintf("| Manual: node %s deleted | recover --plan: AwaitingApproval; `stowage recover %s/m 1 --yes` recovered m-1 | %s (incl. the wait for approval) |", victim.node, mns, took.Round(100*time.Millisecond)))

		// A node that comes back before the recovery started means no action.
		before = replicaStates(t, mns, "m")
		back := before["m-2"]
		var spec cluster.NodeSpec
		for _, n := range poolC {
			if n.Name == back.node {
				spec = n
			}
		}
		if err := env.cluster.DeleteNode(ctx, back.node); err != nil {
			t.Fatal(err)
		}
		forceDeletePodsOn(t, back.node)
		eventually(t, 2*time.Minute, "m-2 awaiting approval", func() (bool, error) {
			out, err := runStowage(t, "recover", "--plan", "-n", mns, "-o", "json")
			return err == nil && strings.Contains(out, `"ordinal": 2`) && strings.Contains(out, string(policy.GuardAwaitingApproval)), nil
		})
		if err := env.cluster.CreateNodes(ctx, []cluster.NodeSpec{spec}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Minute, "m-2 Ready again on its returned node", func() (bool, error) {
			var p corev1.Pod
			if err := env.cluster.Client.Get(ctx, client.ObjectKey{Namespace: mns, Name: "m-2"}, &p); err != nil {
				return false, client.IgnoreNotFound(err)
			}
			return podReady(&p) && p.Spec.NodeName == back.node, nil
		})
		after := replicaStates(t, mns, "m")
		if a := after["m-2"]; a.claimUID != back.claimUID || a.volume != back.volume {
			t.Errorf("the returned node's replica lost its claim: before %+v, after %+v", back, a)
		}
		var pv corev1.PersistentVolume
		if err := env.cluster.Client.Get(ctx, client.ObjectKey{Name: back.volume}, &pv); err != nil || pv.Annotations[policy.RecoveredFromAnnotation] != "" {
			t.Errorf("the returned node's volume was touched: %v %v", err, pv.Annotations)
		}
		if _, ok := statefulSetAnnotations(t, mns, "m")[policy.RecoveryAnnotation]; ok {
			t.Error("a recovery began for a node that came back")
		}
		report = append(report, fmt.Sprintf("| Manual: node %s deleted, then back before approval | nothing done: m-2 runs again on it with its own claim and volume | - |", back.node))
	})
}

// runStowage runs the built stowage binary against the shared cluster.
func runStowage(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(env.stowage, append(args, "--kubeconfig", env.cluster.Kubeconfig)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
