//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// Recovery under failure: Stowage crashes at every step boundary of a recovery and is started
// again, and a StatefulSet scales up while one of its replicas is recovering
// (sig-storage-local-static-provisioner#405: a cleanup controller deleted the fresh claims of a
// scale-up).

const (
	recoveryRestartLabel = "stowage.dev/e2e-recovery-restarts"
	recoveryScaleLabel   = "stowage.dev/e2e-recovery-scale"
)

// crashAfter starts Stowage (as env.webhook, on the same ports) with --recovery-exit-after=step
// and a short lease, and waits until it has taken that step and exited as a crash does (status
// 3, lease kept). It returns how long the process ran.
func crashAfter(t *testing.T, step policy.RecoveryAction) time.Duration {
	t.Helper()
	start := time.Now()
	w, _, err := env.startWebhook(env.webhook.certDir, false, "--recovery-exit-after="+string(step),
		"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s")
	if w == nil {
		t.Fatalf("starting stowage to exit after %s: %v", step, err)
	}
	env.webhook = w
	// It may exit before /readyz was seen: startWebhook then reports the exit, which is expected.
	select {
	case <-w.waited:
	case <-time.After(3 * time.Minute):
		t.Fatalf("stowage did not exit after the %s step (start: %v):\n%s", step, err, w.logTail())
	}
	log := fileTail(w.logPath, 400)
	if code := w.cmd.ProcessState.ExitCode(); code != 3 || !strings.Contains(log, "exiting after the recovery step") {
		t.Fatalf("stowage exited with status %d, not 3 after the %s step:\n%s", code, step, w.logTail())
	}
	return time.Since(start)
}

func recoveryRecord(t *testing.T, ns, name string) *policy.RecoveryRecord {
	t.Helper()
	s, ok := statefulSetAnnotations(t, ns, name)[policy.RecoveryAnnotation]
	if !ok {
		t.Fatalf("StatefulSet %s/%s has no recovery in flight", ns, name)
	}
	rec, err := policy.ParseRecoveryRecord(s)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// live says whether the named object exists as that incarnation (uid) and is not being deleted.
func live(t *testing.T, obj client.Object, ns, name, uid string) bool {
	t.Helper()
	err := env.cluster.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(obj.GetUID()) == uid && obj.GetDeletionTimestamp() == nil
}

// TestRecoveryRestarts stops Stowage right after each step of a recovery — the record written,
// the volume retained, the claim released, the pod deleted — and starts it again: each new
// process resumes at the next step, and the last one finishes the recovery.
func TestRecoveryRestarts(t *testing.T) {
	ctx := context.Background()
	// Three nodes: once one is gone the replica has nowhere to go, so the pod stays unscheduled
	// and Stowage must delete it (no fresh claim lets the scheduler place it first). The fourth
	// node comes at the end.
	pool := recoveryPool("rec-k", 4)
	deleteAtEnd(t, pool)
	createPool(t, pool[:3])
	recoveryPolicy(t, "e2e-recovery-restarts", recoveryRestartLabel, nil)
	ns := namespace(t, "rec-restarts", nil)
	if err := env.cluster.Client.Create(ctx, recoveryStatefulSet(ns, "k", "rec-k", recoveryRestartLabel)); err != nil {
		t.Fatal(err)
	}
	waitAllReady(t, ns, 2*time.Minute)
	before := replicaStates(t, ns, "k")
	victim := before["k-1"]

	// From here each Stowage runs until it has taken one step. Whatever happens, the suites
	// after this one get an ordinary Stowage back.
	crashing := true
	t.Cleanup(func() {
		if !crashing {
			return
		}
		env.webhook.stop()
		if w, _, err := env.startWebhook(env.webhook.certDir, false); err == nil {
			env.webhook = w
		} else {
			t.Errorf("restarting stowage: %v", err)
		}
	})
	env.webhook.stop()
	start := time.Now()
	if err := env.cluster.DeleteNode(ctx, victim.node); err != nil {
		t.Fatal(err)
	}
	forceDeletePodsOn(t, victim.node)

	var report []string
	var rec *policy.RecoveryRecord
	for _, step := range []policy.RecoveryAction{policy.RecoveryBegin, policy.RecoveryRetainVolume, policy.RecoveryDeleteClaim, policy.RecoveryDeletePod} {
		ran := crashAfter(t, step)
		rec = recoveryRecord(t, ns, "k")
		if rec.Ordinal != 1 || len(rec.Claims) != 1 || string(rec.Claims[0].UID) != victim.claimUID {
			t.Fatalf("after %s: the record is about %+v, not replica 1 and claim %s", step, rec, victim.claimUID)
		}
		claimLive := live(t, &corev1.PersistentVolumeClaim{}, ns, "data-k-1", victim.claimUID)
		podLive := live(t, &corev1.Pod{}, ns, "k-1", string(rec.PodUID))
		retained := volumeRetained(t, victim.volume)
		var want [3]bool // claim live, pod live, volume retained
		switch step {
		case policy.RecoveryBegin:
			want = [3]bool{true, true, false}
		case policy.RecoveryRetainVolume:
			want = [3]bool{true, true, true}
		case policy.RecoveryDeleteClaim:
			want = [3]bool{false, true, true}
		case policy.RecoveryDeletePod:
			want = [3]bool{false, false, true}
		}
		if got := [3]bool{claimLive, podLive, retained}; got != want {
			t.Fatalf("after %s and the crash: claim live %v, stranded pod live %v, volume retained %v; want %v\n%s",
				step, got[0], got[1], got[2], want, env.webhook.logTail())
		}
		report = append(report, fmt.Sprintf("| %s | exited with status 3 after %s | record kept; claim live %v, stranded pod live %v, volume retained %v |",
			step, ran.Round(100*time.Millisecond), claimLive, podLive, retained))
	}

	// An ordinary Stowage takes over; the replica gets a node to go to.
	w, _, err := env.startWebhook(env.webhook.certDir, false)
	if err != nil {
		t.Fatalf("restarting stowage: %v", err)
	}
	env.webhook, crashing = w, false
	if err := env.cluster.CreateNodes(ctx, pool[3:]); err != nil {
		t.Fatal(err)
	}
	took := recoveredOnLiveNode(t, ns, "k-1", victim.node, victim, start)
	untouched(t, before, replicaStates(t, ns, "k"), "k-1")
	eventually(t, time.Minute, "the recovery record removed and the status says Recovered", func() (bool, error) {
		a := statefulSetAnnotations(t, ns, "k")
		_, inFlight := a[policy.RecoveryAnnotation]
		return !inFlight && strings.Contains(a[policy.RecoveryStatusAnnotation], `"Recovered"`), nil
	})
	if n := counter(t, "stowage_recoveries_succeeded_total", map[string]string{"namespace": ns, "statefulset": "k"}); n != 1 {
		t.Errorf("stowage_recoveries_succeeded_total on the Stowage that finished = %v, want 1", n)
	}
	t.Logf("crashes at every step boundary:\n| crashed after | process | state found |\n|---|---|---|\n%s\nfinished by an ordinary Stowage: k-1 Ready on %s with a new volume %s after the node was deleted (4 crashes and restarts included)",
		strings.Join(report, "\n"), "a live node", took.Round(100*time.Millisecond))
}

// claimWatch records, from a watch, every claim of a namespace created and every deletion.
type claimWatch struct {
	mu      sync.Mutex
	created map[string][]string // name → UIDs, in the order they appeared
	deleted map[string]string   // UID → name, for every claim whose deletion was seen
	err     error
	cancel  context.CancelFunc
	done    chan struct{}
}

func watchClaims(t *testing.T, ns string) *claimWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &claimWatch{created: map[string][]string{}, deleted: map[string]string{}, cancel: cancel, done: make(chan struct{})}
	claims := env.cluster.Clientset.CoreV1().PersistentVolumeClaims(ns)
	list, err := claims.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		w.see(watch.Added, &list.Items[i])
	}
	rv := list.ResourceVersion
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			wi, err := claims.Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
			if err != nil {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			for ev := range wi.ResultChan() {
				c, ok := ev.Object.(*corev1.PersistentVolumeClaim)
				if !ok {
					if ev.Type == watch.Error && ctx.Err() == nil { // not the watch ending with stop
						w.mu.Lock()
						w.err = fmt.Errorf("claim watch: %v", ev.Object)
						w.mu.Unlock()
						wi.Stop()
						return
					}
					continue
				}
				rv = c.ResourceVersion
				w.see(ev.Type, c)
			}
			wi.Stop()
		}
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *claimWatch) see(typ watch.EventType, c *corev1.PersistentVolumeClaim) {
	w.mu.Lock()
	defer w.mu.Unlock()
	uid := string(c.UID)
	if uids := w.created[c.Name]; len(uids) == 0 || uids[len(uids)-1] != uid {
		w.created[c.Name] = append(w.created[c.Name], uid)
	}
	if typ == watch.Deleted || c.DeletionTimestamp != nil {
		w.deleted[uid] = c.Name
	}
}

func (w *claimWatch) stop() {
	w.cancel()
	<-w.done
}

// TestRecoveryScaleUpKeepsFreshClaims scales a StatefulSet up while one of its replicas is
// recovering, with the recovered replica and the new ones all waiting for a node, their claims
// fresh and unbound: Stowage deletes the stranded claim and no other, before and after the
// nodes come.
func TestRecoveryScaleUpKeepsFreshClaims(t *testing.T) {
	ctx := context.Background()
	pool := recoveryPool("rec-s", 6)
	deleteAtEnd(t, pool)
	createPool(t, pool[:3])
	// Scaling past the live nodes of the pool is what an autoscaled pool sees: warn, not deny.
	recoveryPolicy(t, "e2e-recovery-scale", recoveryScaleLabel, func(s *v1alpha1.PlacementPolicySpec) {
		s.NodeCapacity.WhenInsufficient = v1alpha1.CapacityWarn
	})
	ns := namespace(t, "rec-scale", nil)
	if err := env.cluster.Client.Create(ctx, recoveryStatefulSet(ns, "s", "rec-s", recoveryScaleLabel)); err != nil {
		t.Fatal(err)
	}
	waitAllReady(t, ns, 2*time.Minute)
	before := replicaStates(t, ns, "s")
	victim := before["s-1"]
	claims := watchClaims(t, ns)

	start := time.Now()
	if err := env.cluster.DeleteNode(ctx, victim.node); err != nil {
		t.Fatal(err)
	}
	forceDeletePodsOn(t, victim.node)
	// The recovery is in flight and past its last deletion: s-1 is a new pod with a fresh claim,
	// waiting for a node.
	eventually(t, 2*time.Minute, "the recovery of s-1 in flight, its stranded pod and claim replaced", func() (bool, error) {
		s, ok := statefulSetAnnotations(t, ns, "s")[policy.RecoveryAnnotation]
		if !ok {
			return false, nil
		}
		rec, err := policy.ParseRecoveryRecord(s)
		if err != nil {
			return false, err
		}
		var p corev1.Pod
		var c corev1.PersistentVolumeClaim
		if env.cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "s-1"}, &p) != nil ||
			env.cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "data-s-1"}, &c) != nil {
			return false, nil
		}
		return p.UID != rec.PodUID && string(p.UID) != victim.podUID && p.Spec.NodeName == "" && string(c.UID) != victim.claimUID, nil
	})
	kubectl(t, "scale", "statefulset", "-n", ns, "s", "--replicas=5")
	eventually(t, time.Minute, "s-3 and s-4 created with fresh claims, unscheduled", func() (bool, error) {
		for _, name := range []string{"s-3", "s-4"} {
			var p corev1.Pod
			var c corev1.PersistentVolumeClaim
			if env.cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p) != nil ||
				env.cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "data-" + name}, &c) != nil {
				return false, nil
			}
			if !unschedulable(&p) || c.Status.Phase != corev1.ClaimPending {
				return false, nil
			}
		}
		return true, nil
	})
	// Several reconciles (every 5 s while waiting, and on every pod and claim change) see the
	// fresh claims; the recovery stays in flight.
	time.Sleep(12 * time.Second)
	if _, ok := statefulSetAnnotations(t, ns, "s")[policy.RecoveryAnnotation]; !ok {
		t.Fatal("the recovery ended before s-1 had a node")
	}
	if err := env.cluster.CreateNodes(ctx, pool[3:]); err != nil {
		t.Fatal(err)
	}
	took := recoveredOnLiveNode(t, ns, "s-1", victim.node, victim, start)
	waitAllReady(t, ns, 2*time.Minute)
	eventually(t, time.Minute, "the recovery record removed", func() (bool, error) {
		_, inFlight := statefulSetAnnotations(t, ns, "s")[policy.RecoveryAnnotation]
		return !inFlight, nil
	})
	untouched(t, before, replicaStates(t, ns, "s"), "s-1")
	claims.stop()
	if claims.err != nil {
		t.Fatal(claims.err)
	}
	want := map[string]string{victim.claimUID: "data-s-1"}
	if fmt.Sprint(claims.deleted) != fmt.Sprint(want) {
		t.Errorf("claims deleted: %v; want only the stranded one, %v", claims.deleted, want)
	}
	for _, name := range []string{"data-s-1", "data-s-3", "data-s-4"} {
		var c corev1.PersistentVolumeClaim
		if err := env.cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &c); err != nil {
			t.Fatalf("claim %s: %v", name, err)
		}
		uids := claims.created[name]
		if len(uids) == 0 || uids[len(uids)-1] != string(c.UID) || c.Status.Phase != corev1.ClaimBound {
			t.Errorf("claim %s: %s, uid %s; incarnations seen %v: the fresh claim was replaced", name, c.Status.Phase, c.UID, uids)
		}
	}
	if uids := claims.created["data-s-1"]; len(uids) != 2 {
		t.Errorf("data-s-1 had %d incarnations %v, want 2 (the stranded claim and one fresh claim)", len(uids), uids)
	}
	t.Logf("scaled to 5 during the recovery of s-1: only the stranded claim deleted; s-1 Ready on a live node %s after the node was deleted (incl. the wait for new nodes)",
		took.Round(100*time.Millisecond))
}

// unschedulable says whether the scheduler found no node for a pod.
func unschedulable(p *corev1.Pod) bool {
	if p.Spec.NodeName != "" {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return true
		}
	}
	return false
}
