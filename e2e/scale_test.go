//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/audit"
	"github.com/stowage-dev/stowage/e2e/cluster"
)

// TestAuditScale populates a control plane of its own with 1,000 nodes, 5,000 StatefulSets and
// 15,000 pods, claims and local volumes, and times `stowage audit` over it, measuring its wall
// time and peak RSS. kwok is the kubelet of the 1,000 fake nodes: it makes them Ready, renews
// their Leases, and runs every pod (Running, Ready, a pod IP from the node's podCIDR). The
// test binds the pods itself (spec.nodeName) instead of running the StatefulSet controller
// and the scheduler, which would take far longer on 2 cores and add nothing the audit reads,
// and writes claims Bound to pre-made local PVs as the provisioner would. A few placements
// are wrong on purpose, so the audit has findings to report. It is slow to populate
// (minutes), so it runs only with STOWAGE_AUDIT_SCALE=1 (`make bench-audit`).
func TestAuditScale(t *testing.T) {
	if os.Getenv("STOWAGE_AUDIT_SCALE") != "1" {
		t.Skip("set STOWAGE_AUDIT_SCALE=1 (make bench-audit) to populate 1,000 nodes and 5,000 StatefulSets")
	}
	const nodes, sets, replicas, namespaces = 1000, 5000, 3, 50
	c := cluster.StartForTest(t, cluster.Options{FakeKubelets: true, ExtraArgs: map[cluster.Component][]string{
		cluster.APIServer: {"--max-requests-inflight=2000", "--max-mutating-requests-inflight=1000"}}}, false)
	cfg := rest.CopyConfig(c.RESTConfig)
	cfg.QPS, cfg.Burst = -1, 0 // unthrottled: the server's inflight limits apply
	cl, err := client.New(cfg, client.Options{Scheme: c.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	parallel := func(n int, what string, fn func(i int) error) {
		t.Helper()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var first error
		work := make(chan int)
		for w := 0; w < 48; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					if err := fn(i); err != nil {
						mu.Lock()
						if first == nil {
							first = fmt.Errorf("%s %d: %w", what, i, err)
						}
						mu.Unlock()
					}
				}
			}()
		}
		for i := 0; i < n; i++ {
			work <- i
		}
		close(work)
		wg.Wait()
		if first != nil {
			t.Fatal(first)
		}
	}
	nodeName := func(i int) string { return fmt.Sprintf("n-%04d", i%nodes) }
	parallel(nodes, "node", func(i int) error {
		spec := cluster.NodeSpec{Name: nodeName(i), Zone: fmt.Sprintf("zone-%d", i%3)}
		n := spec.Node()
		n.Spec.PodCIDR = fmt.Sprintf("10.%d.%d.0/24", 64+i/256, i%256) // kwok's pod IPs
		if err := cl.Create(ctx, n); err != nil {
			return err
		}
		// kube-apiserver taints every new Node not-ready; the node lifecycle controller, which
		// would lift the taint once kwok reports the Node Ready, does not run here.
		// A merge patch, because kwok may already have written the Node's status.
		before := n.DeepCopy()
		n.Spec.Taints = slices.DeleteFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeNotReady })
		return cl.Patch(ctx, n, client.MergeFrom(before))
	})
	parallel(namespaces, "namespace", func(i int) error {
		ns := fmt.Sprintf("tenant-%02d", i)
		if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
		// No controller manager runs here to create it, and pods cannot be admitted without it.
		return cl.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}})
	})
	populated := time.Now()
	class := "openebs-hostpath"
	parallel(sets, "statefulset", func(i int) error {
		ns, name := fmt.Sprintf("tenant-%02d", i%namespaces), fmt.Sprintf("db-%04d", i)
		sel := map[string]string{"app": name}
		n := int32(replicas)
		sts := &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/instance": name}},
			Spec: appsv1.StatefulSetSpec{
				Replicas: &n, ServiceName: name, Selector: &metav1.LabelSelector{MatchLabels: sel},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel}, Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "db", Image: "db:1"}},
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{
						{LabelSelector: &metav1.LabelSelector{MatchLabels: sel}, TopologyKey: corev1.LabelHostname}}}},
				}},
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{
					StorageClassName: &class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}},
			},
		}
		if err := cl.Create(ctx, sts); err != nil {
			return err
		}
		if i%10 != 0 { // one in ten has no budget
			one := intstr.FromInt32(1)
			if err := cl.Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: sel}}}); err != nil {
				return err
			}
		}
		for r := 0; r < replicas; r++ {
			node := nodeName(i*replicas + r)
			if i%100 == 0 && r == 1 { // one in a hundred has two replicas on one node
				node = nodeName(i * replicas)
			}
			claim, pv := fmt.Sprintf("data-%s-%d", name, r), fmt.Sprintf("pv-%s-%s-%d", ns, name, r)
			vol := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: pv}, Spec: corev1.PersistentVolumeSpec{
				Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: class, PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/openebs/local/" + pv}},
				ClaimRef:               &corev1.ObjectReference{Namespace: ns, Name: claim},
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}},
			}}
			if err := cl.Create(ctx, vol); err != nil {
				return err
			}
			pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: claim, Namespace: ns, Labels: sel}, Spec: corev1.PersistentVolumeClaimSpec{
				StorageClassName: &class, VolumeName: pv, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
			if err := cl.Create(ctx, pvc); err != nil {
				return err
			}
			pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
				Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}, AccessModes: pvc.Spec.AccessModes}
			if err := cl.Status().Update(ctx, pvc); err != nil {
				return err
			}
			controller := true
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", name, r), Namespace: ns, Labels: sel,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: name, UID: sts.UID, Controller: &controller}}},
				Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "db", Image: "db:1"}},
					Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}}}
			if err := cl.Create(ctx, pod); err != nil { // kwok runs it
				return err
			}
		}
		return nil
	})
	// Wait for kwok: every node Ready and every pod Running.
	err = cluster.WaitFor(ctx, 10*time.Minute, func() (bool, error) {
		ready, running := 0, 0
		var nl corev1.NodeList
		if err := cl.List(ctx, &nl); err != nil {
			return false, err
		}
		for i := range nl.Items {
			for _, cond := range nl.Items[i].Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		var pl corev1.PodList
		for opts := (&client.ListOptions{Limit: 500}); ; {
			if err := cl.List(ctx, &pl, opts); err != nil {
				return false, err
			}
			for i := range pl.Items {
				if pl.Items[i].Status.Phase == corev1.PodRunning && pl.Items[i].Status.PodIP != "" {
					running++
				}
			}
			if pl.Continue == "" {
				break
			}
			opts.Continue = pl.Continue
		}
		t.Logf("kwok: %d/%d nodes Ready, %d/%d pods Running after %s", ready, nodes, running, sets*replicas, time.Since(start).Round(time.Second))
		return ready == nodes && running == sets*replicas, nil
	})
	if err != nil {
		t.Fatalf("waiting for kwok to run the nodes and pods: %v", err)
	}
	filled := time.Since(start)
	t.Logf("populated %d nodes, %d StatefulSets, %d pods, claims and volumes in %s (nodes and namespaces %s)",
		nodes, sets, sets*replicas, filled.Round(time.Second), populated.Sub(start).Round(time.Second))

	var lines []string
	for _, format := range []string{"json", "table", "html"} {
		out := filepath.Join(t.TempDir(), "audit."+format)
		cmd := exec.Command("/usr/bin/time", "-f", "%e %M", env.stowage, "audit", "-o", format, "--kubeconfig", c.Kubeconfig)
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stdout, cmd.Stderr = f, &stderr
		err = cmd.Run()
		f.Close()
		if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != audit.ExitFindings) {
			t.Fatalf("audit -o %s: %v\n%s", format, err, stderr.String())
		}
		fields := strings.Fields(lastLine(stderr.String()))
		var wall float64
		var kb int64
		if len(fields) == 2 {
			fmt.Sscan(fields[0], &wall)
			fmt.Sscan(fields[1], &kb)
		}
		info, _ := os.Stat(out)
		lines = append(lines, fmt.Sprintf("- `stowage audit -o %s`: %.2f s wall, peak RSS %d MiB, %d KiB of output", format, wall, kb>>10, info.Size()>>10))
		if format == "json" {
			var r audit.Report
			data, _ := os.ReadFile(out)
			if err := json.Unmarshal(data, &r); err != nil {
				t.Fatal(err)
			}
			if r.Summary.StatefulSets != sets || r.Summary.Nodes != nodes || r.Summary.ColocatedReplicas != 2*sets/100 || r.Summary.WithoutPDB != sets/10 {
				t.Errorf("summary %+v: want %d StatefulSets, %d nodes, %d co-located replicas, %d without a budget",
					r.Summary, sets, nodes, 2*sets/100, sets/10)
			}
		}
	}
	report := fmt.Sprintf("Audit at scale: %d nodes, %d StatefulSets, %d pods, claims and volumes (populated in %s):\n%s\n",
		nodes, sets, sets*replicas, filled.Round(time.Second), strings.Join(lines, "\n"))
	t.Log("\n" + report)
	os.WriteFile(filepath.Join(env.root, "bin", "audit-scale.md"), []byte(report), 0o644)

	// One more run, not timed, with CPU and heap profiles for whoever makes it faster:
	// go tool pprof -top bin/audit-scale.cpu.pprof
	prof := exec.Command(env.stowage, "audit", "-o", "json", "--kubeconfig", c.Kubeconfig,
		"--cpuprofile", filepath.Join(env.root, "bin", "audit-scale.cpu.pprof"),
		"--memprofile", filepath.Join(env.root, "bin", "audit-scale.mem.pprof"))
	var stderr strings.Builder
	prof.Stderr = &stderr
	if err := prof.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != audit.ExitFindings {
			t.Errorf("profiled audit: %v\n%s", err, stderr.String())
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
