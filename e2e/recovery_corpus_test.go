//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/e2e/cluster"
	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/internal/testcorpus"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// The corpus recovery suite: every corpus system with a StatefulSet of three or more replicas
// and volumes runs, as rendered, on a pool of fake nodes of its own (the only change to the
// manifests is the pool's nodeSelector and toleration). A node holding one replica is deleted,
// and the replica must come back on another node with a new volume, its old volume kept
// (Retain, annotated), every other pod and claim of the system untouched, events on the
// StatefulSet and on the released claim. One system loses a second node to the out-of-service
// taint. The table joins the placement report (bin/placement-report.md).

const recoveryCorpusLabel = "stowage.dev/e2e-recovery-corpus"

// recoverySystem is one corpus file recovered on its own pool.
type recoverySystem struct {
	name, file, ns, pool string
	sts                  string // the StatefulSet a replica of which is recovered
	replicas             int
	most                 int  // the most replicas of any StatefulSet of the system
	taint                bool // also recover from the out-of-service taint
	nodes                []cluster.NodeSpec
	running              time.Duration // apply → all Running
	rounds               []recoveryRound
}

// recoveryRound is one node lost and one replica recovered.
type recoveryRound struct {
	cause, pod, node      string
	took                  time.Duration
	retained, untouched   bool
	stsEvents, claimEvent bool
}

// recoveryCorpus returns the corpus systems with a StatefulSet of at least three replicas and a
// volume claim template. Every system gets both rounds: a deleted node, then an out-of-service
// taint on another node.
func recoveryCorpus(t *testing.T) []*recoverySystem {
	t.Helper()
	var out []*recoverySystem
	for _, f := range testcorpus.Files(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := &recoverySystem{name: strings.TrimSuffix(filepath.Base(f), ".yaml"), file: f}
		most := 0
		errs := stream.Read(f, data, func(d *stream.Document) error {
			if d.Kind != "StatefulSet" {
				return nil
			}
			var sts appsv1.StatefulSet
			if _, err := stream.Decode(d, &sts); err != nil {
				return err
			}
			n := int(ptr.Deref(sts.Spec.Replicas, 1))
			most = max(most, n)
			if s.sts == "" && n >= 3 && len(sts.Spec.VolumeClaimTemplates) > 0 {
				s.sts, s.replicas = sts.Name, n
			}
			return nil
		})
		if len(errs) > 0 {
			t.Fatalf("%s: %v", f, errs)
		}
		if s.sts == "" {
			continue
		}
		s.most = most
		s.ns, s.pool = "rc-"+s.name, "rc-"+s.name
		s.taint = true
		out = append(out, s)
	}
	if len(out) == 0 {
		t.Fatal("no corpus system has a StatefulSet of three or more replicas with volumes")
	}
	for _, s := range out {
		// One spare node per node lost, so that hard anti-affinity leaves a place to go.
		spare := 1
		if s.taint {
			spare = 2
		}
		s.nodes = recoveryPool(s.pool, s.most+spare)
	}
	return out
}

// onPool moves a rendered manifest into ns and pins every StatefulSet's pods to the pool: a
// nodeSelector and a toleration of its taint, added with the same YAML patching `stowage check
// --fix` uses, so nothing else in the file changes.
func onPool(file string, data []byte, ns, pool string) (string, error) {
	var docs []string
	var failed error
	errs := stream.Read(file, []byte(inNamespace(data, ns)), func(d *stream.Document) error {
		if d.Kind != "StatefulSet" {
			docs = append(docs, string(d.Raw))
			return nil
		}
		ops := []jsonpatch.Operation{
			{Operation: "add", Path: "/spec/template/spec/nodeSelector/stowage.dev~1pool", Value: pool},
			{Operation: "add", Path: "/spec/template/spec/tolerations/-", Value: map[string]any{
				"key": "stowage.dev/pool", "operator": "Equal", "value": pool, "effect": "NoSchedule"}},
		}
		if err := stream.ApplyPatchIn(d.Root, d.Node, ops); err != nil {
			failed = fmt.Errorf("%s:%d: %w", file, d.Line, err)
			return failed
		}
		b, err := stream.Encode(d.Root)
		docs = append(docs, string(b))
		return err
	})
	if len(errs) > 0 {
		return "", fmt.Errorf("%s: %v", file, errs)
	}
	return strings.Join(docs, "\n---\n"), failed
}

// namespaceUIDs maps "Pod/NAME" and "PersistentVolumeClaim/NAME" of a namespace to their UIDs.
func namespaceUIDs(t *testing.T, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range listPods(t, client.InNamespace(ns)) {
		out["Pod/"+p.Name] = string(p.UID)
	}
	var claims corev1.PersistentVolumeClaimList
	if err := env.cluster.Client.List(context.Background(), &claims, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, c := range claims.Items {
		out["PersistentVolumeClaim/"+c.Name] = string(c.UID)
	}
	return out
}

// pickVictim returns a Ready replica of the system's StatefulSet whose node holds no other pod
// of the system, so that losing the node strands exactly that replica, and its claims.
func pickVictim(t *testing.T, s *recoverySystem, sts *appsv1.StatefulSet) (corev1.Pod, map[string]claimState) {
	t.Helper()
	pods := listPods(t, client.InNamespace(s.ns))
	perNode := map[string]int{}
	for _, p := range pods {
		perNode[p.Spec.NodeName]++
	}
	mine := podsOf(pods, sts)
	slices.SortFunc(mine, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	for _, p := range mine {
		if !podReady(&p) || perNode[p.Spec.NodeName] != 1 {
			continue
		}
		claims := map[string]claimState{}
		for _, tmpl := range sts.Spec.VolumeClaimTemplates {
			var c corev1.PersistentVolumeClaim
			name := tmpl.Name + "-" + p.Name
			if err := env.cluster.Client.Get(context.Background(), client.ObjectKey{Namespace: s.ns, Name: name}, &c); err != nil {
				t.Fatalf("claim %s of %s: %v", name, p.Name, err)
			}
			claims[name] = claimState{uid: string(c.UID), volume: c.Spec.VolumeName}
		}
		return p, claims
	}
	t.Fatalf("%s: no replica of %s is alone on its node:\n%s", s.name, sts.Name, describePods(t, s.ns))
	return corev1.Pod{}, nil
}

// recoverOnce loses the node of one replica of the system (deleted, or tainted out-of-service)
// and checks the recovery: the replica Ready elsewhere with new volumes, the old ones retained,
// nothing else touched, the record cleared, events on the StatefulSet and the claims.
func recoverOnce(t *testing.T, s *recoverySystem, cause string) recoveryRound {
	t.Helper()
	ctx := context.Background()
	var sts appsv1.StatefulSet
	if err := env.cluster.Client.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: s.sts}, &sts); err != nil {
		t.Fatal(err)
	}
	before := namespaceUIDs(t, s.ns)
	victim, claims := pickVictim(t, s, &sts)
	r := recoveryRound{cause: cause, pod: victim.Name, node: victim.Spec.NodeName}
	start := time.Now()
	switch cause {
	case "node deleted":
		if err := env.cluster.DeleteNode(ctx, r.node); err != nil {
			t.Fatal(err)
		}
		forceDeletePodsOn(t, r.node)
	case "out-of-service taint":
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var node corev1.Node
			if err := env.cluster.Client.Get(ctx, client.ObjectKey{Name: r.node}, &node); err != nil {
				return err
			}
			node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute})
			return env.cluster.Client.Update(ctx, &node)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	r.took = replicaRecovered(t, s.ns, victim.Name, r.node, string(victim.UID), claims, start)
	r.retained = true
	for _, c := range claims {
		r.retained = r.retained && volumeRetained(t, c.volume)
	}
	after := namespaceUIDs(t, s.ns)
	r.untouched = true
	for key, uid := range before {
		kind, name, _ := strings.Cut(key, "/")
		if (kind == "Pod" && name == victim.Name) || (kind == "PersistentVolumeClaim" && claims[name].uid != "") {
			continue
		}
		if after[key] != uid {
			t.Errorf("%s: %s was touched by the recovery of %s: uid %s, now %q", s.name, key, victim.Name, uid, after[key])
			r.untouched = false
		}
	}
	eventually(t, time.Minute, s.sts+": recovery record removed, status Recovered", func() (bool, error) {
		a := statefulSetAnnotations(t, s.ns, s.sts)
		_, inFlight := a[policy.RecoveryAnnotation]
		return !inFlight && strings.Contains(a[policy.RecoveryStatusAnnotation], `"Recovered"`), nil
	})
	// The status annotation is written before the RecoverySucceeded event, which the event
	// broadcaster sends on its own time: wait for the events rather than read them once.
	wantEvents := []string{"RecoveryStarted", "VolumeRetained", "ClaimReleased", "RecoverySucceeded"}
	var reasons string
	missing := func() []string {
		reasons = strings.Join(eventReasons(t, s.ns, "StatefulSet", s.sts), ",")
		return slices.DeleteFunc(slices.Clone(wantEvents), func(w string) bool { return strings.Contains(reasons, w) })
	}
	_ = cluster.WaitFor(ctx, 30*time.Second, func() (bool, error) { return len(missing()) == 0, nil })
	r.stsEvents = true
	for _, want := range missing() {
		t.Errorf("%s: no %s event on StatefulSet %s within 30s; events: %s", s.name, want, s.sts, reasons)
		r.stsEvents = false
	}
	r.claimEvent = true
	for name, c := range claims {
		failed := t.Failed()
		claimReleased(t, s.ns, name, c.uid)
		r.claimEvent = r.claimEvent && (failed || !t.Failed())
	}
	t.Logf("%s: node %s %s → %s Ready on a live node with a new volume in %s", s.name, r.node, cause, victim.Name, r.took.Round(100*time.Millisecond))
	return r
}

func TestRecoveryCorpus(t *testing.T) {
	ctx := context.Background()
	systems := recoveryCorpus(t)
	recoveryPolicy(t, "e2e-recovery-corpus", "", func(s *v1alpha1.PlacementPolicySpec) {
		s.ObjectSelector = nil
		s.NamespaceSelector = &v1alpha1.LabelSelector{MatchLabels: map[string]v1alpha1.LabelValue{recoveryCorpusLabel: "true"}}
	})
	for _, s := range systems {
		namespace(t, s.ns, map[string]string{recoveryCorpusLabel: "true"})
		deleteAtEnd(t, s.nodes)
	}
	// Every system's pool and manifests, a few at a time; each timed from its apply to all its
	// replicas Running.
	suiteStart := time.Now()
	failures := fewAtATime(4, len(systems), func(i int) error {
		s := systems[i]
		err := env.cluster.CreateNodes(ctx, s.nodes)
		var manifest string
		if err == nil {
			var data []byte
			if data, err = os.ReadFile(s.file); err == nil {
				manifest, err = onPool(s.file, data, s.ns, s.pool)
			}
		}
		if err == nil {
			s.running, err = applyRunning(t, s.ns, manifest)
		}
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", s.name, err, describePods(t, s.ns))
		}
		return nil
	})
	if len(failures) > 0 {
		t.Fatalf("systems that did not come up:\n%v", errors.Join(failures...))
	}
	t.Logf("%d systems Running %s after the first apply", len(systems), time.Since(suiteStart).Round(time.Second))

	// One recovery at a time (the cluster-wide cap is 1), so each time is the recovery's own.
	durations := counter(t, "stowage_recovery_duration_seconds_count", nil)
	rounds := 0
	defer func() { writeRecoveryReport(t, systems, time.Since(suiteStart)) }()
	for _, s := range systems {
		// A recovery left in flight would hold every later one at the cluster-wide cap.
		if t.Failed() {
			break
		}
		t.Run("system="+s.name, func(t *testing.T) {
			s.rounds = append(s.rounds, recoverOnce(t, s, "node deleted"))
			rounds++
			if s.taint && !t.Failed() {
				s.rounds = append(s.rounds, recoverOnce(t, s, "out-of-service taint"))
				rounds++
			}
			labels := map[string]string{"namespace": s.ns, "statefulset": s.sts}
			for _, name := range []string{"stowage_recoveries_started_total", "stowage_recoveries_succeeded_total"} {
				// The counters grow just after the status annotation the rounds wait for.
				var n float64
				_ = cluster.WaitFor(ctx, 10*time.Second, func() (bool, error) {
					n = counter(t, name, labels)
					return int(n) == len(s.rounds), nil
				})
				if int(n) != len(s.rounds) {
					t.Errorf("%s%v = %v, want %d", name, labels, n, len(s.rounds))
				}
			}
		})
	}
	var n float64
	_ = cluster.WaitFor(ctx, 10*time.Second, func() (bool, error) {
		n = counter(t, "stowage_recovery_duration_seconds_count", nil) - durations
		return int(n) == rounds, nil
	})
	if int(n) != rounds {
		t.Errorf("stowage_recovery_duration_seconds_count grew by %v over %d recoveries", n, rounds)
	}
}

// recoveryReportMarker starts the recovery section of the placement report; a new run replaces
// everything from it on.
const recoveryReportMarker = "<!-- recovery: written by TestRecoveryCorpus -->"

// writeRecoveryReport puts the per-system table into bin/placement-report.md, after what the
// placement suite wrote there, replacing the table of an earlier run.
func writeRecoveryReport(t *testing.T, systems []*recoverySystem, total time.Duration) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n### Recovery of a replica stranded on a lost node (`TestRecoveryCorpus`)\n\n", recoveryReportMarker)
	b.WriteString("Each system on a pool of its own (replicas + 2 nodes: one lost to deletion, one to the taint); the pods of a deleted node are removed at once, as the pod garbage collector does about 40 s later. Times from the node's loss to the replica Ready on a live node with a new volume.\n\n")
	b.WriteString("| system | StatefulSet | replicas | apply → all Running | node deleted → Running | out-of-service taint → Running | old PV Retain + annotated | others untouched | events (StatefulSet, claim) |\n|---|---|---|---|---|---|---|---|---|\n")
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	for _, s := range systems {
		deleted, tainted := "—", "—"
		retained, untouched, events := len(s.rounds) > 0, len(s.rounds) > 0, len(s.rounds) > 0
		for _, r := range s.rounds {
			took := r.took.Round(100 * time.Millisecond).String()
			if r.cause == "node deleted" {
				deleted = took
			} else {
				tainted = took
			}
			retained, untouched, events = retained && r.retained, untouched && r.untouched, events && r.stsEvents && r.claimEvent
		}
		if len(s.rounds) == 0 {
			deleted = "not run"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", s.name, s.sts, s.replicas, s.running.Round(100*time.Millisecond),
			deleted, tainted, yes(retained), yes(untouched), yes(events))
	}
	fmt.Fprintf(&b, "\nWhole recovery corpus suite: %s.\n", total.Round(time.Second))
	t.Log("\n" + b.String())
	path := filepath.Join(env.root, "bin", "placement-report.md")
	old, _ := os.ReadFile(path)
	head, _, _ := strings.Cut(string(old), recoveryReportMarker)
	if head != "" && !strings.HasSuffix(head, "\n\n") {
		head = strings.TrimRight(head, "\n") + "\n\n"
	}
	if err := os.WriteFile(path, []byte(head+b.String()), 0o644); err == nil {
		t.Logf("recovery table written to %s", path)
	}
}
