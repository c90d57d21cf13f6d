//go:build e2e

package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/e2e/cluster"
	"github.com/stowage-dev/stowage/e2e/provisioner"
)

// TestHarness starts a full control plane, provisions node-pinned volumes for a 3-replica
// StatefulSet spread by hard anti-affinity over 3 fake nodes, checks the controllers the suites
// rely on, and checks that Stop leaves no process behind.
func TestHarness(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	c, err := cluster.Start(ctx, cluster.Options{
		Scheduling: true,
		Logf:       t.Logf,
		ExtraArgs: map[cluster.Component][]string{
			// Fast enough for the heartbeat check below; kwok renews leases every ~10 s.
			cluster.ControllerManager: {"--node-monitor-grace-period=20s"},
		},
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			if t.Failed() {
				t.Logf("component logs:\n%s", c.LogTail(40))
			}
			c.Stop()
		}
	})

	nodes := []cluster.NodeSpec{
		{Name: "node-a", Zone: "zone-a"},
		{Name: "node-b", Zone: "zone-b"},
		{Name: "node-c", Zone: "zone-c"},
	}
	begin := time.Now()
	if err := c.CreateNodes(ctx, nodes); err != nil {
		t.Fatalf("create nodes: %v", err)
	}
	t.Logf("3 nodes ready in %s", time.Since(begin).Round(time.Millisecond))

	prov, err := provisioner.Start(ctx, c.Clientset)
	if err != nil {
		t.Fatalf("start provisioner: %v", err)
	}
	t.Cleanup(prov.Stop) // runs before the cluster's cleanup

	if err := c.Client.Create(ctx, provisioner.StorageClass()); err != nil {
		t.Fatalf("create storage class: %v", err)
	}

	const ns = "harness"
	if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	// Pods can't be created before the namespace's default ServiceAccount exists.
	if err := cluster.WaitFor(ctx, 30*time.Second, func() (bool, error) {
		_, err := c.Clientset.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, client.IgnoreNotFound(err)
	}); err != nil {
		t.Fatalf("wait for default service account: %v", err)
	}

	sts := webStatefulSet(ns)
	begin = time.Now()
	if err := c.Client.Create(ctx, sts); err != nil {
		t.Fatalf("create statefulset: %v", err)
	}

	var pods []corev1.Pod
	err = cluster.WaitFor(ctx, 2*time.Minute, func() (bool, error) {
		var list corev1.PodList
		if err := c.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"app": "web"}); err != nil {
			return false, err
		}
		running := 0
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning && podReady(&p) {
				running++
			}
		}
		pods = list.Items
		return running == 3, nil
	})
	if err != nil {
		t.Fatalf("wait for 3 running pods: %v; pods: %s", err, describePods(pods))
	}
	t.Logf("3 StatefulSet pods running %s after create", time.Since(begin).Round(time.Millisecond))

	seen := map[string]string{}
	for _, p := range pods {
		if other, dup := seen[p.Spec.NodeName]; dup {
			t.Errorf("pods %s and %s share node %s", other, p.Name, p.Spec.NodeName)
		}
		seen[p.Spec.NodeName] = p.Name
		checkVolume(ctx, t, c, &p)
	}

	checkDisruptionController(ctx, t, c, ns)
	checkKubectl(ctx, t, c)
	checkHeartbeat(ctx, t, c, pods[0].Spec.NodeName)
	checkGarbageCollector(ctx, t, c, sts)

	// Stop, twice, and check that nothing is left.
	pids := c.PIDs()
	if len(pids) != 5 {
		t.Errorf("PIDs() = %v, want 5 components", pids)
	}
	prov.Stop()
	if t.Failed() {
		t.Logf("component logs:\n%s", c.LogTail(40))
	}
	begin = time.Now()
	c.Stop()
	c.Stop()
	stopped = true
	t.Logf("stop took %s", time.Since(begin).Round(time.Millisecond))
	if err := c.StopErr(); err != nil {
		t.Errorf("stop: %v", err)
	}
	for comp, pid := range pids {
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s process group %d still exists after Stop (kill: %v)", comp, pid, err)
		}
	}
	if left := processesMentioning(t, c.WorkDir); len(left) > 0 {
		t.Errorf("processes still running from %s after Stop: %v", c.WorkDir, left)
	}
}

// TestHarnessStartFailure checks that a component failing to start makes Start return an
// error quoting its log, and leaves no process behind.
func TestHarnessStartFailure(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)

	tests := []struct {
		name     string
		args     []string
		wantLogs []string
	}{
		{"unknown kube-apiserver flag → error quoting it", []string{"--no-such-flag=1"}, []string{"kube-apiserver exited early", "no-such-flag"}},
		{"kube-apiserver port taken → retried, then an error", []string{"--secure-port=" + takenPort}, []string{"kube-apiserver exited early", "address already in use"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := cluster.Start(context.Background(), cluster.Options{
				WorkDir:   dir,
				Logf:      t.Logf,
				ExtraArgs: map[cluster.Component][]string{cluster.APIServer: tt.args},
			})
			if err == nil {
				t.Fatal("Start succeeded")
			}
			for _, want := range tt.wantLogs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q: %v", want, err)
				}
			}
			if left := processesMentioning(t, dir); len(left) > 0 {
				t.Errorf("processes still running from %s after a failed Start: %v", dir, left)
			}
		})
	}
}

// TestHarnessAPIServerOnly starts etcd and kube-apiserver only and checks that fake nodes are
// created Ready and untainted without kwok.
func TestHarnessAPIServerOnly(t *testing.T) {
	c := cluster.StartForTest(t, cluster.Options{}, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if err := c.CreateNodes(ctx, []cluster.NodeSpec{{Name: "solo", Zone: "z1", Unschedulable: true}}); err != nil {
		t.Fatalf("create nodes: %v", err)
	}
	node, err := c.Clientset.CoreV1().Nodes().Get(ctx, "solo", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get node: %v", err)
	}
	if got := node.Labels[corev1.LabelTopologyZone]; got != "z1" {
		t.Errorf("zone label = %q, want z1", got)
	}
	if !node.Spec.Unschedulable {
		t.Error("node is not unschedulable")
	}
	if len(node.Spec.Taints) != 0 {
		t.Errorf("taints = %v, want none", node.Spec.Taints)
	}
	if err := c.StopNodeHeartbeat(ctx, "solo"); err == nil {
		t.Error("StopNodeHeartbeat without kwok: want an error")
	}
	if err := c.DeleteNode(ctx, "solo"); err != nil {
		t.Errorf("delete node: %v", err)
	}
	if got := len(c.PIDs()); got != 2 {
		t.Errorf("%d components running, want 2", got)
	}
}

// TestHarnessFakeKubelets runs kwok without the controller manager and scheduler: kwok makes a
// Node Ready and runs a Pod bound to it, and a Pod left unbound stays unscheduled.
func TestHarnessFakeKubelets(t *testing.T) {
	c := cluster.StartForTest(t, cluster.Options{FakeKubelets: true}, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if err := c.CreateNodes(ctx, []cluster.NodeSpec{{Name: "fake-1", Zone: "z1"}}); err != nil {
		t.Fatalf("create nodes: %v", err)
	}
	node, err := c.Clientset.CoreV1().Nodes().Get(ctx, "fake-1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get node: %v", err)
	}
	if len(node.Spec.Taints) != 0 {
		t.Errorf("taints = %v, want none", node.Spec.Taints)
	}
	if got := node.Status.NodeInfo.KubeletVersion; got == "" {
		t.Error("node has no kubelet version: kwok did not initialize it")
	}
	// No controller manager runs, so the namespace has no default ServiceAccount to admit Pods
	// with; the test creates it as the controller manager would.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: metav1.NamespaceDefault}}
	if _, err := c.Clientset.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create default service account: %v", err)
	}
	pod := func(name, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}}}
	}
	pods := c.Clientset.CoreV1().Pods(metav1.NamespaceDefault)
	for _, p := range []*corev1.Pod{pod("bound", "fake-1"), pod("unbound", "")} {
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", p.Name, err)
		}
	}
	err = cluster.WaitFor(ctx, 30*time.Second, func() (bool, error) {
		p, err := pods.Get(ctx, "bound", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "", err
	})
	if err != nil {
		t.Fatalf("bound pod not Running with an IP: %v", err)
	}
	unbound, err := pods.Get(ctx, "unbound", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if unbound.Spec.NodeName != "" || unbound.Status.Phase == corev1.PodRunning {
		t.Errorf("unbound pod was scheduled (node %q, phase %s) with no scheduler running", unbound.Spec.NodeName, unbound.Status.Phase)
	}
	if got := len(c.PIDs()); got != 3 {
		t.Errorf("%d components running, want 3 (etcd, kube-apiserver, kwok)", got)
	}
}

// webStatefulSet returns a 3-replica StatefulSet with a volume claim template on
// openebs-hostpath and required anti-affinity on the hostname.
func webStatefulSet(ns string) *appsv1.StatefulSet {
	labels := map[string]string{"app": "web"}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
							TopologyKey:   corev1.LabelHostname,
						}},
					}},
					Containers: []corev1.Container{{
						Name:         "web",
						Image:        "registry.k8s.io/pause:3.10",
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: ptr.To(provisioner.StorageClassName),
					Resources: corev1.VolumeResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
					},
				},
			}},
		},
	}
}

// checkVolume checks that the pod's claim is Bound to a hostPath volume pinned to its node.
func checkVolume(ctx context.Context, t *testing.T, c *cluster.Cluster, pod *corev1.Pod) {
	t.Helper()
	var pvc corev1.PersistentVolumeClaim
	key := client.ObjectKey{Namespace: pod.Namespace, Name: "data-" + pod.Name}
	if err := c.Client.Get(ctx, key, &pvc); err != nil {
		t.Errorf("get claim %s: %v", key, err)
		return
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		t.Errorf("claim %s is %s (volume %q), want Bound", key, pvc.Status.Phase, pvc.Spec.VolumeName)
		return
	}
	var pv corev1.PersistentVolume
	if err := c.Client.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, &pv); err != nil {
		t.Errorf("get volume %s: %v", pvc.Spec.VolumeName, err)
		return
	}
	var node corev1.Node
	if err := c.Client.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, &node); err != nil {
		t.Errorf("get node %s: %v", pod.Spec.NodeName, err)
		return
	}
	hostname := node.Labels[corev1.LabelHostname]
	terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 1 {
		t.Errorf("volume %s node affinity = %+v, want one term with one expression", pv.Name, terms)
		return
	}
	expr := terms[0].MatchExpressions[0]
	if expr.Key != corev1.LabelHostname || expr.Operator != corev1.NodeSelectorOpIn || len(expr.Values) != 1 || expr.Values[0] != hostname {
		t.Errorf("volume %s node affinity %+v, want %s In [%s] (pod %s's node)", pv.Name, expr, corev1.LabelHostname, hostname, pod.Name)
	}
	if want := "/var/openebs/local/" + pv.Name; pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != want {
		t.Errorf("volume %s hostPath = %+v, want %s", pv.Name, pv.Spec.HostPath, want)
	}
	if pv.Spec.StorageClassName != provisioner.StorageClassName || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		t.Errorf("volume %s class %q reclaim %q, want %s and Delete", pv.Name, pv.Spec.StorageClassName, pv.Spec.PersistentVolumeReclaimPolicy, provisioner.StorageClassName)
	}
	if got := pv.Spec.Capacity[corev1.ResourceStorage]; got.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("volume %s capacity %s, want 1Gi", pv.Name, got.String())
	}
}

// checkDisruptionController creates a PodDisruptionBudget and waits for the disruption
// controller to count the pods.
func checkDisruptionController(ctx context.Context, t *testing.T, c *cluster.Cluster, ns string) {
	t.Helper()
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(2)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
	if err := c.Client.Create(ctx, pdb); err != nil {
		t.Errorf("create pdb: %v", err)
		return
	}
	err := cluster.WaitFor(ctx, 30*time.Second, func() (bool, error) {
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(pdb), pdb); err != nil {
			return false, err
		}
		return pdb.Status.CurrentHealthy == 3 && pdb.Status.DisruptionsAllowed == 1, nil
	})
	if err != nil {
		t.Errorf("pdb status %+v: %v", pdb.Status, err)
	}
}

// checkKubectl runs kubectl and checks that the skew warning is gone.
func checkKubectl(ctx context.Context, t *testing.T, c *cluster.Cluster) {
	t.Helper()
	stdout, stderr, err := c.Kubectl(ctx, "get", "nodes", "-o", "name")
	if err != nil {
		t.Errorf("kubectl: %v", err)
		return
	}
	if got := strings.Fields(stdout); len(got) != 3 {
		t.Errorf("kubectl get nodes printed %q, want 3 nodes", stdout)
	}
	if strings.TrimSpace(stderr) != "" {
		t.Errorf("kubectl stderr not empty: %q", stderr)
	}

	manifest := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-stdin\n  namespace: default\ndata:\n  k: v\n"
	if _, _, err := c.KubectlWithInput(ctx, strings.NewReader(manifest), "apply", "-f", "-"); err != nil {
		t.Errorf("kubectl apply -f -: %v", err)
	}
	var cm corev1.ConfigMap
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "from-stdin"}, &cm); err != nil || cm.Data["k"] != "v" {
		t.Errorf("config map applied from stdin: %v, data %v", err, cm.Data)
	}
	if _, _, err := c.Kubectl(ctx, "get", "pod", "no-such-pod"); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("kubectl get of a missing pod: error %v, want one quoting NotFound", err)
	}
}

// processesMentioning returns the pids of running processes whose command line contains s.
func processesMentioning(t *testing.T, s string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		if strings.Contains(string(cmdline), s) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// checkHeartbeat stops a node's heartbeat, waits for the node lifecycle controller to mark it
// unreachable, then resumes it and waits for it to be Ready again.
func checkHeartbeat(ctx context.Context, t *testing.T, c *cluster.Cluster, node string) {
	t.Helper()
	begin := time.Now()
	if err := c.StopNodeHeartbeat(ctx, node); err != nil {
		t.Errorf("stop heartbeat: %v", err)
		return
	}
	err := cluster.WaitFor(ctx, 90*time.Second, func() (bool, error) {
		n, err := c.Clientset.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionUnknown {
				for _, taint := range n.Spec.Taints {
					if taint.Key == corev1.TaintNodeUnreachable {
						return true, nil
					}
				}
			}
		}
		return false, nil
	})
	if err != nil {
		t.Errorf("node %s not marked unreachable after its heartbeat stopped: %v", node, err)
		return
	}
	t.Logf("node %s unreachable %s after its heartbeat stopped", node, time.Since(begin).Round(time.Millisecond))

	begin = time.Now()
	if err := c.ResumeNodeHeartbeat(ctx, node); err != nil {
		t.Errorf("resume heartbeat: %v", err)
		return
	}
	if err := c.WaitNodesReady(ctx, node); err != nil {
		t.Errorf("node %s after resume: %v", node, err)
		return
	}
	t.Logf("node %s ready again %s after its heartbeat resumed", node, time.Since(begin).Round(time.Millisecond))
}

// checkGarbageCollector deletes the StatefulSet and waits for the garbage collector to delete
// its pods (and kwok to finish them).
func checkGarbageCollector(ctx context.Context, t *testing.T, c *cluster.Cluster, sts *appsv1.StatefulSet) {
	t.Helper()
	if err := c.Client.Delete(ctx, sts, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Errorf("delete statefulset: %v", err)
		return
	}
	err := cluster.WaitFor(ctx, 60*time.Second, func() (bool, error) {
		var list corev1.PodList
		if err := c.Client.List(ctx, &list, client.InNamespace(sts.Namespace), client.MatchingLabels{"app": "web"}); err != nil {
			return false, err
		}
		return len(list.Items) == 0, nil
	})
	if err != nil {
		t.Errorf("pods of deleted statefulset not garbage collected: %v", err)
	}
	var probe appsv1.StatefulSet
	if err := c.Client.Get(ctx, client.ObjectKeyFromObject(sts), &probe); !apierrors.IsNotFound(err) {
		t.Errorf("statefulset still there after delete: %v", err)
	}
}

// podReady reports whether the pod has condition Ready=True.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// describePods summarises pods for a failure message.
func describePods(pods []corev1.Pod) string {
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "\n  %s node=%q phase=%s", p.Name, p.Spec.NodeName, p.Status.Phase)
		for _, c := range p.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				fmt.Fprintf(&b, " %s=%s(%s: %s)", c.Type, c.Status, c.Reason, c.Message)
			}
		}
	}
	return b.String()
}
