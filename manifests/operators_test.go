package manifests

import (
	"os"
	"slices"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/stowage-dev/stowage/internal/operatorcr"
)

// operatorResourceWebhook returns the validating webhook for operator custom resources.
func operatorResourceWebhook(t *testing.T, r *rendered) admissionregistrationv1.ValidatingWebhook {
	t.Helper()
	v := get[admissionregistrationv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration", fullname)
	for _, w := range v.Webhooks {
		if w.Name == "validate-operator-resources.stowage.dev" {
			return w
		}
	}
	t.Fatal("no webhook validate-operator-resources.stowage.dev")
	return admissionregistrationv1.ValidatingWebhook{}
}

// The chart's template of the operator resources' rules is what `go run ./manifests/gen`
// writes from internal/operatorcr's table. UPDATE_GOLDEN=1 rewrites it.
func TestOperatorRulesUpToDate(t *testing.T) {
	var resources []OperatorResource
	for i := range operatorcr.Kinds {
		k := &operatorcr.Kinds[i]
		resources = append(resources, OperatorResource{Group: k.Group, Versions: k.Versions, Resource: k.Resource()})
	}
	fresh := OperatorRules(resources)
	if updateGolden {
		if err := os.WriteFile(paths.OperatorRulesFile(), fresh, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(paths.OperatorRulesFile())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(fresh), string(got)); diff != "" {
		t.Errorf("%s is stale; regenerate it with UPDATE_GOLDEN=1 go test ./manifests or go run ./manifests/gen (-fresh +file):\n%s", paths.OperatorRulesFile(), diff)
	}
}

// The webhook for operator custom resources matches every resource of internal/operatorcr's
// table, and only those, on CREATE and UPDATE; it fails open whatever the values say, calls
// /validate (which never denies these resources), and sees the namespaces the main webhooks see.
func TestOperatorResourceWebhook(t *testing.T) {
	for _, values := range []string{"", "webhook: {timeoutSeconds: 1, validating: {failurePolicy: Fail}, excludeNamespaces: [monitoring]}"} {
		r := render(t, values)
		_, main, _ := webhooks(t, r)
		w := operatorResourceWebhook(t, r)
		var want []admissionregistrationv1.RuleWithOperations
		for _, k := range operatorcr.Kinds {
			want = append(want, admissionregistrationv1.RuleWithOperations{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{k.Group}, APIVersions: k.Versions,
					Resources: []string{k.Resource()}, Scope: ptr.To(admissionregistrationv1.NamespacedScope)},
			})
		}
		if diff := cmp.Diff(want, w.Rules); diff != "" {
			t.Errorf("rules differ from internal/operatorcr's table; run go run ./manifests/gen (-table +chart):\n%s", diff)
		}
		if ptr.Deref(w.FailurePolicy, "") != admissionregistrationv1.Ignore {
			t.Errorf("failurePolicy %v, want Ignore", ptr.Deref(w.FailurePolicy, ""))
		}
		if ptr.Deref(w.SideEffects, "") != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("sideEffects %v, want None", ptr.Deref(w.SideEffects, ""))
		}
		if ptr.Deref(w.MatchPolicy, "") != admissionregistrationv1.Equivalent {
			t.Errorf("matchPolicy %v, want Equivalent", ptr.Deref(w.MatchPolicy, ""))
		}
		if diff := cmp.Diff([]string{"v1"}, w.AdmissionReviewVersions); diff != "" {
			t.Errorf("admissionReviewVersions (-want +got):\n%s", diff)
		}
		if ptr.Deref(w.TimeoutSeconds, 0) != ptr.Deref(main.timeoutSeconds, -1) {
			t.Errorf("timeoutSeconds %v, want the main webhook's %v", ptr.Deref(w.TimeoutSeconds, 0), ptr.Deref(main.timeoutSeconds, -1))
		}
		if diff := cmp.Diff(main.namespaceSelector, w.NamespaceSelector); diff != "" {
			t.Errorf("namespaceSelector differs from the main webhook's:\n%s", diff)
		}
		if w.ObjectSelector != nil && len(w.ObjectSelector.MatchLabels)+len(w.ObjectSelector.MatchExpressions) > 0 {
			t.Errorf("objectSelector %v: the policy, not the webhook, decides which objects it covers", w.ObjectSelector)
		}
		checkClientConfig(t, r, Namespace, w.ClientConfig, "/validate")
	}
}

// The operator resources' matchConditions: CEL, evaluated by the API server, must never error
// (an error falls to the failurePolicy) and skip updates that leave spec alone.
func TestOperatorResourceMatchConditions(t *testing.T) {
	w := operatorResourceWebhook(t, render(t, ""))
	conds := map[string]string{}
	for _, mc := range w.MatchConditions {
		conds[mc.Name] = mc.Expression
	}
	if diff := cmp.Diff([]string{"exclude-node-identities", "skip-updates-without-spec-change"}, sortedKeys(conds), cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("matchConditions (-want +got):\n%s", diff)
	}
	prom := func(spec map[string]any) map[string]any {
		obj := map[string]any{"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus", "metadata": map[string]any{"name": "k8s", "namespace": "monitoring"}}
		if spec != nil {
			obj["spec"] = spec
		}
		return obj
	}
	gvk := metav1.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "Prometheus"}
	gvr := metav1.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheuses"}
	user := authenticationv1.UserInfo{Username: "alice"}
	for _, tc := range []struct {
		name     string
		op       admissionv1.Operation
		obj, old map[string]any
		want     bool
	}{
		{"created → judged", admissionv1.Create, prom(map[string]any{"replicas": int64(2)}), nil, true},
		{"spec changed → judged", admissionv1.Update, prom(map[string]any{"replicas": int64(3)}), prom(map[string]any{"replicas": int64(2)}), true},
		{"only labels changed → skipped", admissionv1.Update, prom(map[string]any{"replicas": int64(2)}), prom(map[string]any{"replicas": int64(2)}), false},
		{"no spec at all → judged without an error", admissionv1.Update, prom(nil), prom(nil), true},
		{"spec added → judged", admissionv1.Update, prom(map[string]any{"replicas": int64(2)}), prom(nil), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := admissionv1.AdmissionRequest{Kind: gvk, Resource: gvr, Operation: tc.op, UserInfo: user}
			var old any
			if tc.old != nil {
				old = tc.old
			}
			if got := evalConditions(t, w.MatchConditions, toCEL(t, req), toCEL(t, tc.obj), toCEL(t, old)); got != tc.want {
				t.Errorf("webhook called = %t, want %t", got, tc.want)
			}
		})
	}
}

// evalConditions evaluates matchConditions as the API server does: the webhook is called when
// every one is true. An error fails the test.
func evalConditions(t *testing.T, mcs []admissionregistrationv1.MatchCondition, request, object, oldObject any) bool {
	t.Helper()
	env, err := cel.NewEnv(cel.Variable("object", cel.DynType), cel.Variable("oldObject", cel.DynType), cel.Variable("request", cel.DynType))
	if err != nil {
		t.Fatal(err)
	}
	called := true
	for _, mc := range mcs {
		ast, iss := env.Compile(mc.Expression)
		if iss.Err() != nil {
			t.Fatalf("matchCondition %s: %v", mc.Name, iss.Err())
		}
		prg, err := env.Program(ast)
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := prg.Eval(map[string]any{"request": request, "object": object, "oldObject": oldObject})
		if err != nil {
			t.Fatalf("matchCondition %s errors (the failurePolicy would decide): %v", mc.Name, err)
		}
		b, ok := out.Value().(bool)
		if !ok {
			t.Fatalf("matchCondition %s returned %v, not a bool", mc.Name, out)
		}
		called = called && b
	}
	return called
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
