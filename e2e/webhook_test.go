//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/internal/testcorpus"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// statefulSetYAML is a minimal StatefulSet in ns with a claim template and no placement.
func statefulSetYAML(ns, name string, replicas int, extraPodSpec string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: %[2]s
  namespace: %[1]s
spec:
  replicas: %[3]d
  serviceName: %[2]s
  selector:
    matchLabels: {app: %[2]s}
  template:
    metadata:
      labels: {app: %[2]s}
    spec:
%[4]s      containers:
        - name: db
          image: registry.example/db:1
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests:
            storage: 1Gi
`, ns, name, replicas, extraPodSpec)
}

// eligibleNodes lists the nodes a pod with the given tolerations may use: present, schedulable
// and without a NoSchedule or NoExecute taint it does not tolerate.
func eligibleNodes(t *testing.T, tolerations []corev1.Toleration) []string {
	t.Helper()
	var nodes corev1.NodeList
	if err := env.cluster.Client.List(context.Background(), &nodes); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range nodes.Items {
		if policy.NodeEligible(&corev1.PodSpec{Tolerations: tolerations}, &n) {
			out = append(out, n.Name)
		}
	}
	return out
}

func getStatefulSet(t *testing.T, ns, name string) *appsv1.StatefulSet {
	t.Helper()
	s := &appsv1.StatefulSet{}
	if err := env.cluster.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatalf("get StatefulSet %s/%s: %v", ns, name, err)
	}
	return s
}

func hasHardHostnameAntiAffinity(s *appsv1.StatefulSet) bool {
	a := s.Spec.Template.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return false
	}
	// A replica's labels: the template's, and the pod name the StatefulSet controller adds.
	pod := labels.Set{appsv1.StatefulSetPodNameLabel: s.Name + "-0"}
	for k, v := range s.Spec.Template.Labels {
		pod[k] = v
	}
	for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err == nil && term.TopologyKey == corev1.LabelHostname && sel.Matches(pod) {
			return true
		}
	}
	return false
}

// Scenario 1: a corpus StatefulSet is stored with hard hostname anti-affinity, spread and the
// node-local class.
func TestCorpusStatefulSetIsStoredSafe(t *testing.T) {
	namespace(t, "data", nil)
	file := filepath.Join(testcorpus.Dir(t), "bitnami", "mariadb-galera.yaml")
	kubectl(t, "apply", "-f", file)
	s := getStatefulSet(t, "data", "galera-mariadb-galera")
	if !hasHardHostnameAntiAffinity(s) {
		t.Errorf("stored without required hostname anti-affinity: %+v", s.Spec.Template.Spec.Affinity)
	}
	if got := s.Spec.Template.Spec.TopologySpreadConstraints; len(got) != 1 || got[0].TopologyKey != v1alpha1.ZoneTopologyKey {
		t.Errorf("spread = %+v", got)
	}
	if c := s.Spec.VolumeClaimTemplates[0].Spec.StorageClassName; c == nil || *c != "openebs-hostpath" {
		t.Errorf("class = %v", c)
	}

	// Scenario 5: re-applying the same manifest succeeds, never trips the immutable
	// claim templates, and leaves the pod template as it is, with client-side and
	// server-side apply alike.
	before := s.Spec.Template.DeepCopy()
	for _, args := range [][]string{
		{"apply", "-f", file},
		{"apply", "--server-side", "--force-conflicts", "-f", file},
		{"apply", "--server-side", "--force-conflicts", "-f", file},
		{"apply", "-f", file},
	} {
		out, errOut, err := env.cluster.Kubectl(context.Background(), args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		after := getStatefulSet(t, "data", "galera-mariadb-galera")
		if !apiequality.Semantic.DeepEqual(before, &after.Spec.Template) {
			t.Fatalf("kubectl %s changed the pod template, which would roll the pods", strings.Join(args, " "))
		}
		if c := after.Spec.VolumeClaimTemplates[0].Spec.StorageClassName; c == nil || *c != "openebs-hostpath" {
			t.Fatalf("kubectl %s dropped the class: %v", strings.Join(args, " "), c)
		}
	}

	// Scaling within the nodes and editing metadata or the image succeed.
	kubectl(t, "-n", "data", "scale", "statefulset/galera-mariadb-galera", "--replicas=2")
	kubectl(t, "-n", "data", "label", "statefulset/galera-mariadb-galera", "team=dba")
	kubectl(t, "-n", "data", "annotate", "statefulset/galera-mariadb-galera", "owner=dba")
	kubectl(t, "-n", "data", "patch", "statefulset/galera-mariadb-galera", "--type=json",
		`-p=[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"docker.io/bitnami/mariadb-galera:12.0.3"}]`)
	after := getStatefulSet(t, "data", "galera-mariadb-galera")
	if *after.Spec.Replicas != 2 || !hasHardHostnameAntiAffinity(after) || after.Spec.Template.Spec.Containers[0].Image != "docker.io/bitnami/mariadb-galera:12.0.3" {
		t.Errorf("edits not stored as made: replicas %d, image %s", *after.Spec.Replicas, after.Spec.Template.Spec.Containers[0].Image)
	}
	if !apiequality.Semantic.DeepEqual(before.Spec.Affinity, after.Spec.Template.Spec.Affinity) {
		t.Error("an edit changed the stored affinity")
	}

	// Scaling past the eligible nodes under hard anti-affinity is denied before any pod waits.
	n := len(eligibleNodes(t, nil))
	_, errOut, err := env.cluster.Kubectl(context.Background(), "-n", "data", "scale", "statefulset/galera-mariadb-galera", fmt.Sprintf("--replicas=%d", n+1))
	if err == nil || !strings.Contains(errOut, "spec.replicas") || !strings.Contains(errOut, fmt.Sprintf("only %d eligible node(s)", n)) {
		t.Errorf("scale to %d on %d eligible nodes: err %v\n%s", n+1, n, err, errOut)
	}
}

// Scenario 2: a co-locating StatefulSet is rejected, and the message names the field.
func TestCoLocatingStatefulSetIsRejected(t *testing.T) {
	ns := namespace(t, "colocate", nil)
	manifest := statefulSetYAML(ns, "pinned", 3, "      nodeSelector:\n        kubernetes.io/hostname: worker-a\n")
	_, errOut, err := kubectlIn(t, manifest, "apply", "-f", "-")
	if err == nil {
		t.Fatal("a StatefulSet pinned to one host was admitted")
	}
	for _, want := range []string{`The StatefulSet "pinned" is invalid`, "spec.template.spec.nodeSelector[kubernetes.io/hostname]", "HostnameNodeSelector"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("kubectl's error lacks %q:\n%s", want, errOut)
		}
	}

	// Scenario 3: --dry-run=server gives the same decision and stores nothing.
	_, dryErr, err := kubectlIn(t, manifest, "apply", "--dry-run=server", "-f", "-")
	if err == nil || !strings.Contains(dryErr, "spec.template.spec.nodeSelector[kubernetes.io/hostname]") {
		t.Errorf("dry run decided differently: %v\n%s", err, dryErr)
	}
	fine := statefulSetYAML(ns, "fine", 3, "")
	out, _, err := kubectlIn(t, fine, "apply", "--dry-run=server", "-o", "json", "-f", "-")
	if err != nil {
		t.Fatalf("dry run of a fine StatefulSet: %v", err)
	}
	var dry appsv1.StatefulSet
	if err := json.Unmarshal([]byte(out), &dry); err != nil {
		t.Fatal(err)
	}
	if !hasHardHostnameAntiAffinity(&dry) || *dry.Spec.VolumeClaimTemplates[0].Spec.StorageClassName != "openebs-hostpath" {
		t.Error("the dry run's answer lacks the mutations")
	}
	if err := env.cluster.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "fine"}, &appsv1.StatefulSet{}); !apierrors.IsNotFound(err) {
		t.Errorf("the dry run stored the object: %v", err)
	}
	if err := env.cluster.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "fine-stowage"}, &policyv1.PodDisruptionBudget{}); !apierrors.IsNotFound(err) {
		t.Errorf("the dry run made a budget: %v", err)
	}
}

// Scenario 4: a standalone claim gets the class.
func TestStandaloneClaimGetsTheClass(t *testing.T) {
	ns := namespace(t, "claims", nil)
	kubectlIn(t, fmt.Sprintf(`apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: scratch
  namespace: %s
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
`, ns), "apply", "-f", "-")
	pvc := &corev1.PersistentVolumeClaim{}
	if err := env.cluster.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "scratch"}, pvc); err != nil {
		t.Fatal(err)
	}
	if c := pvc.Spec.StorageClassName; c == nil || *c != "openebs-hostpath" {
		t.Errorf("class = %v", c)
	}
}

func getBudget(ns, name string) (*policyv1.PodDisruptionBudget, error) {
	b := &policyv1.PodDisruptionBudget{}
	return b, env.cluster.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, b)
}

// Scenario 6: the budget controller creates, skips, repairs and garbage-collects budgets.
func TestBudgetController(t *testing.T) {
	ns := namespace(t, "budgets", nil)
	ctx := context.Background()
	kubectlIn(t, statefulSetYAML(ns, "db", 3, ""), "apply", "-f", "-")
	ours := policy.BudgetName("db")
	eventually(t, 30*time.Second, "our budget is created", func() (bool, error) {
		b, err := getBudget(ns, ours)
		if err != nil {
			return false, nil
		}
		if len(b.OwnerReferences) != 1 || b.OwnerReferences[0].Kind != "StatefulSet" || b.Spec.MaxUnavailable.IntValue() != 1 {
			return false, fmt.Errorf("budget %+v", b)
		}
		return true, nil
	})

	// Drift is repaired.
	kubectl(t, "-n", ns, "patch", "pdb", ours, "--type=merge", `-p={"spec":{"maxUnavailable":0}}`)
	eventually(t, 30*time.Second, "drift is repaired", func() (bool, error) {
		b, err := getBudget(ns, ours)
		return err == nil && b.Spec.MaxUnavailable.IntValue() == 1, nil
	})

	// A chart's budget over the same pods: ours goes, so exactly one remains.
	chart := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "chart", Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptrInt(1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}
	if err := env.cluster.Client.Create(ctx, chart); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "ours is removed beside the chart's", func() (bool, error) {
		_, err := getBudget(ns, ours)
		return apierrors.IsNotFound(err), nil
	})
	if err := env.cluster.Client.Delete(ctx, chart); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "ours comes back when the chart's goes", func() (bool, error) {
		_, err := getBudget(ns, ours)
		return err == nil, nil
	})

	// Below the minimum of two replicas there is nothing to protect.
	kubectl(t, "-n", ns, "scale", "statefulset/db", "--replicas=1")
	eventually(t, 30*time.Second, "ours is removed at one replica", func() (bool, error) {
		_, err := getBudget(ns, ours)
		return apierrors.IsNotFound(err), nil
	})
	kubectl(t, "-n", ns, "scale", "statefulset/db", "--replicas=2")
	eventually(t, 30*time.Second, "ours is back at two replicas", func() (bool, error) {
		_, err := getBudget(ns, ours)
		return err == nil, nil
	})

	// Garbage collection removes it with its StatefulSet.
	kubectl(t, "-n", ns, "delete", "statefulset/db", "--wait=true")
	eventually(t, 60*time.Second, "ours is garbage-collected", func() (bool, error) {
		_, err := getBudget(ns, ours)
		return apierrors.IsNotFound(err), nil
	})
}

func ptrInt(i int32) *intstr.IntOrString { v := intstr.FromInt32(i); return &v }

// Scenarios 8 and 9: a policy edit takes effect without a restart, and a Warn policy's
// warnings are printed by kubectl.
func TestPolicyEditsApplyLive(t *testing.T) {
	ns := namespace(t, "relaxed", map[string]string{"stowage-test": "relaxed"})
	ctx := context.Background()
	warn := &v1alpha1.PlacementPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "relaxed"},
		Spec: v1alpha1.PlacementPolicySpec{
			Priority:          10,
			EnforcementAction: v1alpha1.Warn,
			NamespaceSelector: &v1alpha1.LabelSelector{MatchLabels: map[string]v1alpha1.LabelValue{"stowage-test": "relaxed"}},
		},
	}
	if err := env.cluster.Client.Create(ctx, warn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.cluster.Client.Delete(context.Background(), warn) })

	eventually(t, 30*time.Second, "the policy reports Ready", func() (bool, error) {
		p := &v1alpha1.PlacementPolicy{}
		if err := env.cluster.Client.Get(ctx, client.ObjectKey{Name: "relaxed"}, p); err != nil {
			return false, nil
		}
		c := apimeta.FindStatusCondition(p.Status.Conditions, "Ready")
		return c != nil && c.Status == metav1.ConditionTrue && p.Status.ObservedGeneration == p.Generation, nil
	})

	pinned := statefulSetYAML(ns, "pinned", 3, "      nodeName: worker-a\n")
	eventually(t, 30*time.Second, "the Warn policy admits with a warning", func() (bool, error) {
		_, errOut, err := kubectlIn(t, pinned, "apply", "--dry-run=server", "-f", "-")
		return err == nil && strings.Contains(errOut, "Warning:") && strings.Contains(errOut, "spec.template.spec.nodeName") &&
			strings.Contains(errOut, "NodeNamePinned"), nil
	})

	// Switching the same policy to Deny takes effect without restarting the webhook.
	kubectl(t, "patch", "placementpolicy", "relaxed", "--type=merge", `-p={"spec":{"enforcementAction":"Deny"}}`)
	eventually(t, 30*time.Second, "the edited policy denies", func() (bool, error) {
		_, errOut, err := kubectlIn(t, pinned, "apply", "--dry-run=server", "-f", "-")
		return err != nil && strings.Contains(errOut, "spec.template.spec.nodeName"), nil
	})

	// An invalid edit never reaches the webhook: the API server refuses it with the field
	// (TestInvalidPolicyKeepsItsLastValidVersion covers one stored around the API server).
	_, errOut, err := kubectlIn(t, "", "patch", "placementpolicy", "relaxed", "--type=merge", `-p={"spec":{"disruptionBudget":{"maxUnavailable":0}}}`)
	if err == nil || !strings.Contains(errOut, "spec.disruptionBudget.maxUnavailable") {
		t.Errorf("the API server accepted maxUnavailable: 0 (err %v): %s", err, errOut)
	}
}

// Scenario 7: with the webhook stopped, creates in kube-system still succeed, and in the
// namespaces Stowage covers the documented failure policies hold (validation fails closed).
func TestWebhookDown(t *testing.T) {
	ns := namespace(t, "webhook-down", nil)
	defer stopWebhook(t)()
	if _, errOut, err := kubectlIn(t, statefulSetYAML("kube-system", "excluded", 1, ""), "apply", "-f", "-"); err != nil {
		t.Errorf("kube-system create failed with the webhook down: %v\n%s", err, errOut)
	}
	t.Cleanup(func() {
		env.cluster.Kubectl(context.Background(), "-n", "kube-system", "delete", "statefulset/excluded")
	})
	_, errOut, err := kubectlIn(t, statefulSetYAML(ns, "blocked", 3, ""), "apply", "-f", "-")
	if err == nil || !strings.Contains(errOut, "failed calling webhook") {
		t.Errorf("with failurePolicy Fail the create must fail while the webhook is down: %v\n%s", err, errOut)
	}
}

// The metrics endpoint serves the decision counters, the latency histogram, controller-runtime's
// defaults and the certificate's expiry.
func TestMetrics(t *testing.T) {
	ns := namespace(t, "metrics", nil)
	kubectlIn(t, statefulSetYAML(ns, "counted", 2, ""), "apply", "-f", "-")
	want := []string{`stowage_admission_decisions_total{action="mutate",endpoint="mutate",policy="default",rule=""}`,
		`stowage_admission_duration_seconds_bucket{endpoint="validate"`,
		`controller_runtime_reconcile_total{controller="statefulset-budget"`, "stowage_webhook_certificate_expiry_days 36"}
	eventually(t, 30*time.Second, "metrics are exported", func() (bool, error) {
		text, err := env.webhook.metricsText()
		if err != nil {
			return false, nil
		}
		for _, w := range want {
			if !strings.Contains(text, w) {
				return false, nil
			}
		}
		return true, nil
	})
}
