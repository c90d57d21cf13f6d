//go:build e2e

package e2e

// A PlacementPolicy the API server stores is one Stowage can apply: the CRD's schema and CEL
// rules refuse every spec the Go validation refuses, on the real kube-apiserver. And a spec that
// gets stored anyway, written around the API server's validation, never stops protecting
// anything: the last valid version stays in force and no budget is deleted.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

func TestCRDRefusesWhatValidationRefuses(t *testing.T) {
	long := strings.Repeat("a", 254) + "/zone"
	cases := []struct {
		name string
		spec string // YAML of spec
	}{
		// Valid specs: both must accept them.
		{"empty", `{}`},
		{"everything set", `
priority: 5
namespaceSelector: {matchLabels: {tier: prod, "app.kubernetes.io/part-of": ""}, matchExpressions: [{key: env, operator: In, values: [a, b]}, {key: x, operator: DoesNotExist}]}
objectSelector: {matchExpressions: [{key: example.com/db, operator: NotIn, values: [cache]}, {key: app, operator: Exists}]}
enforcementAction: Warn
storage: {className: fast.local, mode: Enforce, allowedClassNames: [slow, standard.example.com], treatDefaultClassAsUnset: true}
antiAffinity: {mode: Preferred, upgradePreferred: false, preferredWeight: 50}
topologySpread: {mode: Enabled, constraints: [{topologyKey: topology.kubernetes.io/zone, maxSkew: 2, whenUnsatisfiable: DoNotSchedule}, {topologyKey: rack}]}
disruptionBudget: {mode: Enabled, maxUnavailable: "25%", minReplicas: 3, unhealthyPodEvictionPolicy: IfHealthyBudget}
optOut: {namespaces: [scratch, ci-1]}`},
		{"maxUnavailable 100%", `{disruptionBudget: {maxUnavailable: "100%"}}`},
		{"maxUnavailable 2", `{disruptionBudget: {maxUnavailable: 2}}`},
		{"topology spread off with no constraints", `{topologySpread: {mode: Disabled, constraints: []}}`},
		{"node capacity warns, no growable labels", `{nodeCapacity: {whenInsufficient: Warn, growableNodeLabels: []}}`},
		{"node capacity with a growable label", `{nodeCapacity: {growableNodeLabels: [example.com/pool]}}`},
		{"recovery Automatic, every field", `{recovery: {mode: Automatic, nodeNotReadyAfter: 10m, minHealthy: 2}}`},
		{"recovery nodeNotReadyAfter exactly 1m", `{recovery: {mode: Manual, nodeNotReadyAfter: 1m}}`},

		// Invalid specs: Go refuses each, so the API server must too.
		{"maxUnavailable 0", `{disruptionBudget: {maxUnavailable: 0}}`},
		{"maxUnavailable -1", `{disruptionBudget: {maxUnavailable: -1}}`},
		{"maxUnavailable 0%", `{disruptionBudget: {maxUnavailable: "0%"}}`},
		{"maxUnavailable 101%", `{disruptionBudget: {maxUnavailable: "101%"}}`},
		{"maxUnavailable 05%", `{disruptionBudget: {maxUnavailable: "05%"}}`},
		{"maxUnavailable without %", `{disruptionBudget: {maxUnavailable: "5"}}`},
		{"minReplicas -1", `{disruptionBudget: {minReplicas: -1}}`},
		{"unhealthyPodEvictionPolicy unknown", `{disruptionBudget: {unhealthyPodEvictionPolicy: Sometimes}}`},
		{"budget mode unknown", `{disruptionBudget: {mode: On}}`},
		{"enforcementAction unknown", `{enforcementAction: Block}`},
		{"whenInsufficient Audit", `{nodeCapacity: {whenInsufficient: Audit}}`},
		{"growable label not a label name", `{nodeCapacity: {growableNodeLabels: ["bad key"]}}`},
		{"growable label duplicate", `{nodeCapacity: {growableNodeLabels: [a, a]}}`},
		{"className not a DNS name", `{storage: {className: Fast_Disk}}`},
		{"className too long", `{storage: {className: ` + strings.Repeat("a", 254) + `}}`},
		{"allowedClassNames without Enforce", `{storage: {allowedClassNames: [standard]}}`},
		{"allowedClassNames entry not a DNS name", `{storage: {mode: Enforce, allowedClassNames: [UPPER]}}`},
		{"allowedClassNames duplicate", `{storage: {mode: Enforce, allowedClassNames: [a, a]}}`},
		{"storage mode unknown", `{storage: {mode: Always}}`},
		{"antiAffinity mode unknown", `{antiAffinity: {mode: Sometimes}}`},
		{"preferredWeight 101", `{antiAffinity: {preferredWeight: 101}}`},
		{"spread mode unknown", `{topologySpread: {mode: On}}`},
		{"topologyKey not a label name", `{topologySpread: {constraints: [{topologyKey: "bad key"}]}}`},
		{"topologyKey prefix too long", `{topologySpread: {constraints: [{topologyKey: ` + long + `}]}}`},
		{"topologyKey name too long", `{topologySpread: {constraints: [{topologyKey: ` + strings.Repeat("b", 64) + `}]}}`},
		{"topologyKey duplicate", `{topologySpread: {constraints: [{topologyKey: zone}, {topologyKey: zone}]}}`},
		{"maxSkew -1", `{topologySpread: {constraints: [{topologyKey: zone, maxSkew: -1}]}}`},
		{"whenUnsatisfiable unknown", `{topologySpread: {constraints: [{topologyKey: zone, whenUnsatisfiable: Never}]}}`},
		{"optOut namespace not a DNS label", `{optOut: {namespaces: [Bad_NS]}}`},
		{"optOut namespace with a dot", `{optOut: {namespaces: [a.b]}}`},
		{"optOut namespace duplicate", `{optOut: {namespaces: [a, a]}}`},
		{"matchLabels key not a label name", `{namespaceSelector: {matchLabels: {"bad key": x}}}`},
		{"matchLabels value not a label value", `{objectSelector: {matchLabels: {app: "bad value!"}}}`},
		{"matchLabels value too long", `{objectSelector: {matchLabels: {app: ` + strings.Repeat("v", 64) + `}}}`},
		{"In without values", `{objectSelector: {matchExpressions: [{key: app, operator: In}]}}`},
		{"Exists with values", `{objectSelector: {matchExpressions: [{key: app, operator: Exists, values: [x]}]}}`},
		{"unknown operator", `{namespaceSelector: {matchExpressions: [{key: app, operator: Near, values: [x]}]}}`},
		{"expression key not a label name", `{namespaceSelector: {matchExpressions: [{key: "-app", operator: Exists}]}}`},
		{"expression value not a label value", `{namespaceSelector: {matchExpressions: [{key: app, operator: In, values: ["a b"]}]}}`},
		{"recovery mode unknown", `{recovery: {mode: Sometimes}}`},
		{"recovery nodeNotReadyAfter 59s", `{recovery: {nodeNotReadyAfter: 59s}}`},
		{"recovery nodeNotReadyAfter not a duration", `{recovery: {nodeNotReadyAfter: 1d}}`},
		{"recovery minHealthy 0", `{recovery: {minHealthy: 0}}`},
	}
	ctx := context.Background()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var spec map[string]any
			if err := yaml.Unmarshal([]byte(tc.spec), &spec); err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("agree-%d", i)
			obj := map[string]any{"apiVersion": "stowage.dev/v1alpha1", "kind": "PlacementPolicy",
				"metadata": map[string]any{"name": name}, "spec": spec}

			// Go: decode as the webhook does, default, validate.
			raw, _ := json.Marshal(obj)
			var typed v1alpha1.PlacementPolicy
			goErr := json.Unmarshal(raw, &typed)
			if goErr == nil {
				v1alpha1.SetDefaults(&typed)
				if errs := v1alpha1.Validate(&typed); len(errs) > 0 {
					goErr = errs.ToAggregate()
				}
			}
			// The API server, on a dry-run create.
			u := &unstructured.Unstructured{Object: obj}
			apiErr := env.cluster.Client.Create(ctx, u, client.DryRunAll)

			switch {
			case goErr != nil && apiErr == nil:
				t.Errorf("the API server stores a spec Stowage's validation refuses (%v):\n%s", goErr, tc.spec)
			case goErr == nil && apiErr != nil:
				t.Errorf("the API server refuses a spec Stowage's validation accepts: %v\n%s", apiErr, tc.spec)
			case apiErr != nil && !strings.Contains(apiErr.Error(), "spec."):
				t.Errorf("the API server's refusal names no field: %v", apiErr)
			}
			t.Logf("go: %v; api server: %v", goErr, apiErr)
		})
	}
}

// etcdPlacementPolicy reads and writes a PlacementPolicy straight in etcd, as an older CRD or a
// restore from backup could leave it: the API server's validation never sees the write.
func etcdPlacementPolicy(t *testing.T, name string, edit func(obj map[string]any)) {
	t.Helper()
	key := base64.StdEncoding.EncodeToString([]byte("/registry/stowage.dev/placementpolicies/" + name))
	post := func(path string, body any) []byte {
		data, _ := json.Marshal(body)
		resp, err := http.Post(env.cluster.EtcdURL+path, "application/json", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("etcd %s: %s: %s", path, resp.Status, out)
		}
		return out
	}
	var got struct {
		Kvs []struct {
			Value string `json:"value"`
		} `json:"kvs"`
	}
	if err := json.Unmarshal(post("/v3/kv/range", map[string]string{"key": key}), &got); err != nil || len(got.Kvs) != 1 {
		t.Fatalf("reading %s from etcd: %v, %d values", name, err, len(got.Kvs))
	}
	stored, _ := base64.StdEncoding.DecodeString(got.Kvs[0].Value)
	var obj map[string]any
	if err := json.Unmarshal(stored, &obj); err != nil {
		t.Fatalf("the stored policy is not JSON: %v", err)
	}
	edit(obj)
	value, _ := json.Marshal(obj)
	post("/v3/kv/put", map[string]string{"key": key, "value": base64.StdEncoding.EncodeToString(value)})
}

func TestInvalidPolicyKeepsItsLastValidVersion(t *testing.T) {
	ns := namespace(t, "lastvalid", map[string]string{"stowage-test": "lastvalid"})
	ctx := context.Background()
	p := &v1alpha1.PlacementPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "lastvalid"},
		Spec: v1alpha1.PlacementPolicySpec{
			Priority:          20,
			EnforcementAction: v1alpha1.Deny,
			NamespaceSelector: &v1alpha1.LabelSelector{MatchLabels: map[string]v1alpha1.LabelValue{"stowage-test": "lastvalid"}},
		},
	}
	if err := env.cluster.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.cluster.Client.Delete(context.Background(), p) })
	readPolicy := func() *v1alpha1.PlacementPolicy {
		got := &v1alpha1.PlacementPolicy{}
		if err := env.cluster.Client.Get(ctx, client.ObjectKey{Name: p.Name}, got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	eventually(t, 30*time.Second, "the policy is Ready and its last valid spec is recorded", func() (bool, error) {
		got := readPolicy()
		c := apimeta.FindStatusCondition(got.Status.Conditions, "Ready")
		return c != nil && c.Status == metav1.ConditionTrue && got.Status.LastValid != nil && got.Status.LastValid.Generation == got.Generation, nil
	})

	kubectlIn(t, statefulSetYAML(ns, "db", 3, ""), "apply", "-f", "-")
	ours := policy.BudgetName("db")
	eventually(t, 30*time.Second, "the budget is created", func() (bool, error) {
		_, err := getBudget(ns, ours)
		return err == nil, nil
	})
	pinned := statefulSetYAML(ns, "pinned", 3, "      nodeName: worker-a\n")
	if _, _, err := kubectlIn(t, pinned, "apply", "--dry-run=server", "-f", "-"); err == nil {
		t.Fatal("the Deny policy admitted a pinned StatefulSet")
	}

	// The API server refuses the bad edit outright.
	_, errOut, err := kubectlIn(t, "", "patch", "placementpolicy", p.Name, "--type=merge", `-p={"spec":{"disruptionBudget":{"maxUnavailable":0}}}`)
	if err == nil || !strings.Contains(errOut, "maxUnavailable") {
		t.Fatalf("the API server accepted maxUnavailable: 0 (err %v): %s", err, errOut)
	}

	// Written around it: Audit (which would admit everything) and an invalid budget.
	etcdPlacementPolicy(t, p.Name, func(obj map[string]any) {
		spec := obj["spec"].(map[string]any)
		spec["enforcementAction"] = "Audit"
		spec["disruptionBudget"] = map[string]any{"maxUnavailable": 0}
		meta := obj["metadata"].(map[string]any)
		meta["generation"] = meta["generation"].(float64) + 1
	})
	eventually(t, 30*time.Second, "the status says the last valid generation stays in force", func() (bool, error) {
		got := readPolicy()
		c := apimeta.FindStatusCondition(got.Status.Conditions, "Ready")
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == "Invalid" &&
			strings.Contains(c.Message, "the last valid one, stays in force") && strings.Contains(c.Message, "maxUnavailable"), nil
	})
	// Admission still applies the last valid version: Deny, not the stored Audit.
	_, errOut, err = kubectlIn(t, pinned, "apply", "--dry-run=server", "-f", "-")
	if err == nil || !strings.Contains(errOut, "NodeNamePinned") {
		t.Errorf("after the invalid write, the pinned StatefulSet was not denied (err %v): %s", err, errOut)
	}
	// The budget stays, also after the StatefulSet changes and is reconciled again.
	kubectl(t, "-n", ns, "annotate", "statefulset/db", "touched=1")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := getBudget(ns, ours); err != nil {
			t.Fatalf("the budget went after an invalid policy write: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// A foreign budget that would let a drain take a database's quorum is denied on its own write
// (issue 9 item 4), and a safe one is admitted.
func TestLooseBudgetIsDenied(t *testing.T) {
	ns := namespace(t, "loose-budget", nil)
	kubectlIn(t, statefulSetYAML(ns, "db", 3, ""), "apply", "-f", "-")
	budget := func(name, spec string) string {
		return "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: " + name + ", namespace: " + ns + "}\n" +
			"spec: {" + spec + ", selector: {matchLabels: {app: db}}}\n"
	}
	_, errOut, err := kubectlIn(t, budget("all-at-once", "maxUnavailable: 100%"), "apply", "-f", "-")
	if err == nil || !strings.Contains(errOut, "DisruptionBudgetTooLoose") || !strings.Contains(errOut, "spec.maxUnavailable") {
		t.Errorf("a maxUnavailable: 100%% budget over a 3-replica database was admitted (err %v): %s", err, errOut)
	}
	_, errOut, err = kubectlIn(t, budget("chart-accident", "minAvailable: 1"), "apply", "-f", "-")
	if err == nil || !strings.Contains(errOut, "spec.minAvailable") {
		t.Errorf("minAvailable: 1 over 3 replicas was admitted (err %v): %s", err, errOut)
	}
	if _, errOut, err := kubectlIn(t, budget("safe", "maxUnavailable: 1"), "apply", "-f", "-"); err != nil {
		t.Errorf("maxUnavailable: 1 was denied: %s", errOut)
	}
}
