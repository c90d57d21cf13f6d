//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/e2e/cluster"
	"github.com/stowage-dev/stowage/internal/testcorpus"
)

// The placement suite proves the physical promise on a control plane that schedules: every
// corpus system, applied as rendered through the webhook, ends with its replicas on distinct
// nodes, its volumes pinned to those nodes, exactly one budget per replicated StatefulSet;
// drains take one replica at a time; a dead node strands its replica, visibly. A control run
// shows the co-location Stowage prevents.

// system is one corpus file applied in a namespace of its own.
type system struct {
	name, file, ns string
	running        time.Duration
}

// row is one line of the placement report.
type row struct {
	system, statefulSet     string
	replicas, nodes, pinned int
	budgets                 int
	running                 time.Duration
	notes                   string
}

var namespaceLine = regexp.MustCompile(`(?m)^(\s*)namespace: "?data"?\s*$`)

// inNamespace moves a corpus manifest from the namespace it was rendered for to ns.
func inNamespace(manifest []byte, ns string) string {
	return namespaceLine.ReplaceAllString(string(manifest), "${1}namespace: "+ns)
}

func statefulSets(t *testing.T, ns string) []appsv1.StatefulSet {
	t.Helper()
	var list appsv1.StatefulSetList
	if err := env.cluster.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// podsOf returns the pods a StatefulSet controls.
func podsOf(pods []corev1.Pod, sts *appsv1.StatefulSet) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.Kind == "StatefulSet" && ref.Name == sts.Name && p.Namespace == sts.Namespace {
			out = append(out, p)
		}
	}
	return out
}

func listPods(t *testing.T, opts ...client.ListOption) []corev1.Pod {
	t.Helper()
	var list corev1.PodList
	if err := env.cluster.Client.List(context.Background(), &list, opts...); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func allRunning(t *testing.T, ns string) (bool, error) {
	sets := statefulSets(t, ns)
	if len(sets) == 0 {
		return false, nil
	}
	pods := listPods(t, client.InNamespace(ns))
	for i := range sets {
		want := int32(1)
		if sets[i].Spec.Replicas != nil {
			want = *sets[i].Spec.Replicas
		}
		ready := 0
		for _, p := range podsOf(pods, &sets[i]) {
			if podReady(&p) {
				ready++
			}
		}
		if int32(ready) != want {
			return false, nil
		}
	}
	return true, nil
}

// describePods summarises the pods of a namespace that are not Ready, with the scheduler's reason.
func describePods(t *testing.T, ns string) string {
	var b strings.Builder
	for _, sts := range statefulSets(t, ns) {
		fmt.Fprintf(&b, "  StatefulSet %s: replicas %d, ready %d, current %d\n", sts.Name, *sts.Spec.Replicas, sts.Status.ReadyReplicas, sts.Status.CurrentReplicas)
	}
	for _, p := range listPods(t, client.InNamespace(ns)) {
		if podReady(&p) {
			continue
		}
		fmt.Fprintf(&b, "  pod %s on %q: %s", p.Name, p.Spec.NodeName, p.Status.Phase)
		for _, c := range p.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				fmt.Fprintf(&b, "; %s=%s %s %s", c.Type, c.Status, c.Reason, c.Message)
			}
		}
		b.WriteString("\n")
	}
	var events corev1.EventList
	if err := env.cluster.Client.List(context.Background(), &events, client.InNamespace(ns)); err == nil {
		for _, e := range events.Items {
			if e.Type == corev1.EventTypeWarning {
				fmt.Fprintf(&b, "  event %s/%s: %s %s\n", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
			}
		}
	}
	return b.String()
}

// pinnedNode returns the hostname a local PV's required node affinity pins it to.
func pinnedNode(pv *corev1.PersistentVolume) string {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return ""
	}
	for _, term := range pv.Spec.NodeAffinity.Required.NodeSelectorTerms {
		for _, r := range term.MatchExpressions {
			if r.Key == corev1.LabelHostname && r.Operator == corev1.NodeSelectorOpIn && len(r.Values) == 1 {
				return r.Values[0]
			}
		}
	}
	return ""
}

func TestPlacement(t *testing.T) {
	ctx := context.Background()
	var systems []*system
	for _, f := range testcorpus.Files(t) {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		systems = append(systems, &system{name: name, file: f, ns: "p-" + name})
	}

	// Apply every system, all its objects as rendered, each in a namespace of its own, a few
	// at a time, and time each from its apply to all its replicas Running.
	suiteStart := time.Now()
	for _, s := range systems {
		namespace(t, s.ns, nil)
	}
	defer func() {
		if t.Failed() {
			for _, s := range systems {
				if s.running == 0 {
					t.Logf("%s is not Running:\n%s", s.name, describePods(t, s.ns))
				}
			}
		}
	}()
	failures := fewAtATime(4, len(systems), func(i int) error {
		s := systems[i]
		data, err := os.ReadFile(s.file)
		if err == nil {
			s.running, err = applyRunning(t, s.ns, inNamespace(data, s.ns))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		return nil
	})
	if len(failures) > 0 {
		t.Fatalf("systems that did not come up:\n%v", errors.Join(failures...))
	}
	t.Logf("all %d systems Running %s after the first apply", len(systems), time.Since(suiteStart).Round(time.Millisecond))

	var rows []row
	for _, s := range systems {
		t.Run("system="+s.name, func(t *testing.T) {
			rows = append(rows, checkSystem(t, s)...)
		})
	}

	t.Run("drains take one replica at a time", func(t *testing.T) { checkDrains(t, systems) })
	stranded := ""
	if !t.Failed() {
		t.Run("a dead node strands its replicas, visibly", func(t *testing.T) { stranded = checkNodeDeath(t, systems) })
	}

	// The operator suite (operator_test.go) ran before: its StatefulSets join the report.
	report := placementReport(append(rows, operatorRows...), time.Since(suiteStart), stranded) + operatorNotes
	t.Log("\n" + report)
	path := filepath.Join(env.root, "bin", "placement-report.md")
	if err := os.WriteFile(path, []byte(report), 0o644); err == nil {
		t.Logf("report written to %s", path)
	}
	_ = ctx
}

// applyRunning applies a manifest (in namespace ns) and waits until every StatefulSet of ns has
// all its replicas Running. It returns the time from the apply.
func applyRunning(t *testing.T, ns, manifest string) (time.Duration, error) {
	applied := time.Now()
	out, errOut, err := env.cluster.KubectlWithInput(context.Background(), strings.NewReader(manifest), "apply", "-f", "-")
	if err != nil {
		return 0, fmt.Errorf("kubectl apply: %v\n%s%s", err, out, errOut)
	}
	if err := cluster.WaitFor(context.Background(), 4*time.Minute, func() (bool, error) { return allRunning(t, ns) }); err != nil {
		return 0, err
	}
	return time.Since(applied), nil
}

// fewAtATime runs job for every index below n, at most k at once, and returns the errors of the
// jobs that failed.
func fewAtATime(k, n int, job func(i int) error) []error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	slots := make(chan struct{}, k)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			if err := job(i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

// checkSystem checks the distinct nodes, pinned volumes and budgets of one system.
func checkSystem(t *testing.T, s *system) []row {
	ctx := context.Background()
	pods := listPods(t, client.InNamespace(s.ns))
	var budgets policyv1.PodDisruptionBudgetList
	if err := env.cluster.Client.List(ctx, &budgets, client.InNamespace(s.ns)); err != nil {
		t.Fatal(err)
	}
	var rows []row
	for _, sts := range statefulSets(t, s.ns) {
		replicas := int(*sts.Spec.Replicas)
		mine := podsOf(pods, &sts)
		r := row{system: s.name, statefulSet: sts.Name, replicas: replicas, running: s.running}
		nodes := map[string]bool{}
		for _, p := range mine {
			nodes[p.Spec.NodeName] = true
			// Every volume from a claim template is bound to an openebs-hostpath PV pinned to
			// this pod's node.
			for _, v := range p.Spec.Volumes {
				if v.PersistentVolumeClaim == nil {
					continue
				}
				pvc := &corev1.PersistentVolumeClaim{}
				if err := env.cluster.Client.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: v.PersistentVolumeClaim.ClaimName}, pvc); err != nil {
					t.Errorf("%s: claim %s: %v", p.Name, v.PersistentVolumeClaim.ClaimName, err)
					continue
				}
				if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
					t.Errorf("%s: claim %s is %s", p.Name, pvc.Name, pvc.Status.Phase)
					continue
				}
				pv := &corev1.PersistentVolume{}
				if err := env.cluster.Client.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, pv); err != nil {
					t.Errorf("%s: volume %s: %v", p.Name, pvc.Spec.VolumeName, err)
					continue
				}
				node := &corev1.Node{}
				if err := env.cluster.Client.Get(ctx, client.ObjectKey{Name: p.Spec.NodeName}, node); err != nil {
					t.Fatal(err)
				}
				if pv.Spec.StorageClassName != "openebs-hostpath" || pinnedNode(pv) != node.Labels[corev1.LabelHostname] {
					t.Errorf("%s: volume %s has class %q and is pinned to %q, not to its pod's node %s",
						p.Name, pv.Name, pv.Spec.StorageClassName, pinnedNode(pv), p.Spec.NodeName)
					continue
				}
				r.pinned++
			}
		}
		r.nodes = len(nodes)
		if len(mine) != replicas {
			t.Errorf("%s: %d pods for %d replicas", sts.Name, len(mine), replicas)
		}
		if replicas >= 2 && len(nodes) != replicas {
			t.Errorf("%s: %d replicas on %d nodes: two replicas share a node", sts.Name, replicas, len(nodes))
		}
		for _, b := range budgets.Items {
			sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
			if err == nil && b.Spec.Selector != nil && sel.Matches(labels.Set(sts.Spec.Template.Labels)) {
				r.budgets++
			}
		}
		if replicas >= 2 && r.budgets != 1 {
			t.Errorf("%s: %d PodDisruptionBudgets select its pods, want exactly 1", sts.Name, r.budgets)
		}
		if len(sts.Spec.VolumeClaimTemplates) > 0 && r.pinned != replicas*len(sts.Spec.VolumeClaimTemplates) {
			t.Errorf("%s: %d of %d volumes pinned to their pod's node", sts.Name, r.pinned, replicas*len(sts.Spec.VolumeClaimTemplates))
		}
		rows = append(rows, r)
	}
	return rows
}

// monitor samples, per StatefulSet, how many replicas are unavailable at once.
type monitor struct {
	mu   sync.Mutex
	max  map[string]int
	stop chan struct{}
	done chan struct{}
}

func watchUnavailable(t *testing.T, systems []*system) *monitor {
	m := &monitor{max: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
			var pods corev1.PodList
			if err := env.cluster.Client.List(context.Background(), &pods); err != nil {
				continue
			}
			for _, s := range systems {
				var sets appsv1.StatefulSetList
				if err := env.cluster.Client.List(context.Background(), &sets, client.InNamespace(s.ns)); err != nil {
					continue
				}
				for i := range sets.Items {
					sts := &sets.Items[i]
					down := int(*sts.Spec.Replicas)
					for _, p := range podsOf(pods.Items, sts) {
						if podReady(&p) {
							down--
						}
					}
					key := s.ns + "/" + sts.Name
					m.mu.Lock()
					if down > m.max[key] {
						m.max[key] = down
					}
					m.mu.Unlock()
				}
			}
		}
	}()
	return m
}

func (m *monitor) finish() map[string]int {
	close(m.stop)
	<-m.done
	return m.max
}

// waitWhole waits until every system has all its replicas Running, and describes the ones that
// do not.
func waitWhole(t *testing.T, systems []*system, when string) {
	t.Helper()
	for _, s := range systems {
		if err := cluster.WaitFor(context.Background(), 3*time.Minute, func() (bool, error) { return allRunning(t, s.ns) }); err != nil {
			t.Fatalf("%s is not whole %s: %v\n%s", s.name, when, err, describePods(t, s.ns))
		}
	}
}

// replicaNodes maps each plain node to the replicated StatefulSets with a pod on it.
func replicaNodes(t *testing.T, systems []*system) map[string][]string {
	out := map[string][]string{}
	pods := listPods(t)
	for _, s := range systems {
		for _, sts := range statefulSets(t, s.ns) {
			if *sts.Spec.Replicas < 2 {
				continue
			}
			for _, p := range podsOf(pods, &sts) {
				out[p.Spec.NodeName] = append(out[p.Spec.NodeName], s.ns+"/"+sts.Name)
			}
		}
	}
	return out
}

// checkDrains drains a node (it completes, one replica per StatefulSet at a time), then starts
// draining a second node that shares StatefulSets with the first: its evictions wait on the
// budgets until the first node's replacements, pinned there by their local volumes, can run
// again after an uncordon.
func checkDrains(t *testing.T, systems []*system) {
	byNode := replicaNodes(t, systems)
	var plain []string
	for _, n := range env.nodes.Plain {
		plain = append(plain, n.Name)
	}
	sort.Slice(plain, func(i, j int) bool { return len(byNode[plain[i]]) > len(byNode[plain[j]]) })
	x := plain[0]
	y := ""
	for _, cand := range plain[1:] {
		for _, sts := range byNode[cand] {
			if slices.Contains(byNode[x], sts) {
				y = cand
				break
			}
		}
		if y != "" {
			break
		}
	}
	if y == "" {
		t.Fatalf("no node shares a StatefulSet with %s", x)
	}
	t.Logf("draining %s (%d replicated StatefulSets), then %s", x, len(byNode[x]), y)

	mon := watchUnavailable(t, systems)
	start := time.Now()
	kubectl(t, "drain", x, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=180s")
	t.Logf("drain of %s completed in %s", x, time.Since(start).Round(time.Millisecond))

	// The second drain blocks: its StatefulSets already have a replica down on x.
	type result struct {
		out string
		err error
	}
	second := make(chan result, 1)
	secondStart := time.Now()
	go func() {
		out, errOut, err := env.cluster.Kubectl(context.Background(), "drain", y, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=240s")
		second <- result{out + errOut, err}
	}()
	select {
	case r := <-second:
		t.Fatalf("draining %s while replicas of the same StatefulSets are down on %s completed at once: %v\n%s", y, x, r.err, r.out)
	case <-time.After(10 * time.Second):
	}
	kubectl(t, "uncordon", x)
	back := time.Now()
	go func() {
		// Only for the log: how long the scheduler takes to run the replacements pinned to x.
		err := cluster.WaitFor(context.Background(), 5*time.Minute, func() (bool, error) {
			for _, p := range listPods(t) {
				if ref := metav1.GetControllerOf(&p); ref != nil && ref.Kind == "StatefulSet" && strings.HasPrefix(p.Namespace, "p-") &&
					p.Spec.NodeName == "" && hasClaim(&p) {
					return false, nil
				}
			}
			return true, nil
		})
		if err == nil {
			t.Logf("no replica left unscheduled %s after %s's uncordon", time.Since(back).Round(time.Millisecond), x)
		}
	}()
	var r result
	select {
	case r = <-second:
	case <-time.After(5 * time.Minute):
		t.Fatalf("draining %s never completed after %s came back", y, x)
	}
	if r.err != nil {
		t.Fatalf("drain of %s: %v\n%s", y, r.err, r.out)
	}
	if !strings.Contains(r.out, "Cannot evict pod as it would violate the pod's disruption budget") {
		t.Errorf("the second drain never waited on a budget:\n%s", r.out)
	}
	t.Logf("drain of %s completed %s after it started, once %s's replacements ran again", y, time.Since(secondStart).Round(time.Millisecond), x)
	kubectl(t, "uncordon", y)
	waitWhole(t, systems, "after the drains")
	for key, n := range mon.finish() {
		if n > 1 {
			t.Errorf("%s had %d replicas down at once during the drains", key, n)
		}
	}
}

// checkNodeDeath deletes a node that holds replicas, as when a machine dies and is removed, and
// checks that each replica pinned there by its local volume stays Pending, with the scheduler
// saying why. It returns a summary for the report.
func checkNodeDeath(t *testing.T, systems []*system) string {
	ctx := context.Background()
	if t.Failed() {
		return ""
	}
	byNode := replicaNodes(t, systems)
	var dead string
	for _, n := range env.nodes.Plain {
		if len(byNode[n.Name]) > len(byNode[dead]) {
			dead = n.Name
		}
	}
	// Only replicas with a volume on the dead node are stranded; the others start elsewhere.
	var victims []string
	for _, p := range listPods(t) {
		if p.Spec.NodeName != dead || !hasClaim(&p) {
			continue
		}
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.Kind == "StatefulSet" && strings.HasPrefix(p.Namespace, "p-") {
			victims = append(victims, p.Namespace+"/"+ref.Name)
		}
	}
	if len(victims) == 0 {
		t.Fatalf("no replica with a volume on %s", dead)
	}
	if err := env.cluster.DeleteNode(ctx, dead); err != nil {
		t.Fatal(err)
	}
	// The pod garbage collector would remove the dead node's pods after a while; do it now.
	for _, p := range listPods(t) {
		if p.Spec.NodeName == dead {
			_ = env.cluster.Client.Delete(ctx, &p, client.GracePeriodSeconds(0))
		}
	}
	pending := map[string]string{}
	defer func() {
		if t.Failed() {
			seen := map[string]bool{}
			for _, key := range victims {
				ns, _, _ := strings.Cut(key, "/")
				if !seen[ns] {
					seen[ns] = true
					t.Logf("%s:\n%s", ns, describePods(t, ns))
				}
			}
		}
	}()
	eventually(t, 2*time.Minute, "each replica with a volume on the dead node is Pending, its volume pinned there", func() (bool, error) {
		pods := listPods(t)
		for _, key := range victims {
			ns, name, _ := strings.Cut(key, "/")
			sts := &appsv1.StatefulSet{}
			if err := env.cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sts); err != nil {
				return false, err
			}
			found := false
			for _, p := range podsOf(pods, sts) {
				if p.Status.Phase != corev1.PodPending {
					continue
				}
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && volumeConflict.MatchString(c.Message) {
						pending[key] = p.Name
						found = true
					}
				}
			}
			if !found {
				return false, nil
			}
		}
		return true, nil
	})
	var parts []string
	for _, key := range victims {
		parts = append(parts, key+" ("+pending[key]+")")
	}
	sort.Strings(parts)
	summary := fmt.Sprintf("Node %s deleted: %d replicas stay Pending (\"didn't match PersistentVolume's node affinity\"), their local volumes pinned to the dead node: %s.",
		dead, len(victims), strings.Join(parts, ", "))
	t.Log(summary)
	return summary
}

// volumeConflict matches the scheduler's reason for a pod whose bound volume is pinned elsewhere
// (worded differently across Kubernetes versions).
var volumeConflict = regexp.MustCompile(`volume node affinity conflict|didn't match PersistentVolume's node affinity`)

func hasClaim(p *corev1.Pod) bool {
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			return true
		}
	}
	return false
}

func placementReport(rows []row, total time.Duration, stranded string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| system | StatefulSet | replicas | nodes used | PVs pinned | PDBs | apply → all Running |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %s |\n", r.system, r.statefulSet, r.replicas, r.nodes, r.pinned, r.budgets, r.running.Round(100*time.Millisecond))
	}
	fmt.Fprintf(&b, "\nWhole placement suite: %s.\n", total.Round(time.Second))
	if stranded != "" {
		fmt.Fprintf(&b, "%s\n", stranded)
	}
	return b.String()
}

var _ = cluster.WaitFor
