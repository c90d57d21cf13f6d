//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/stowage-dev/stowage/e2e/cluster"
	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/internal/testcorpus"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// The control run gives each replicated corpus StatefulSet fewer eligible nodes than replicas
// (the two-node control pool for three or more replicas) and applies it three ways:
//   - without Stowage (a namespace the webhooks never see): the charts' soft anti-affinity
//     lets the scheduler put two replicas on one node, silently;
//   - under the default Deny policy: the create is rejected, naming spec.replicas and the
//     number of eligible nodes;
//   - under a Warn policy: the create is admitted with that warning, and the hard
//     anti-affinity leaves the extra replica Pending instead of co-locating it.
//
// To confine the StatefulSets to the pool, each gets a nodeSelector and a toleration for it,
// and its claim templates name openebs-hostpath explicitly, standing in for a cluster whose
// default class is node-local (this cluster has no default class).

const warnLabel = "stowage.dev/e2e-warn"

// controlled returns the replicated StatefulSets of a corpus file, confined to the control pool.
func controlled(t *testing.T, file, ns string) []*appsv1.StatefulSet {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []*appsv1.StatefulSet
	stream.Read(file, data, func(d *stream.Document) error {
		if d.Kind != "StatefulSet" {
			return nil
		}
		s := &appsv1.StatefulSet{}
		if _, err := stream.Decode(d, s); err != nil {
			t.Fatal(err)
		}
		if s.Spec.Replicas == nil || *s.Spec.Replicas < 3 {
			return nil
		}
		s.Namespace = ns
		spec := &s.Spec.Template.Spec
		spec.NodeSelector = map[string]string{"stowage.dev/pool": "control"}
		spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: "stowage.dev/pool", Operator: corev1.TolerationOpEqual, Value: "control", Effect: corev1.TaintEffectNoSchedule})
		for i := range s.Spec.VolumeClaimTemplates {
			if s.Spec.VolumeClaimTemplates[i].Spec.StorageClassName == nil {
				class := "openebs-hostpath"
				s.Spec.VolumeClaimTemplates[i].Spec.StorageClassName = &class
			}
		}
		out = append(out, s)
		return nil
	})
	return out
}

// serviceAccounts returns the ServiceAccounts of a corpus file, moved to ns: the pods of the
// StatefulSets need them to be created at all.
func serviceAccounts(t *testing.T, file, ns string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	stream.Read(file, data, func(d *stream.Document) error {
		if d.Kind == "ServiceAccount" {
			docs = append(docs, inNamespace(d.Raw, ns))
		}
		return nil
	})
	return strings.Join(docs, "\n---\n")
}

func manifestOf(t *testing.T, sets []*appsv1.StatefulSet) string {
	var docs []string
	for _, s := range sets {
		b, err := yaml.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	return strings.Join(docs, "---\n")
}

type controlRow struct {
	system, statefulSet string
	replicas            int
	without             string // where the replicas ran without Stowage
	deny, warn          string
}

func TestPlacementControlRun(t *testing.T) {
	ctx := context.Background()
	warn := &v1alpha1.PlacementPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-warn"},
		Spec: v1alpha1.PlacementPolicySpec{Priority: 20, EnforcementAction: v1alpha1.Warn,
			NamespaceSelector: &v1alpha1.LabelSelector{MatchLabels: map[string]v1alpha1.LabelValue{warnLabel: "true"}}},
	}
	if err := env.cluster.Client.Create(ctx, warn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.cluster.Client.Delete(context.Background(), warn) })
	// Let every webhook replica see the policy before the first request.
	time.Sleep(2 * time.Second)

	pool := len(env.nodes.Control)
	var rows []controlRow
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, 3)
	for _, file := range testcorpus.Files(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		if len(controlled(t, file, "x")) == 0 {
			continue
		}
		without := namespace(t, "c-"+name, map[string]string{controlLabel: "true"})
		deny := namespace(t, "s-"+name, nil)
		warned := namespace(t, "w-"+name, map[string]string{warnLabel: "true"})
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			got, err := controlSystem(t, name, file, without, deny, warned, pool)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			rows = append(rows, got...)
		}()
	}
	wg.Wait()
	sort.Slice(rows, func(i, j int) bool { return rows[i].system+rows[i].statefulSet < rows[j].system+rows[j].statefulSet })

	var b strings.Builder
	fmt.Fprintf(&b, "Control run: %d eligible nodes (the control pool) for 3 or more replicas.\n\n", pool)
	fmt.Fprintf(&b, "| system | StatefulSet | replicas | without Stowage | Stowage, Deny | Stowage, Warn |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s |\n", r.system, r.statefulSet, r.replicas, r.without, r.deny, r.warn)
	}
	t.Log("\n" + b.String())
	os.WriteFile(filepath.Join(env.root, "bin", "placement-control.md"), []byte(b.String()), 0o644)

	t.Run("scaling past the eligible nodes is denied", func(t *testing.T) {
		ns := namespace(t, "s-scale", nil)
		file := filepath.Join(testcorpus.Dir(t), "bitnami/mariadb-galera.yaml")
		kubectlIn(t, serviceAccounts(t, file, ns), "apply", "-f", "-")
		sets := controlled(t, file, ns)
		two := int32(pool)
		sets[0].Spec.Replicas = &two
		if out, errOut, err := kubectlIn(t, manifestOf(t, sets), "apply", "-f", "-"); err != nil {
			t.Fatalf("%d replicas on %d nodes was denied: %v\n%s%s", pool, pool, err, out, errOut)
		}
		_, errOut, err := env.cluster.Kubectl(ctx, "-n", ns, "scale", "statefulset/"+sets[0].Name, fmt.Sprintf("--replicas=%d", pool+1))
		if err == nil || !strings.Contains(errOut, "spec.replicas") || !strings.Contains(errOut, fmt.Sprintf("only %d eligible node(s)", pool)) {
			t.Fatalf("scale to %d: %v\n%s", pool+1, err, errOut)
		}
	})
}

// controlSystem runs one system three ways and returns a row per StatefulSet.
func controlSystem(t *testing.T, name, file, without, deny, warned string, pool int) ([]controlRow, error) {
	ctx := context.Background()
	var rows []controlRow
	// Without Stowage: admitted as is; the soft anti-affinity cannot keep the replicas apart.
	for _, ns := range []string{without, deny, warned} {
		if out, errOut, err := env.cluster.KubectlWithInput(ctx, strings.NewReader(serviceAccounts(t, file, ns)), "apply", "-f", "-"); err != nil {
			return nil, fmt.Errorf("service accounts: %v\n%s%s", err, out, errOut)
		}
	}
	sets := controlled(t, file, without)
	if out, errOut, err := env.cluster.KubectlWithInput(ctx, strings.NewReader(manifestOf(t, sets)), "apply", "-f", "-"); err != nil {
		return nil, fmt.Errorf("control apply: %v\n%s%s", err, out, errOut)
	}
	for _, s := range sets {
		row := controlRow{system: name, statefulSet: s.Name, replicas: int(*s.Spec.Replicas)}
		var perNode map[string]int
		err := cluster.WaitFor(ctx, 3*time.Minute, func() (bool, error) {
			var pods corev1.PodList
			if err := env.cluster.Client.List(ctx, &pods, client.InNamespace(without)); err != nil {
				return false, nil
			}
			perNode = map[string]int{}
			running := 0
			for _, p := range podsOf(pods.Items, s) {
				if podReady(&p) {
					running++
					perNode[p.Spec.NodeName]++
				}
			}
			return running == row.replicas, nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s without Stowage never ran: %v\n%s", s.Name, err, describePods(t, without))
		}
		shared := false
		var parts []string
		for node, n := range perNode {
			parts = append(parts, fmt.Sprintf("%s×%d", node, n))
			if n > 1 {
				shared = true
			}
		}
		sort.Strings(parts)
		if !shared {
			return nil, fmt.Errorf("%s: %d replicas on %d nodes without Stowage, yet none shared a node", s.Name, row.replicas, pool)
		}
		row.without = "co-located: " + strings.Join(parts, ", ")
		rows = append(rows, row)
	}

	// With Stowage under Deny: rejected with the field and the count of eligible nodes.
	_, errOut, err := env.cluster.KubectlWithInput(ctx, strings.NewReader(manifestOf(t, controlled(t, file, deny))), "apply", "-f", "-")
	if err == nil {
		return nil, fmt.Errorf("the Deny policy admitted %d replicas on %d nodes", rows[0].replicas, pool)
	}
	want := fmt.Sprintf("only %d eligible node(s)", pool)
	if !strings.Contains(errOut, "spec.replicas") || !strings.Contains(errOut, want) || !strings.Contains(errOut, "InsufficientEligibleNodes") {
		return nil, fmt.Errorf("the denial does not name spec.replicas and %q:\n%s", want, errOut)
	}
	for i := range rows {
		rows[i].deny = "denied: spec.replicas, " + want
	}

	// With Stowage under Warn: admitted with the warning; never co-located.
	warnSets := controlled(t, file, warned)
	_, errOut, err = env.cluster.KubectlWithInput(ctx, strings.NewReader(manifestOf(t, warnSets)), "apply", "-f", "-")
	if err != nil || !strings.Contains(errOut, "Warning:") || !strings.Contains(errOut, "InsufficientEligibleNodes") {
		return nil, fmt.Errorf("the Warn policy: err %v, output:\n%s", err, errOut)
	}
	for i, s := range warnSets {
		var running, pending int
		err := cluster.WaitFor(ctx, 3*time.Minute, func() (bool, error) {
			var pods corev1.PodList
			if err := env.cluster.Client.List(ctx, &pods, client.InNamespace(warned)); err != nil {
				return false, nil
			}
			perNode := map[string]int{}
			running, pending = 0, 0
			for _, p := range podsOf(pods.Items, s) {
				switch {
				case podReady(&p):
					running++
					perNode[p.Spec.NodeName]++
					if perNode[p.Spec.NodeName] > 1 {
						return false, fmt.Errorf("%s co-located under Stowage on %s", s.Name, p.Spec.NodeName)
					}
				case p.Status.Phase == corev1.PodPending:
					pending++
				}
			}
			return running == pool && running+pending >= pool+1, nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s under Warn: %v\n%s", s.Name, err, describePods(t, warned))
		}
		rows[i].warn = fmt.Sprintf("warned; %d Running on %d nodes, %d Pending", running, running, pending)
	}
	return rows, nil
}
