//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/audit"
	"github.com/stowage-dev/stowage/e2e/cluster"
)

// promOperatorVersion is the prometheus-operator that tools/prometheus-operator builds; it must
// match the Makefile's PROM_OPERATOR_VERSION.
const promOperatorVersion = "v0.85.0"

// operatorNS is where the operator suite runs prometheus-operator's workloads. It does not start
// with "p-", so the placement suite's drains and node death leave it alone.
const operatorNS = "op-monitoring"

// operatorRows are the placement rows of the operator-made StatefulSets; TestPlacement, which
// runs after this suite, adds them to its report.
var (
	operatorRows  []row
	operatorNotes string
)

// steadyWindow is how long the suite watches the StatefulSets at rest: with the webhook up,
// then down, then back up, 2 minutes each, as the issue asks.
const (
	steadyWindow    = 2 * time.Minute
	webhookDownSpan = 2 * time.Minute
	webhookBackSpan = 2 * time.Minute
)

// The custom resources as kube-prometheus-stack renders them with its defaults: soft
// (preferred) anti-affinity on the pods' name and prometheus/alertmanager labels, a volume claim template
// without a storage class, an explicit image and version.
const prometheusCR = `apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata:
  name: kps-prometheus
  namespace: NS
  labels:
    app: kube-prometheus-stack-prometheus
    release: kps
spec:
  replicas: 2
  image: quay.io/prometheus/prometheus:v3.5.0
  version: v3.5.0
  serviceAccountName: default
  retention: 10d
  portName: http-web
  serviceMonitorSelector:
    matchLabels:
      release: kps
  resources:
    requests:
      memory: 400Mi
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
            labelSelector:
              matchExpressions:
                - {key: app.kubernetes.io/name, operator: In, values: [prometheus]}
                - {key: prometheus, operator: In, values: [kps-prometheus]}
  storage:
    volumeClaimTemplate:
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests:
            storage: 1Gi
`

const alertmanagerCR = `apiVersion: monitoring.coreos.com/v1
kind: Alertmanager
metadata:
  name: kps-alertmanager
  namespace: NS
  labels:
    app: kube-prometheus-stack-alertmanager
    release: kps
spec:
  replicas: 3
  image: quay.io/prometheus/alertmanager:v0.28.1
  version: v0.28.1
  serviceAccountName: default
  retention: 120h
  portName: http-web
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
            labelSelector:
              matchExpressions:
                - {key: app.kubernetes.io/name, operator: In, values: [alertmanager]}
                - {key: alertmanager, operator: In, values: [kps-alertmanager]}
  storage:
    volumeClaimTemplate:
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests:
            storage: 1Gi
`

// The StatefulSets the operator makes for the two resources.
var operatorSets = []string{"prometheus-kps-prometheus", "alertmanager-kps-alertmanager"}

func promOperatorBinary(t *testing.T) string {
	t.Helper()
	p := os.Getenv("STOWAGE_PROMETHEUS_OPERATOR")
	if p == "" {
		p = filepath.Join(env.root, "bin", "prometheus-operator-"+promOperatorVersion, "prometheus-operator")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("prometheus-operator %s (tools/prometheus-operator): %v; run `make tools`", promOperatorVersion, err)
	}
	return p
}

// TestPrometheusOperator runs the real prometheus-operator against the scheduling control plane
// with the Stowage webhook in the write path, and shows that the two coexist: the StatefulSets it
// makes for a Prometheus (2 replicas) and an Alertmanager (3), with the chart's soft
// anti-affinity, land on distinct nodes with pinned local volumes and one budget each; an edit
// of a custom resource rolls its StatefulSet exactly once, with no denial; at rest, with the
// webhook up, down and back up, nothing rewrites the StatefulSets; an edit while the webhook is
// down waits (the operator's rewrite drops the claim template's class, and
// keep-class.mutate.stowage.dev fails closed instead of letting the API server answer 422, on
// which the operator deletes its StatefulSet and pods), then rolls once when it is back.
//
// The steady-state windows (2 minutes each with the webhook up, down and back up) are the
// suite's main cost; the operator's own periodic work (informer resync every 5 minutes) falls
// in them only when the suite runs long, and is allowed for.
func TestPrometheusOperator(t *testing.T) {
	bin := promOperatorBinary(t)
	crds, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), "crds", "*.yaml"))
	if !slices.ContainsFunc(crds, func(p string) bool { return filepath.Base(p) == "monitoring.coreos.com_prometheuses.yaml" }) {
		t.Fatalf("prometheus-operator's CRDs are missing from crds/ next to %s (run `make tools`); found %v", bin, crds)
	}
	ctx := context.Background()
	begin := time.Now()
	step := func(what string) { t.Logf("%-55s %6.1fs", what, time.Since(begin).Seconds()) }

	// The CRDs are too large for client-side apply's last-applied annotation.
	apply := []string{"apply", "--server-side", "--force-conflicts"}
	for _, f := range crds {
		apply = append(apply, "-f", f)
	}
	kubectl(t, apply...)
	kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd", "prometheuses.monitoring.coreos.com", "alertmanagers.monitoring.coreos.com")
	ns := namespace(t, operatorNS, nil)
	step("CRDs established")

	op := startPromOperator(t, bin, ns)
	step("prometheus-operator started")

	applied := time.Now()
	for _, cr := range []string{prometheusCR, alertmanagerCR} {
		if _, errOut, err := kubectlIn(t, strings.ReplaceAll(cr, "NS", ns), "apply", "-f", "-"); err != nil {
			t.Fatalf("applying a custom resource: %v\n%s", err, errOut)
		}
	}
	t.Cleanup(func() {
		// Delete the resources while the operator still runs, and wait for their pods to go, so
		// that no budget of this suite lingers into the drains of the placement suite.
		env.cluster.Kubectl(context.Background(), "-n", ns, "delete", "prometheus,alertmanager", "--all", "--wait=true", "--timeout=60s")
		env.cluster.Kubectl(context.Background(), "-n", ns, "delete", "statefulset,pdb", "--all", "--wait=true", "--timeout=60s")
		_ = cluster.WaitFor(context.Background(), time.Minute, func() (bool, error) {
			return len(listPods(t, client.InNamespace(ns))) == 0, nil
		})
	})
	if err := cluster.WaitFor(ctx, 4*time.Minute, func() (bool, error) {
		if err := op.exited(); err != nil {
			return false, err
		}
		if len(statefulSets(t, ns)) != len(operatorSets) {
			return false, nil
		}
		return allRunning(t, ns)
	}); err != nil {
		t.Fatalf("the operator's StatefulSets never ran: %v\n%s\noperator log:\n%s", err, describePods(t, ns), op.logTail())
	}
	running := time.Since(applied)
	step("Prometheus and Alertmanager Running")

	// Placement: distinct nodes, pinned local volumes, exactly one budget, and the term Stowage
	// added in place of the chart's preferred one.
	rows := checkSystem(t, &system{name: "prometheus-operator", ns: ns, running: running})
	for i := range rows {
		rows[i].system = "kube-prometheus-stack (operator " + promOperatorVersion + ")"
	}
	operatorRows = rows
	for _, name := range operatorSets {
		sts := getSTS(t, ns, name)
		if !hasRequiredHostnameTerm(sts) {
			t.Errorf("%s: no required hostname anti-affinity term: %+v", name, sts.Spec.Template.Spec.Affinity)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	writeOperatorReport(t, rows)
	auditOperatorResources(t, ns)
	step("audit reports the custom resources")

	// An edit of each custom resource rolls its StatefulSet exactly once, with no denial.
	denials := deniedCount(t)
	for _, edit := range []struct{ kind, name, sts, patch string }{
		{"prometheus", "kps-prometheus", "prometheus-kps-prometheus", `{"spec":{"resources":{"requests":{"memory":"512Mi"}}}}`},
		{"alertmanager", "kps-alertmanager", "alertmanager-kps-alertmanager", `{"spec":{"image":"quay.io/prometheus/alertmanager:v0.28.2","version":"v0.28.2"}}`},
	} {
		before := getSTS(t, ns, edit.sts)
		kubectl(t, "-n", ns, "patch", edit.kind, edit.name, "--type=merge", "-p", edit.patch)
		rolled := waitRolled(t, ns, edit.sts, before, op)
		step(fmt.Sprintf("%s edited: rolled once (generation %d → %d)", edit.kind, before.Generation, rolled.Generation))
		if rolled.Generation != before.Generation+1 || rolled.UID != before.UID {
			t.Errorf("%s: generation went from %d to %d (UID %s → %s) after one edit: want exactly one rollout of the same StatefulSet",
				edit.sts, before.Generation, rolled.Generation, before.UID, rolled.UID)
		}
		if !hasRequiredHostnameTerm(rolled) {
			t.Errorf("%s: the operator's rewrite lost Stowage's required term", edit.sts)
		}
		if c := rolled.Spec.VolumeClaimTemplates[0].Spec.StorageClassName; c == nil || *c != "openebs-hostpath" {
			t.Errorf("%s: claim template class after the rewrite is %v", edit.sts, c)
		}
	}
	if d := deniedCount(t); d != denials {
		t.Errorf("the webhook denied %v requests during the edits", d-denials)
	}
	if strings.Contains(op.log(), "denied the request") {
		t.Errorf("the operator saw a denial:\n%s", op.logTail())
	}
	if t.Failed() {
		t.FailNow()
	}

	// At rest: nothing rewrites the StatefulSets, with the webhook up, then down, then back up.
	var notes []string
	restarted := false
	windows := []struct {
		what string
		span time.Duration
		pre  func()
	}{
		{"webhook up", steadyWindow, nil},
		{"webhook down", webhookDownSpan, func() { env.webhook.stop() }},
		{"webhook back up", webhookBackSpan, func() {
			// An edit while the webhook is down: validation fails closed, so the operator's
			// rewrite is refused and retried; once the webhook is back it goes through, keeps
			// Stowage's terms, and rolls the StatefulSet once.
			const name = "prometheus-kps-prometheus"
			before := getSTS(t, ns, name)
			kubectl(t, "-n", ns, "patch", "prometheus", "kps-prometheus", "--type=merge", "-p", `{"spec":{"resources":{"requests":{"memory":"640Mi"}}}}`)
			eventually(t, time.Minute, "the operator's rewrite is refused while the webhook is down", func() (bool, error) {
				return strings.Contains(op.log(), "failed calling webhook"), op.exited()
			})
			if g := getSTS(t, ns, name).Generation; g != before.Generation {
				t.Errorf("%s changed (generation %d → %d) with the validating webhook down", name, before.Generation, g)
			}
			w, _, err := env.startWebhook(env.webhook.certDir, false)
			env.webhook = w
			if err != nil {
				t.Fatalf("restarting the webhook: %v", err)
			}
			restarted = true
			back := time.Now()
			rolled := waitRolled(t, ns, name, before, op)
			line := fmt.Sprintf("edit while the webhook was down: refused (fail closed), then rolled once %s after the webhook came back (generation %d → %d)",
				time.Since(back).Round(time.Second), before.Generation, rolled.Generation)
			notes = append(notes, line)
			step(line)
			if rolled.Generation != before.Generation+1 {
				t.Errorf("%s: generation went from %d to %d after one edit: want exactly one rollout", name, before.Generation, rolled.Generation)
			}
			if !hasRequiredHostnameTerm(rolled) {
				t.Errorf("%s: the operator's rewrite lost Stowage's required term", name)
			}
			if rolled.UID != before.UID || strings.Contains(op.log(), "recreating StatefulSet") {
				t.Errorf("%s was deleted and recreated by the operator (UID %s → %s)", name, before.UID, rolled.UID)
			}
			if !strings.Contains(op.log(), "keep-class.mutate.stowage.dev") {
				t.Errorf("the operator's refused rewrite did not name keep-class.mutate.stowage.dev:\n%s", op.logTail())
			}
			if d := deniedCount(t); d != 0 {
				t.Errorf("the restarted webhook denied %v requests", d)
			}
		}},
	}
	defer func() {
		// Never leave the shared webhook down for the suites that follow.
		if !restarted && env.webhook != nil {
			select {
			case <-env.webhook.waited:
				if w, _, err := env.startWebhook(env.webhook.certDir, false); err == nil {
					env.webhook = w
				}
			default:
			}
		}
	}()
	for _, w := range windows {
		if w.pre != nil {
			w.pre()
		}
		s := observeSteady(t, ns, w.span, op)
		line := fmt.Sprintf("%s, %s: %s", w.what, w.span, s.summary())
		notes = append(notes, line)
		step(line)
		for _, name := range operatorSets {
			if s.generations[name] != 0 {
				t.Errorf("%s (%s): the spec changed %d times at rest", name, w.what, s.generations[name])
			}
			if s.replaced[name] != 0 {
				t.Errorf("%s (%s): %d pods replaced at rest", name, w.what, s.replaced[name])
			}
		}
		// The operator reconciles on its own schedule (its informers resync every 5 minutes);
		// when the inputs are unchanged it skips the StatefulSet. Allow one no-op write per
		// StatefulSet per resync that falls in the window, and no more.
		if allowed := s.resyncs * len(operatorSets); s.updates > allowed {
			t.Errorf("%s: %d UPDATE requests on StatefulSets in %s, more than the operator's %d periodic no-ops", w.what, s.updates, w.span, allowed)
		}
	}
	writeOperatorReport(t, rows, notes...)
}

// auditOperatorResources runs the live audit on the operator's namespace: the Prometheus and
// the Alertmanager are rows linked to the StatefulSets the operator made, and the chart's
// preferred anti-affinity, which Stowage completed on the StatefulSets, is an info finding at the
// resource's spec.affinity rather than a finding at the StatefulSet.
func auditOperatorResources(t *testing.T, ns string) {
	t.Helper()
	out, errOut, code := stowage(t, "audit", "-n", ns, "-o", "json")
	if code == audit.ExitError {
		t.Fatalf("audit: exit %d\n%s", code, errOut)
	}
	var r audit.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("audit -o json: %v", err)
	}
	for _, want := range []struct{ kind, name, sts string }{
		{"Prometheus", "kps-prometheus", "prometheus-kps-prometheus"},
		{"Alertmanager", "kps-alertmanager", "alertmanager-kps-alertmanager"},
	} {
		i := slices.IndexFunc(r.CustomResources, func(c audit.CustomResourceRow) bool { return c.Kind == want.kind && c.Name == want.name })
		if i < 0 {
			t.Errorf("the audit does not report %s %s/%s: %+v (skipped: %+v)", want.kind, ns, want.name, r.CustomResources, r.Skipped)
			continue
		}
		if c := r.CustomResources[i]; !slices.Equal(c.StatefulSets, []audit.MadeStatefulSet{{Name: want.sts, Found: true}}) ||
			c.Policy == "" || c.Operator != "prometheus-operator" {
			t.Errorf("%s %s: %+v", want.kind, want.name, c)
		}
		var atResource *audit.Finding
		for j := range r.Findings {
			f := &r.Findings[j]
			if f.ID != "AntiAffinityMissing" {
				continue
			}
			if f.Resource == nil && f.StatefulSet == want.sts {
				t.Errorf("%s, which Stowage completed, has an AntiAffinityMissing finding: %+v", want.sts, f)
			}
			if f.Resource != nil && f.Resource.Kind == want.kind && f.Resource.Name == want.name {
				atResource = f
			}
		}
		if atResource == nil || atResource.Severity != audit.SeverityInfo || atResource.StatefulSet != want.sts ||
			!strings.HasPrefix(atResource.Field, "spec.affinity.") {
			t.Errorf("%s %s: want an info AntiAffinityMissing at spec.affinity linked to %s, got %+v", want.kind, want.name, want.sts, atResource)
		}
	}
}

// hasRequiredHostnameTerm tells whether the pod template requires replicas on distinct hostnames.
func hasRequiredHostnameTerm(sts *appsv1.StatefulSet) bool {
	a := sts.Spec.Template.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return false
	}
	for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		if term.TopologyKey == corev1.LabelHostname {
			return true
		}
	}
	return false
}

func getSTS(t *testing.T, ns, name string) *appsv1.StatefulSet {
	t.Helper()
	sts := &appsv1.StatefulSet{}
	if err := env.cluster.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, sts); err != nil {
		t.Fatal(err)
	}
	return sts
}

// waitRolled waits until the StatefulSet has a new generation, observed by the controller, and
// every replica runs the new revision and is Ready.
func waitRolled(t *testing.T, ns, name string, before *appsv1.StatefulSet, op *promOperatorProcess) *appsv1.StatefulSet {
	t.Helper()
	var sts *appsv1.StatefulSet
	err := cluster.WaitFor(context.Background(), 4*time.Minute, func() (bool, error) {
		if err := op.exited(); err != nil {
			return false, err
		}
		sts = getSTS(t, ns, name)
		if sts.Generation == before.Generation || sts.Status.ObservedGeneration != sts.Generation ||
			sts.Status.UpdateRevision == before.Status.UpdateRevision || sts.Status.CurrentRevision != sts.Status.UpdateRevision {
			return false, nil
		}
		ready := 0
		for _, p := range podsOf(listPods(t, client.InNamespace(ns)), sts) {
			if podReady(&p) && p.Labels[appsv1.ControllerRevisionHashLabelKey] == sts.Status.UpdateRevision {
				ready++
			}
		}
		return int32(ready) == *sts.Spec.Replicas, nil
	})
	if err != nil {
		t.Fatalf("%s did not roll: %v\n%s\noperator log:\n%s", name, err, describePods(t, ns), op.logTail())
	}
	return sts
}

// deniedCount sums the webhook's deny decisions.
func deniedCount(t *testing.T) float64 {
	t.Helper()
	text, err := env.webhook.metricsText()
	if err != nil {
		t.Fatal(err)
	}
	return sumMetric(text, "stowage_admission_decisions_total", map[string]string{"action": "deny"})
}

var metricLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([^ ]+)`)
var metricLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// sumMetric adds up the samples of a metric in the Prometheus text format whose labels include
// want.
func sumMetric(text, name string, want map[string]string) float64 {
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		m := metricLine.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			continue
		}
		got := map[string]string{}
		for _, l := range metricLabel.FindAllStringSubmatch(m[2], -1) {
			got[l[1]] = l[2]
		}
		match := true
		for k, v := range want {
			if got[k] != v {
				match = false
			}
		}
		if v, err := strconv.ParseFloat(m[3], 64); match && err == nil {
			sum += v
		}
	}
	return sum
}

// steady is what happened to the operator's StatefulSets during one window at rest.
type steady struct {
	span        time.Duration
	updates     int            // UPDATE requests on StatefulSets, from kube-apiserver's metrics
	webhookUpd  int            // UPDATE requests kube-apiserver sent to Stowage's webhooks
	rvChanges   map[string]int // resourceVersion changes seen by a watch, per StatefulSet
	generations map[string]int // spec changes (generation bumps), per StatefulSet
	replaced    map[string]int // pods deleted or created, per StatefulSet
	resyncs     int            // operator resyncs (every 5 minutes since its start) in the window
}

func (s *steady) summary() string {
	var parts []string
	for _, name := range operatorSets {
		parts = append(parts, fmt.Sprintf("%s: %d resourceVersion changes, %d spec changes", name, s.rvChanges[name], s.generations[name]))
	}
	return fmt.Sprintf("%d UPDATE requests on StatefulSets (%d sent to the webhook); %s", s.updates, s.webhookUpd, strings.Join(parts, "; "))
}

// apiserverMetrics reads kube-apiserver's /metrics.
func apiserverMetrics(t *testing.T) string {
	t.Helper()
	out, errOut, err := env.cluster.Kubectl(context.Background(), "get", "--raw", "/metrics")
	if err != nil {
		t.Fatalf("kube-apiserver metrics: %v\n%s", err, errOut)
	}
	return out
}

// stsUpdates counts UPDATE requests on StatefulSets' main resource, and the UPDATE requests the
// API server sent to admission webhooks, since it started.
func stsUpdates(t *testing.T) (updates, webhook int) {
	text := apiserverMetrics(t)
	u := sumMetric(text, "apiserver_request_total", map[string]string{"resource": "statefulsets", "subresource": "", "verb": "UPDATE"})
	u += sumMetric(text, "apiserver_request_total", map[string]string{"resource": "statefulsets", "subresource": "", "verb": "PATCH"})
	u += sumMetric(text, "apiserver_request_total", map[string]string{"resource": "statefulsets", "subresource": "", "verb": "APPLY"})
	w := sumMetric(text, "apiserver_admission_webhook_request_total", map[string]string{"operation": "UPDATE"})
	return int(u), int(w)
}

// observeSteady watches the namespace's StatefulSets and pods for span and counts every change.
func observeSteady(t *testing.T, ns string, span time.Duration, op *promOperatorProcess) *steady {
	t.Helper()
	s := &steady{span: span, rvChanges: map[string]int{}, generations: map[string]int{}, replaced: map[string]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), span)
	defer cancel()
	cs := env.cluster.Clientset
	setWatch, err := cs.AppsV1().StatefulSets(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podUIDs := func() map[string]string {
		out := map[string]string{}
		for _, p := range listPods(t, client.InNamespace(ns)) {
			if ref := metav1.GetControllerOf(&p); ref != nil && p.DeletionTimestamp == nil {
				out[ref.Name+"/"+p.Name] = string(p.UID)
			}
		}
		return out
	}
	pods0 := podUIDs()
	u0, w0 := stsUpdates(t)
	start := time.Now()
	var mu sync.Mutex
	gens := map[string]int64{}
	rvs := map[string]string{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ev := range setWatch.ResultChan() {
			sts, ok := ev.Object.(*appsv1.StatefulSet)
			if !ok {
				continue
			}
			mu.Lock()
			// The watch starts with the current objects as ADDED events.
			if ev.Type == watch.Added && rvs[sts.Name] == "" {
				rvs[sts.Name], gens[sts.Name] = sts.ResourceVersion, sts.Generation
			} else if sts.ResourceVersion != rvs[sts.Name] {
				s.rvChanges[sts.Name]++
				if sts.Generation != gens[sts.Name] {
					s.generations[sts.Name]++
				}
				rvs[sts.Name], gens[sts.Name] = sts.ResourceVersion, sts.Generation
			}
			mu.Unlock()
		}
	}()
	<-ctx.Done()
	setWatch.Stop()
	wg.Wait()
	// A pod replaced at rest has a new UID, or is gone.
	pods1 := podUIDs()
	for key, uid := range pods0 {
		if pods1[key] != uid {
			owner, _, _ := strings.Cut(key, "/")
			s.replaced[owner]++
		}
	}
	if err := op.exited(); err != nil {
		t.Fatal(err)
	}
	u1, w1 := stsUpdates(t)
	s.updates, s.webhookUpd = u1-u0, w1-w0
	end := time.Now()
	for at := op.started.Add(5 * time.Minute); at.Before(end); at = at.Add(5 * time.Minute) {
		if at.After(start) {
			s.resyncs++
		}
	}
	return s
}

// writeOperatorReport writes the operator rows, in the placement report's format, to
// bin/placement-operators.md, with the steady-state counts.
func writeOperatorReport(t *testing.T, rows []row, notes ...string) {
	var b strings.Builder
	fmt.Fprintf(&b, "| system | StatefulSet | replicas | nodes used | PVs pinned | PDBs | apply → all Running |\n|---|---|---|---|---|---|---|\n")
	sort.Slice(rows, func(i, j int) bool { return rows[i].statefulSet < rows[j].statefulSet })
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %s |\n", r.system, r.statefulSet, r.replicas, r.nodes, r.pinned, r.budgets, r.running.Round(100*time.Millisecond))
	}
	if len(notes) > 0 {
		b.WriteString("\nAt rest:\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	t.Log("\n" + b.String())
	if len(notes) > 0 {
		operatorNotes = "\nOperator-made StatefulSets at rest (TestPrometheusOperator):\n"
		for _, n := range notes {
			operatorNotes += "- " + n + "\n"
		}
	}
	_ = os.WriteFile(filepath.Join(env.root, "bin", "placement-operators.md"), []byte(b.String()), 0o644)
}

// promOperatorProcess is a running prometheus-operator.
type promOperatorProcess struct {
	cmd     *exec.Cmd
	logPath string
	waited  chan struct{}
	err     error
	started time.Time
}

// startPromOperator runs prometheus-operator against the shared cluster, out of cluster with the
// admin client certificate, limited to ns, until the test ends.
func startPromOperator(t *testing.T, bin, ns string) *promOperatorProcess {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p := &promOperatorProcess{logPath: filepath.Join(env.tmp, "prometheus-operator.log"), waited: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	pki := filepath.Join(env.cluster.WorkDir, "pki")
	p.cmd = exec.Command(bin,
		"--apiserver="+env.cluster.Host,
		"--ca-file="+filepath.Join(pki, "ca.crt"),
		"--cert-file="+filepath.Join(pki, "admin.crt"),
		"--key-file="+filepath.Join(pki, "admin.key"),
		"--namespaces="+ns,
		"--web.listen-address="+fmt.Sprintf("127.0.0.1:%d", port),
		"--log-level=debug")
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatal(err)
	}
	p.started = time.Now()
	go func() { p.err = p.cmd.Wait(); logFile.Close(); close(p.waited) }()
	t.Cleanup(func() {
		stopProcessGroup(p.cmd.Process.Pid, p.waited, 10*time.Second)
		if t.Failed() {
			t.Logf("prometheus-operator log (tail):\n%s", p.logTail())
		}
	})
	return p
}

func (p *promOperatorProcess) exited() error {
	select {
	case <-p.waited:
		return fmt.Errorf("prometheus-operator exited (%v):\n%s", p.err, p.logTail())
	default:
		return nil
	}
}

func (p *promOperatorProcess) log() string {
	data, _ := os.ReadFile(p.logPath)
	return string(data)
}

func (p *promOperatorProcess) logTail() string { return fileTail(p.logPath, 60) }
