//go:build e2e

package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A Prometheus as a user writes one by hand: two replicas, a volume claim template without a
// class, no affinity, no spread.
const plainPrometheusCR = `apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata:
  name: NAME
  namespace: NS
spec:
  replicas: 2
  storage:
    volumeClaimTemplate:
      spec:
        accessModes: ["ReadWriteOnce"]
        resources: {requests: {storage: 1Gi}}
`

// TestOperatorResourceWarnings creates prometheus-operator custom resources through the real
// API server, with the chart's webhook configurations (installed before the CRDs existed, as
// the API server allows): creation prints Stowage's warnings at the resource's own fields,
// leaves the resource as written, and is never denied, neither for what Stowage would reject
// in the StatefulSet nor with the webhook down. No operator runs: this is about the resource's
// own admission.
func TestOperatorResourceWarnings(t *testing.T) {
	bin := promOperatorBinary(t)
	crds, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), "crds", "*.yaml"))
	if len(crds) == 0 {
		t.Fatalf("prometheus-operator's CRDs are missing from crds/ next to %s (run `make tools`)", bin)
	}
	apply := []string{"apply", "--server-side", "--force-conflicts"}
	for _, f := range crds {
		apply = append(apply, "-f", f)
	}
	kubectl(t, apply...)
	kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd", "prometheuses.monitoring.coreos.com", "alertmanagers.monitoring.coreos.com")
	ns := namespace(t, "operator-warnings", nil)
	t.Cleanup(func() {
		env.cluster.Kubectl(context.Background(), "-n", ns, "delete", "prometheus,alertmanager", "--all", "--wait=true", "--timeout=60s")
	})
	cr := func(name string) string {
		return strings.NewReplacer("NAME", name, "NS", ns).Replace(plainPrometheusCR)
	}
	create := func(doc string) string {
		t.Helper()
		out, errOut, err := kubectlIn(t, doc, "create", "-f", "-")
		if err != nil {
			t.Fatalf("kubectl create was refused: %v\n%s%s", err, out, errOut)
		}
		return errOut
	}
	warned := func(stderr string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(stderr, w) {
				t.Errorf("kubectl's stderr does not say %q:\n%s", w, stderr)
			}
		}
	}

	// 1. A plain Prometheus: warnings name the resource's fields and what to write there.
	stderr := create(cr("plain"))
	warned(stderr,
		"Warning: spec.affinity: ",
		"Stowage makes this change at spec.template.spec.affinity of the StatefulSet prometheus-plain when prometheus-operator creates it",
		"to say so in the Prometheus, set spec.affinity to {",
		"Warning: spec.topologySpreadConstraints: ",
		"Warning: spec.storage.volumeClaimTemplate.spec: ",
		`"storageClassName":"openebs-hostpath"`)
	// Stored as written: Stowage never changes the resource.
	if got := kubectl(t, "-n", ns, "get", "prometheus", "plain", "-o", "jsonpath={.spec.affinity}{.spec.topologySpreadConstraints}{.spec.storage.volumeClaimTemplate.spec.storageClassName}"); got != "" {
		t.Errorf("the Prometheus was changed at admission: %q", got)
	}

	// 2. Pinned to one hostname: Stowage would reject the StatefulSet, and says so, but admits
	// the resource.
	pinned := strings.Replace(cr("pinned"), "  replicas: 2\n", "  replicas: 2\n  nodeSelector: {kubernetes.io/hostname: node-1}\n", 1)
	warned(create(pinned), "Warning: spec.nodeSelector[kubernetes.io/hostname]: ",
		"Stowage will reject the StatefulSet prometheus-pinned that prometheus-operator makes from this Prometheus until it is fixed")

	// 3. An update that newly pins the plain one is warned about; one that changes nothing
	// Stowage judges is not.
	out, errOut, err := kubectlIn(t, "", "-n", ns, "patch", "prometheus", "plain", "--type=merge", "-p", `{"spec":{"nodeSelector":{"kubernetes.io/hostname":"node-1"}}}`)
	if err != nil {
		t.Fatalf("patch refused: %v\n%s%s", err, out, errOut)
	}
	warned(errOut, "Warning: spec.nodeSelector[kubernetes.io/hostname]: ", "Stowage will reject prometheus-operator's update of the StatefulSet prometheus-plain")
	out, errOut, err = kubectlIn(t, "", "-n", ns, "patch", "prometheus", "plain", "--type=merge", "-p", `{"spec":{"retention":"2d"}}`)
	if err != nil || strings.Contains(errOut, "Warning:") {
		t.Errorf("an update that breaks nothing new: err %v, stderr:\n%s%s", err, out, errOut)
	}

	// 4. With the webhook down the API server ignores the failure: creation goes through, plain.
	defer stopWebhook(t)()
	start := time.Now()
	stderr = create(cr("while-down"))
	if strings.Contains(stderr, "Warning: spec.") {
		t.Errorf("warnings from a webhook that is down:\n%s", stderr)
	}
	t.Logf("created with the webhook down in %s", time.Since(start).Round(time.Millisecond))
}
