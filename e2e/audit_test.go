//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/audit"
)

// The audit suite creates what admission cannot prevent: a StatefulSet admitted before Stowage
// was installed, whose replicas really share a node, and a node that dies under a replica's
// local volume. `stowage audit` must report both, as JSON, as PolicyReports and in the HTML
// map, and the server's gauges must show them.

// auditPodSpec confines a StatefulSet to the audit pool.
const auditPodSpec = `      nodeSelector:
        stowage.dev/pool: audit
      tolerations:
        - {key: stowage.dev/pool, operator: Equal, value: audit, effect: NoSchedule}
`

func stowage(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(env.stowage, append(args, "--kubeconfig", env.cluster.Kubeconfig)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running stowage: %v", err)
	}
	return out.String(), errb.String(), code
}

func findings(r *audit.Report, ns, sts string) map[string]audit.Finding {
	out := map[string]audit.Finding{}
	for _, f := range r.Findings {
		if f.Namespace == ns && f.StatefulSet == sts {
			out[string(f.ID)] = f
		}
	}
	return out
}

func TestAudit(t *testing.T) {
	ctx := context.Background()
	// "Before Stowage": a namespace the webhooks never see, three replicas for two nodes, the
	// chart's soft anti-affinity: the scheduler co-locates.
	legacy := namespace(t, "audit-legacy", map[string]string{controlLabel: "true"})
	kubectlIn(t, strings.Replace(statefulSetYAML(legacy, "legacy-db", 3, auditPodSpec), "accessModes:", "storageClassName: openebs-hostpath\n        accessModes:", 1), "apply", "-f", "-")
	// Through Stowage: two replicas on the two nodes, hard anti-affinity, a budget.
	guarded := namespace(t, "audit-guarded", nil)
	kubectlIn(t, statefulSetYAML(guarded, "guarded-db", 2, auditPodSpec), "apply", "-f", "-")
	for _, ns := range []string{legacy, guarded} {
		eventually(t, 2*time.Minute, ns+" Running", func() (bool, error) { return allRunning(t, ns) })
	}
	// Soft anti-affinity puts two legacy replicas on one node, but which one is the scheduler's
	// pick: that node stays, the other one dies.
	perNode := map[string]int{}
	for _, p := range listPods(t, client.InNamespace(legacy)) {
		perNode[p.Spec.NodeName]++
	}
	alive, dead := "audit-1", "audit-2"
	if perNode[dead] == 2 {
		alive, dead = dead, alive
	}
	if perNode[alive] != 2 || perNode[dead] != 1 {
		t.Fatalf("legacy-db's replicas per node: %v, want two on one audit node and one on the other", perNode)
	}
	// Pods an operator makes without a StatefulSet, two of them on the node that stays.
	podSetNS := podSetOnOneNode(t, "audit-podset", alive)

	// Kill the node that holds a guarded replica and, by its volume, a legacy one.
	if err := env.cluster.DeleteNode(ctx, dead); err != nil {
		t.Fatal(err)
	}
	for _, p := range listPods(t) {
		if p.Spec.NodeName == dead {
			_ = env.cluster.Client.Delete(ctx, &p, client.GracePeriodSeconds(0))
		}
	}
	eventually(t, time.Minute, "the guarded replica on the dead node is recreated and Pending", func() (bool, error) {
		for _, p := range listPods(t, client.InNamespace(guarded)) {
			if p.Spec.NodeName == "" && p.Status.Phase == corev1.PodPending {
				return true, nil
			}
		}
		return false, nil
	})

	out, errOut, code := stowage(t, "audit", "-o", "json")
	if code != audit.ExitFindings {
		t.Fatalf("exit %d, want 1 (error findings):\n%s", code, errOut)
	}
	var report audit.Report
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("-o json: %v", err)
	}
	lf := findings(&report, legacy, "legacy-db")
	for _, id := range []string{"ColocatedReplicas", "NoPDB", "AntiAffinityMissing"} {
		if _, ok := lf[id]; !ok {
			t.Errorf("legacy-db: no %s finding; got %v", id, keys(lf))
		}
	}
	if f := lf["AntiAffinityMissing"]; f.Field != "spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution" || f.Source != "policy" {
		t.Errorf("the engine's violation lost its field or source: %+v", f)
	}
	gf := findings(&report, guarded, "guarded-db")
	for _, id := range []string{"StrandedVolume", "PendingOnStrandedVolume"} {
		f, ok := gf[id]
		if !ok {
			t.Errorf("guarded-db: no %s finding; got %v", id, keys(gf))
			continue
		}
		if f.Severity != audit.SeverityError || (id == "StrandedVolume" && f.Node != dead) {
			t.Errorf("%s = %+v", id, f)
		}
	}
	if _, ok := gf["ColocatedReplicas"]; ok {
		t.Error("guarded-db reported as co-located")
	}
	checkPodSetReported(t, &report, podSetNS, alive)
	// No operator's CRD is installed here (unless a suite before this one installed it): each
	// kind of the table is then noted as skipped, and the audit does not fail for it.
	if _, _, err := env.cluster.Kubectl(ctx, "get", "crd", "prometheuses.monitoring.coreos.com"); err != nil &&
		!slices.Contains(report.Skipped, audit.Skipped{Group: "monitoring.coreos.com", Kind: "Prometheus", Reason: audit.SkippedNotInstalled}) {
		t.Errorf("Prometheus is not installed, but not noted as skipped: %+v", report.Skipped)
	}
	impact := map[string]audit.NodeImpact{}
	for _, n := range report.Nodes {
		impact[n.Node] = n
	}
	if n := impact[dead]; n.State != audit.NodeMissing {
		t.Errorf("the dead node's state is %q, want Missing", n.State)
	}
	if n := impact[alive]; !containsRef(n.LoseQuorum, legacy+"/legacy-db") {
		t.Errorf("losing %s should cost legacy-db its quorum: %+v", alive, n)
	}

	t.Run("PolicyReports", func(t *testing.T) {
		// A third namespace whose report will turn out to be someone else's.
		other := namespace(t, "audit-other", nil)
		kubectlIn(t, statefulSetYAML(other, "other-db", 1, auditPodSpec), "apply", "-f", "-")

		_, errOut, code := stowage(t, "audit", "-o", "json", "--policy-report")
		if code != audit.ExitError || !strings.Contains(errOut, "install-policy-report-crd") {
			t.Fatalf("without the CRD and the flag: exit %d\n%s", code, errOut)
		}
		_, errOut, code = stowage(t, "audit", "-o", "json", "--policy-report", "--install-policy-report-crd")
		if code != audit.ExitFindings || !regexp.MustCompile(`[1-9]\d* created`).MatchString(errOut) {
			t.Fatalf("first publication: exit %d\n%s", code, errOut)
		}
		gvk := schema.GroupVersionKind{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport"}
		read := func(ns string) *unstructured.Unstructured {
			pr := &unstructured.Unstructured{}
			pr.SetGroupVersionKind(gvk)
			if err := env.cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: audit.PolicyReportName}, pr); err != nil {
				t.Fatalf("PolicyReport in %s: %v", ns, err)
			}
			return pr
		}
		// Replace ours in audit-other by a report of the same name that Stowage did not write.
		if err := env.cluster.Client.Delete(ctx, read(other)); err != nil {
			t.Fatal(err)
		}
		foreign := &unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"name": audit.PolicyReportName, "namespace": other},
			"summary":  map[string]any{"pass": int64(7)},
		}}
		foreign.SetGroupVersionKind(gvk)
		if err := env.cluster.Client.Create(ctx, foreign); err != nil {
			t.Fatal(err)
		}
		_, errOut, _ = stowage(t, "audit", "-o", "json", "--policy-report")
		if !regexp.MustCompile(`0 created, 0 updated, [1-9]\d* unchanged, 0 deleted as stale, 1 skipped`).MatchString(errOut) {
			t.Errorf("a second publication must change nothing and skip the foreign report:\n%s", errOut)
		}
		if got := read(other); got.GetLabels()["app.kubernetes.io/managed-by"] == "stowage" || fmt.Sprint(got.Object["summary"]) != "map[pass:7]" {
			t.Errorf("the foreign report was changed: %v", got.Object)
		}

		// A report of Stowage's in a namespace with nothing left to audit is stale: it goes.
		stale := namespace(t, "audit-stale", nil)
		old := &unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"name": audit.PolicyReportName, "namespace": stale,
				"labels": map[string]any{"app.kubernetes.io/managed-by": "stowage"}},
		}}
		old.SetGroupVersionKind(gvk)
		if err := env.cluster.Client.Create(ctx, old); err != nil {
			t.Fatal(err)
		}
		_, errOut, _ = stowage(t, "audit", "-o", "json", "--policy-report")
		if !strings.Contains(errOut, " 1 deleted as stale") {
			t.Errorf("the stale report in %s must be deleted:\n%s", stale, errOut)
		}
		if err := env.cluster.Client.Get(ctx, client.ObjectKeyFromObject(old), old.DeepCopy()); !apierrors.IsNotFound(err) {
			t.Errorf("stale PolicyReport in %s: %v, want NotFound", stale, err)
		}

		for ns, want := range map[string][]string{legacy: {"ColocatedReplicas", "NoPDB"}, guarded: {"StrandedVolume", "PendingOnStrandedVolume"}} {
			results, _, _ := unstructured.NestedSlice(read(ns).Object, "results")
			rules := map[string]string{}
			for _, r := range results {
				m := r.(map[string]any)
				rules[fmt.Sprint(m["rule"])] = fmt.Sprint(m["result"])
			}
			for _, id := range want {
				if rules[id] != "fail" && rules[id] != "warn" {
					t.Errorf("PolicyReport %s lacks a failing %s result: %v", ns, id, rules)
				}
			}
		}
	})

	t.Run("gauges", func(t *testing.T) {
		eventually(t, time.Minute, "the server's audit exports the co-located and stranded replicas", func() (bool, error) {
			text, err := env.webhook.metricsText()
			if err != nil {
				return false, nil
			}
			return regexp.MustCompile(`stowage_colocated_replicas\{namespace="audit-legacy",statefulset="legacy-db"\} [1-9]`).MatchString(text) &&
				regexp.MustCompile(`stowage_stranded_replicas\{namespace="audit-guarded",statefulset="guarded-db"\} [1-9]`).MatchString(text) &&
				regexp.MustCompile(`stowage_statefulsets_without_pdb\{namespace="audit-legacy",statefulset="legacy-db"\} 1`).MatchString(text), nil
		})
	})

	t.Run("HTML renders in headless Chromium", func(t *testing.T) {
		html, _, _ := stowage(t, "audit", "-o", "html")
		dir := t.TempDir()
		page := filepath.Join(dir, "audit.html")
		if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
			t.Fatal(err)
		}
		shot := filepath.Join(env.root, "bin", "audit-report.png")
		screenshot(t, page, shot)
		if os.Getenv("STOWAGE_UPDATE_DOCS") == "1" {
			data, _ := os.ReadFile(shot)
			os.WriteFile(filepath.Join(env.root, "docs", "audit-report.png"), data, 0o644)
			os.WriteFile(filepath.Join(env.root, "docs", "audit-report.html"), []byte(html), 0o644)
		}
	})
}

func keys(m map[string]audit.Finding) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func containsRef(refs []audit.Ref, want string) bool {
	for _, r := range refs {
		if r.Namespace+"/"+r.Name == want {
			return true
		}
	}
	return false
}

// screenshot renders a page in headless Chromium and fails on a console error or a blank image.
func screenshot(t *testing.T, page, png string) {
	t.Helper()
	chromium := os.Getenv("STOWAGE_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("headless Chromium is needed to render the HTML report (run `make chromium`, or set STOWAGE_CHROMIUM): %v", err)
	}
	profile := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir="+profile, "--enable-logging=stderr", "--v=0", "--window-size=1600,1200",
		"--screenshot="+png, "file://"+page)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "CONSOLE") && (strings.Contains(line, "ERROR") || strings.Contains(line, "Uncaught")) ||
			strings.Contains(line, "net::ERR_") && strings.Contains(line, "file://") {
			t.Errorf("the page logged an error: %s", line)
		}
	}
	info, err := os.Stat(png)
	if err != nil || info.Size() < 20_000 {
		t.Fatalf("no usable screenshot at %s: %v (%d bytes)", png, err, sizeOf(info))
	}
	t.Logf("screenshot of the audit HTML: %s (%d KiB)", png, info.Size()/1024)
}

func sizeOf(info os.FileInfo) int64 {
	if info == nil {
		return 0
	}
	return info.Size()
}

var _ = metav1.Now

// strimziPodSetCRD is the smallest CRD that serves Strimzi's StrimziPodSet kind: the audit reads
// only the pods' controller references, never the StrimziPodSet itself.
const strimziPodSetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: strimzipodsets.core.strimzi.io
spec:
  group: core.strimzi.io
  scope: Namespaced
  names: {kind: StrimziPodSet, listKind: StrimziPodSetList, plural: strimzipodsets, singular: strimzipodset}
  versions:
    - name: v1beta2
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

// podSetOnOneNode installs the StrimziPodSet CRD, makes one in a new namespace, and two pods it
// controls (as Strimzi's operator makes them: bare pods, controller reference to the set) bound
// to node, Running there under kwok. It returns the namespace.
func podSetOnOneNode(t *testing.T, name, node string) string {
	t.Helper()
	ctx := context.Background()
	if _, errOut, err := kubectlIn(t, strimziPodSetCRD, "apply", "-f", "-"); err != nil {
		t.Fatalf("installing the StrimziPodSet CRD: %v\n%s", err, errOut)
	}
	t.Cleanup(func() {
		env.cluster.Kubectl(context.Background(), "delete", "crd", "strimzipodsets.core.strimzi.io", "--wait=false")
	})
	kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd", "strimzipodsets.core.strimzi.io")
	ns := namespace(t, name, nil)
	set := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "core.strimzi.io/v1beta2", "kind": "StrimziPodSet",
		"metadata": map[string]any{"name": "events-broker", "namespace": ns}, "spec": map[string]any{"pods": []any{}}}}
	if err := env.cluster.Client.Create(ctx, set); err != nil {
		t.Fatalf("creating the StrimziPodSet: %v", err)
	}
	for i := range 2 {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("events-broker-%d", i),
				Labels: map[string]string{"strimzi.io/pool-name": "broker"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "core.strimzi.io/v1beta2", Kind: "StrimziPodSet", Name: set.GetName(),
					UID: set.GetUID(), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(false)}}},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "kafka", Image: "quay.io/strimzi/kafka:0.48.0-kafka-4.1.0"}},
				Tolerations: []corev1.Toleration{{Key: "stowage.dev/pool", Operator: corev1.TolerationOpExists}}},
		}
		if err := env.cluster.Client.Create(ctx, p); err != nil {
			t.Fatalf("creating a pod of the StrimziPodSet: %v", err)
		}
	}
	eventually(t, time.Minute, "the StrimziPodSet's pods Running", func() (bool, error) {
		running := 0
		for _, p := range listPods(t, client.InNamespace(ns)) {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 2, nil
	})
	return ns
}

// checkPodSetReported wants the StrimziPodSet's two pods on node reported as co-located, at the
// StrimziPodSet.
func checkPodSetReported(t *testing.T, r *audit.Report, ns, node string) {
	t.Helper()
	var row *audit.PodSetRow
	for i := range r.PodSets {
		if p := &r.PodSets[i]; p.Namespace == ns && p.Kind == "StrimziPodSet" && p.Name == "events-broker" {
			row = p
		}
	}
	if row == nil || row.ColocatedReplicas != 2 || !slices.Equal(row.Nodes, []string{node}) {
		t.Errorf("the StrimziPodSet is not a pod set with 2 co-located replicas on %s: %+v", node, row)
	}
	for _, f := range r.Findings {
		if f.Namespace == ns && f.ID == audit.ColocatedReplicas && f.Resource != nil && f.Resource.Kind == "StrimziPodSet" &&
			f.Resource.Name == "events-broker" && f.Node == node && f.Severity == audit.SeverityError {
			return
		}
	}
	t.Errorf("no ColocatedReplicas error at StrimziPodSet %s/events-broker on %s", ns, node)
}
