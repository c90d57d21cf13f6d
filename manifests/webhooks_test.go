package manifests

import (
	"encoding/json"
	"slices"
	"strconv"
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// alwaysExcluded returns the namespaces neither webhook may ever see, for a release in ns.
func alwaysExcluded(ns string) []string {
	return []string{"kube-system", "kube-public", "kube-node-lease", ns}
}

// webhook is what the mutating and validating webhooks have in common.
type webhook struct {
	config                  string // kind of the configuration
	annotations             map[string]string
	name                    string
	clientConfig            admissionregistrationv1.WebhookClientConfig
	rules                   []admissionregistrationv1.RuleWithOperations
	failurePolicy           *admissionregistrationv1.FailurePolicyType
	sideEffects             *admissionregistrationv1.SideEffectClass
	timeoutSeconds          *int32
	admissionReviewVersions []string
	namespaceSelector       *metav1.LabelSelector
	objectSelector          *metav1.LabelSelector
	matchConditions         []admissionregistrationv1.MatchCondition
}

// webhooks returns the main webhook of the MutatingWebhookConfiguration (the first; the second
// is keepClassWebhook's) and the main one of the ValidatingWebhookConfiguration (the first; the
// others are the budgets' and operatorResourceWebhook's), in that order.
func webhooks(t *testing.T, r *rendered) (mutating, validating webhook, reinvocation *admissionregistrationv1.ReinvocationPolicyType) {
	t.Helper()
	m := get[admissionregistrationv1.MutatingWebhookConfiguration](t, r, "MutatingWebhookConfiguration", fullname)
	v := get[admissionregistrationv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration", fullname)
	if len(m.Webhooks) != 2 || len(v.Webhooks) != 3 {
		t.Fatalf("%d mutating and %d validating webhooks, want 2 and 3", len(m.Webhooks), len(v.Webhooks))
	}
	return mutatingWebhook("MutatingWebhookConfiguration", m, 0), validatingWebhook("ValidatingWebhookConfiguration", v, 0),
		m.Webhooks[0].ReinvocationPolicy
}

// mutatingWebhook and validatingWebhook return the i-th webhook of a configuration as a webhook,
// under the name config.
func mutatingWebhook(config string, m *admissionregistrationv1.MutatingWebhookConfiguration, i int) webhook {
	w := m.Webhooks[i]
	return webhook{config, m.Annotations, w.Name, w.ClientConfig, w.Rules, w.FailurePolicy, w.SideEffects,
		w.TimeoutSeconds, w.AdmissionReviewVersions, w.NamespaceSelector, w.ObjectSelector, w.MatchConditions}
}

func validatingWebhook(config string, v *admissionregistrationv1.ValidatingWebhookConfiguration, i int) webhook {
	w := v.Webhooks[i]
	return webhook{config, v.Annotations, w.Name, w.ClientConfig, w.Rules, w.FailurePolicy, w.SideEffects,
		w.TimeoutSeconds, w.AdmissionReviewVersions, w.NamespaceSelector, w.ObjectSelector, w.MatchConditions}
}

// keepClassWebhook returns the second mutating webhook: the one for updates that drop a stored
// storage class.
func keepClassWebhook(t *testing.T, r *rendered) webhook {
	t.Helper()
	m := get[admissionregistrationv1.MutatingWebhookConfiguration](t, r, "MutatingWebhookConfiguration", fullname)
	if len(m.Webhooks) != 2 {
		t.Fatalf("%d mutating webhooks, want 2", len(m.Webhooks))
	}
	if w := m.Webhooks[1]; w.ReinvocationPolicy == nil || *w.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy {
		t.Errorf("%s: reinvocationPolicy %v, want IfNeeded", w.Name, w.ReinvocationPolicy)
	}
	return mutatingWebhook("keep-class", m, 1)
}

// budgetWebhook returns the second validating webhook: the budgets'.
func budgetWebhook(t *testing.T, r *rendered) webhook {
	t.Helper()
	v := get[admissionregistrationv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration", fullname)
	if len(v.Webhooks) != 3 {
		t.Fatalf("%d validating webhooks, want 3", len(v.Webhooks))
	}
	return validatingWebhook("budgets", v, 1)
}

// The budget webhook sends PodDisruptionBudget writes to /validate and fails open whatever the
// values say: Stowage being down must never make a budget unwritable.
func TestBudgetWebhook(t *testing.T) {
	for _, values := range []string{"", "webhook: {validating: {failurePolicy: Fail}}"} {
		w := budgetWebhook(t, render(t, values))
		if w.name != "validate-budgets.stowage.dev" || ptr.Deref(w.failurePolicy, "") != admissionregistrationv1.Ignore {
			t.Errorf("%s: failurePolicy %v, want Ignore", w.name, ptr.Deref(w.failurePolicy, ""))
		}
		if w.clientConfig.Service == nil || ptr.Deref(w.clientConfig.Service.Path, "") != "/validate" {
			t.Errorf("%s: clientConfig %+v, want the /validate endpoint", w.name, w.clientConfig)
		}
		want := []admissionregistrationv1.RuleWithOperations{
			admissionRule("policy", "poddisruptionbudgets", admissionregistrationv1.Create, admissionregistrationv1.Update),
		}
		if diff := cmp.Diff(want, w.rules); diff != "" {
			t.Errorf("rules (-want +got):\n%s", diff)
		}
	}
}

// The updates that drop a stored class fail closed whatever the mutating failurePolicy: the API
// server would reject them as Invalid without Stowage anyway, and a 422 makes
// prometheus-operator delete and recreate its StatefulSet (TestPrometheusOperator).
func TestKeepClassWebhook(t *testing.T) {
	for _, values := range []string{"", "webhook: {timeoutSeconds: 1, mutating: {failurePolicy: Ignore}}"} {
		r := render(t, values)
		m, _, _ := webhooks(t, r)
		k := keepClassWebhook(t, r)
		if k.name != "keep-class.mutate.stowage.dev" || ptr.Deref(k.failurePolicy, "") != admissionregistrationv1.Fail {
			t.Errorf("%s: failurePolicy %v, want Fail", k.name, ptr.Deref(k.failurePolicy, ""))
		}
		if k.clientConfig.Service == nil || ptr.Deref(k.clientConfig.Service.Path, "") != "/mutate" {
			t.Errorf("%s: clientConfig %+v, want the /mutate endpoint", k.name, k.clientConfig)
		}
		want := []admissionregistrationv1.RuleWithOperations{
			admissionRule("apps", "statefulsets", admissionregistrationv1.Update),
			admissionRule("", "persistentvolumeclaims", admissionregistrationv1.Update),
		}
		if diff := cmp.Diff(want, k.rules); diff != "" {
			t.Errorf("%s rules (-want +got):\n%s", k.name, diff)
		}
		if diff := cmp.Diff(m.namespaceSelector, k.namespaceSelector); diff != "" {
			t.Errorf("%s namespaceSelector differs from the main webhook's:\n%s", k.name, diff)
		}
		if ptr.Deref(k.timeoutSeconds, 0) != ptr.Deref(m.timeoutSeconds, 0) || ptr.Deref(k.sideEffects, "") != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("%s: timeout %v, sideEffects %v", k.name, ptr.Deref(k.timeoutSeconds, 0), ptr.Deref(k.sideEffects, ""))
		}
	}
}

func TestWebhookConfigurations(t *testing.T) {
	caPEM := testCA(t)
	for _, tc := range []struct {
		name                             string
		namespace                        string // of the release; Namespace if empty
		values                           string
		wantMutatingFP, wantValidatingFP admissionregistrationv1.FailurePolicyType
		wantTimeout                      int32
		wantExcluded                     []string // beyond alwaysExcluded
		wantIncluded                     []string
		ownCA                            []byte
	}{
		{
			name:           "default values: mutating ignores failures, validating fails closed",
			wantMutatingFP: admissionregistrationv1.Ignore, wantValidatingFP: admissionregistrationv1.Fail,
			wantTimeout:  3,
			wantIncluded: []string{"default", "databases"},
		},
		{
			name:           "failure policies swapped, 1 second timeout",
			values:         "webhook: {timeoutSeconds: 1, mutating: {failurePolicy: Fail}, validating: {failurePolicy: Ignore}}",
			wantMutatingFP: admissionregistrationv1.Fail, wantValidatingFP: admissionregistrationv1.Ignore,
			wantTimeout:  1,
			wantIncluded: []string{"default"},
		},
		{
			name:           "extra exclusions are added to, never replace, the fixed ones",
			values:         "webhook: {excludeNamespaces: [monitoring, kube-system], namespaceSelectorExpressions: [{key: stowage.dev/ignore, operator: DoesNotExist}]}",
			wantMutatingFP: admissionregistrationv1.Ignore, wantValidatingFP: admissionregistrationv1.Fail,
			wantTimeout:  3,
			wantExcluded: []string{"monitoring"},
			wantIncluded: []string{"default"},
		},
		{
			name:           "own CA bundle: caBundle set, no cert-manager injection",
			values:         ownCAValues(caPEM),
			wantMutatingFP: admissionregistrationv1.Ignore, wantValidatingFP: admissionregistrationv1.Fail,
			wantTimeout:  3,
			wantIncluded: []string{"default"},
			ownCA:        caPEM,
		},
		{
			name:           "release in another namespace: that namespace is excluded instead",
			namespace:      "platform-webhooks",
			wantMutatingFP: admissionregistrationv1.Ignore, wantValidatingFP: admissionregistrationv1.Fail,
			wantTimeout:  3,
			wantIncluded: []string{"default", Namespace},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := tc.namespace
			if ns == "" {
				ns = Namespace
			}
			r := renderIn(t, ns, tc.values)
			m, v, reinvocation := webhooks(t, r)

			if reinvocation == nil || *reinvocation != admissionregistrationv1.IfNeededReinvocationPolicy {
				t.Errorf("mutating reinvocationPolicy is %v, want IfNeeded", ptr.Deref(reinvocation, ""))
			}
			if got := ptr.Deref(m.failurePolicy, ""); got != tc.wantMutatingFP {
				t.Errorf("mutating failurePolicy is %q, want %q", got, tc.wantMutatingFP)
			}
			if got := ptr.Deref(v.failurePolicy, ""); got != tc.wantValidatingFP {
				t.Errorf("validating failurePolicy is %q, want %q", got, tc.wantValidatingFP)
			}

			wantRules := map[string][]admissionregistrationv1.RuleWithOperations{
				m.config: {
					admissionRule("apps", "statefulsets", admissionregistrationv1.Create, admissionregistrationv1.Update),
					admissionRule("", "persistentvolumeclaims", admissionregistrationv1.Create, admissionregistrationv1.Update),
				},
				v.config: {
					admissionRule("apps", "statefulsets", admissionregistrationv1.Create, admissionregistrationv1.Update),
					admissionRule("apps", "statefulsets/scale", admissionregistrationv1.Update),
					admissionRule("", "persistentvolumeclaims", admissionregistrationv1.Create),
				},
			}
			wantPath := map[string]string{m.config: "/mutate", v.config: "/validate"}

			for _, w := range []webhook{m, v} {
				t.Run(w.config, func(t *testing.T) {
					if diff := cmp.Diff([]string{"v1"}, w.admissionReviewVersions); diff != "" {
						t.Errorf("admissionReviewVersions (-want +got):\n%s", diff)
					}
					if w.timeoutSeconds == nil || *w.timeoutSeconds > 3 || *w.timeoutSeconds != tc.wantTimeout {
						t.Errorf("timeoutSeconds is %v, want %d (never over 3)", ptr.Deref(w.timeoutSeconds, -1), tc.wantTimeout)
					}
					if got := ptr.Deref(w.sideEffects, ""); got != admissionregistrationv1.SideEffectClassNone {
						t.Errorf("sideEffects is %q, want None", got)
					}
					if diff := cmp.Diff(wantRules[w.config], w.rules); diff != "" {
						t.Errorf("rules (-want +got):\n%s", diff)
					}
					if w.objectSelector != nil && len(w.objectSelector.MatchLabels)+len(w.objectSelector.MatchExpressions) > 0 {
						t.Errorf("objectSelector %v: the policy, not the webhook, decides which objects it covers", w.objectSelector)
					}
					checkNamespaceSelector(t, w.namespaceSelector, append(alwaysExcluded(ns), tc.wantExcluded...), tc.wantIncluded)
					checkClientConfig(t, r, ns, w.clientConfig, wantPath[w.config])
					checkCA(t, r, ns, w, tc.ownCA)
				})
			}
		})
	}
}

func admissionRule(group, resource string, ops ...admissionregistrationv1.OperationType) admissionregistrationv1.RuleWithOperations {
	return admissionregistrationv1.RuleWithOperations{
		Operations: ops,
		Rule: admissionregistrationv1.Rule{
			APIGroups:   []string{group},
			APIVersions: []string{"v1"},
			Resources:   []string{resource},
			Scope:       ptr.To(admissionregistrationv1.NamespacedScope),
		},
	}
}

// checkNamespaceSelector checks the selector both by its text (a NotIn on
// kubernetes.io/metadata.name that lists every excluded namespace) and by what it selects.
func checkNamespaceSelector(t *testing.T, s *metav1.LabelSelector, excluded, included []string) {
	t.Helper()
	if s == nil {
		t.Fatal("no namespaceSelector: the webhook would intercept kube-system and its own namespace")
	}
	var notIn []string
	for _, e := range s.MatchExpressions {
		if e.Key == corev1.LabelMetadataName && e.Operator == metav1.LabelSelectorOpNotIn {
			notIn = append(notIn, e.Values...)
		}
	}
	for _, ns := range excluded {
		if !slices.Contains(notIn, ns) {
			t.Errorf("namespaceSelector does not exclude %s by %s NotIn (excludes %v)", ns, corev1.LabelMetadataName, notIn)
		}
	}
	if len(notIn) != len(excluded) {
		t.Errorf("namespaceSelector excludes %v, want exactly %v (no duplicates)", notIn, excluded)
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		t.Fatalf("namespaceSelector: %v", err)
	}
	nsLabels := func(name string) labels.Set { return labels.Set{corev1.LabelMetadataName: name} }
	for _, ns := range excluded {
		if sel.Matches(nsLabels(ns)) {
			t.Errorf("namespaceSelector selects namespace %s", ns)
		}
	}
	for _, ns := range included {
		if !sel.Matches(nsLabels(ns)) {
			t.Errorf("namespaceSelector does not select namespace %s", ns)
		}
	}
}

// checkClientConfig checks that the webhook calls the chart's Service on a port that leads to
// the container's webhook port, 9443.
func checkClientConfig(t *testing.T, r *rendered, ns string, cc admissionregistrationv1.WebhookClientConfig, wantPath string) {
	t.Helper()
	if cc.URL != nil {
		t.Errorf("clientConfig.url is %q; the webhook must be called through its Service", *cc.URL)
	}
	s := cc.Service
	if s == nil {
		t.Fatal("clientConfig.service is unset")
	}
	if s.Name != fullname+"-webhook" || s.Namespace != ns || ptr.Deref(s.Path, "") != wantPath {
		t.Errorf("clientConfig.service is %s/%s path %s, want %s/%s-webhook path %s", s.Namespace, s.Name, ptr.Deref(s.Path, ""), ns, fullname, wantPath)
	}
	svc := get[corev1.Service](t, r, "Service", s.Name)
	port := ptr.Deref(s.Port, 443)
	d := get[appsv1.Deployment](t, r, "Deployment", fullname)
	if got := servicePortTarget(t, svc, d, port); got != 9443 {
		t.Errorf("Service port %d leads to container port %d, want 9443", port, got)
	}
}

// servicePortTarget follows a Service port to the number of the Deployment's container port.
func servicePortTarget(t *testing.T, svc *corev1.Service, d *appsv1.Deployment, port int32) int32 {
	t.Helper()
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	if len(svc.Spec.Selector) == 0 || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Fatalf("Service %s selector %v does not select the Deployment's pods %v", svc.Name, svc.Spec.Selector, d.Spec.Template.Labels)
	}
	for _, p := range svc.Spec.Ports {
		if p.Port == port {
			return containerPort(t, d, p.TargetPort.String())
		}
	}
	t.Fatalf("Service %s has no port %d", svc.Name, port)
	return 0
}

// containerPort resolves a port name or number of the webhook container to its number.
func containerPort(t *testing.T, d *appsv1.Deployment, nameOrNumber string) int32 {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == nameOrNumber || strconv.Itoa(int(p.ContainerPort)) == nameOrNumber {
				return p.ContainerPort
			}
		}
	}
	t.Fatalf("no container port %q", nameOrNumber)
	return 0
}

// checkCA checks where the API server gets the CA that verifies the webhook: from cert-manager's
// cainjector, pointed at the serving Certificate, or from the user's caBundle.
func checkCA(t *testing.T, r *rendered, ns string, w webhook, ownCA []byte) {
	t.Helper()
	inject, ok := w.annotations["cert-manager.io/inject-ca-from"]
	if ownCA != nil {
		if ok {
			t.Errorf("cert-manager.io/inject-ca-from is %q without cert-manager", inject)
		}
		if diff := cmp.Diff(string(ownCA), string(w.clientConfig.CABundle)); diff != "" {
			t.Errorf("caBundle is not the CA given in values (-want +got):\n%s", diff)
		}
		return
	}
	if len(w.clientConfig.CABundle) != 0 {
		t.Errorf("caBundle is set although cainjector manages it")
	}
	want := ns + "/" + fullname + "-webhook"
	if inject != want {
		t.Fatalf("cert-manager.io/inject-ca-from is %q, want %q", inject, want)
	}
	cert := get[cmv1.Certificate](t, r, "Certificate", fullname+"-webhook")
	if cert.Namespace+"/"+cert.Name != inject {
		t.Errorf("inject-ca-from %q does not name the serving Certificate %s/%s", inject, cert.Namespace, cert.Name)
	}
}

// The matchConditions are CEL, evaluated by the API server before it calls the webhook. An
// expression that errors hands the request to the failurePolicy, which for the validating
// webhook means a rejection, so every scenario below must evaluate cleanly.
func TestWebhookMatchConditions(t *testing.T) {
	r := render(t, "")
	m, v, _ := webhooks(t, r)

	env, err := cel.NewEnv(
		cel.Variable("object", cel.DynType),
		cel.Variable("oldObject", cel.DynType),
		cel.Variable("request", cel.DynType),
	)
	if err != nil {
		t.Fatal(err)
	}
	compile := func(w webhook) []cel.Program {
		t.Helper()
		if len(w.matchConditions) == 0 {
			t.Fatalf("%s has no matchConditions", w.config)
		}
		var progs []cel.Program
		for _, mc := range w.matchConditions {
			ast, iss := env.Compile(mc.Expression)
			if iss.Err() != nil {
				t.Fatalf("%s matchCondition %s: %v", w.config, mc.Name, iss.Err())
			}
			if !ast.OutputType().IsAssignableType(cel.BoolType) {
				t.Fatalf("%s matchCondition %s is of type %v, want bool", w.config, mc.Name, ast.OutputType())
			}
			prg, err := env.Program(ast)
			if err != nil {
				t.Fatal(err)
			}
			progs = append(progs, prg)
		}
		return progs
	}
	k := keepClassWebhook(t, r)
	b := budgetWebhook(t, r)
	progs := map[string][]cel.Program{m.config: compile(m), v.config: compile(v), k.config: compile(k), b.config: compile(b)}
	withClaim := func(s *appsv1.StatefulSet, class string) *appsv1.StatefulSet {
		c := corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}}
		if class != "" {
			c.Spec.StorageClassName = ptr.To(class)
		}
		s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{c}
		return s
	}

	sts := func(replicas int32, labels map[string]string) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
			ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "databases", Labels: labels},
			Spec: appsv1.StatefulSetSpec{
				Replicas: ptr.To(replicas),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "postgres:17"}}},
				},
			},
		}
	}
	withImage := func(s *appsv1.StatefulSet, image string) *appsv1.StatefulSet {
		s.Spec.Template.Spec.Containers[0].Image = image
		return s
	}
	withoutReplicas := func(s *appsv1.StatefulSet) *appsv1.StatefulSet {
		s.Spec.Replicas = nil
		return s
	}
	scale := func(replicas int32) *autoscalingv1.Scale {
		return &autoscalingv1.Scale{
			TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
			ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "databases"},
			Spec:       autoscalingv1.ScaleSpec{Replicas: replicas},
		}
	}
	pvc := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "databases"},
	}
	claim := func(class string) *corev1.PersistentVolumeClaim {
		c := pvc.DeepCopy()
		if class != "" {
			c.Spec.StorageClassName = ptr.To(class)
		}
		return c
	}
	withSize := func(c *corev1.PersistentVolumeClaim, size string) *corev1.PersistentVolumeClaim {
		c.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}
		return c
	}
	user := authenticationv1.UserInfo{Username: "alice", Groups: []string{"system:authenticated"}}
	kubelet := authenticationv1.UserInfo{Username: "system:node:worker-1", Groups: []string{"system:nodes"}}
	// kube-controller-manager with --use-service-account-credentials, as kubeadm and most
	// distributions run it: each controller has its own service account.
	stsController := authenticationv1.UserInfo{Username: "system:serviceaccount:kube-system:statefulset-controller",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}}
	otherController := authenticationv1.UserInfo{Username: "system:serviceaccount:kube-system:ephemeral-volume-controller",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}}
	// Stowage itself, as the chart runs it (its budget controller writes the budgets), and a
	// namesake in another namespace.
	stowage := authenticationv1.UserInfo{Username: "system:serviceaccount:" + Namespace + ":" + fullname,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + Namespace, "system:authenticated"}}
	namesake := authenticationv1.UserInfo{Username: "system:serviceaccount:databases:" + fullname,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:databases", "system:authenticated"}}
	budget := func(minAvailable int) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{
			TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
			ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "databases"},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(int32(minAvailable))),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
		}
	}
	pdbGVK := metav1.GroupVersionKind{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"}
	pdbGVR := metav1.GroupVersionResource{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"}
	stsGVK := metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}
	stsGVR := metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	scaleGVK := metav1.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}
	pvcGVK := metav1.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"}
	pvcGVR := metav1.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}

	for _, tc := range []struct {
		name       string
		config     string
		req        admissionv1.AdmissionRequest
		obj, old   any
		wantCalled bool
	}{
		{"StatefulSet created by a user → mutated", m.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Create, UserInfo: user}, sts(3, nil), nil, true},
		{"claim created by a user → mutated", m.config,
			admissionv1.AdmissionRequest{Kind: pvcGVK, Resource: pvcGVR, Operation: admissionv1.Create, UserInfo: user}, pvc, nil, true},
		{"StatefulSet created by a node → not mutated", m.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Create, UserInfo: kubelet}, sts(3, nil), nil, false},
		{"StatefulSet update that changes the pod template (a re-apply) → sent to the mutator to keep what it would undo", m.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Update, UserInfo: user}, withImage(sts(3, nil), "postgres:18"), sts(3, nil), true},
		{"StatefulSet update that changes replicas and the pod template → sent to the mutator", m.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Update, UserInfo: user}, withImage(sts(5, nil), "postgres:18"), sts(3, nil), true},
		{"StatefulSet update that only changes replicas (a scale through the main resource) → not sent to the mutator", m.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Update, UserInfo: user}, sts(5, nil), sts(3, nil), false},
		{"StatefulSet update that adds a spec field → sent to the mutator", m.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Update, UserInfo: user}, withClaim(sts(3, nil), "openebs-hostpath"), sts(3, nil), true},
		{"StatefulSet update that removes a spec field → sent to the mutator", m.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Update, UserInfo: user}, sts(3, nil), withClaim(sts(3, nil), "openebs-hostpath"), true},
		{"StatefulSet update that only drops spec.replicas → not sent to the mutator", m.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Update, UserInfo: user}, withoutReplicas(sts(3, nil)), sts(3, nil), false},
		{"claim update that changes the requested size → sent to the mutator", m.config,
			admissionv1.AdmissionRequest{Kind: pvcGVK, Resource: pvcGVR, Operation: admissionv1.Update, UserInfo: user}, withSize(claim("openebs-hostpath"), "20Gi"), claim("openebs-hostpath"), true},
		{"claim update that leaves the spec alone → not sent to the mutator", m.config,
			admissionv1.AdmissionRequest{Kind: pvcGVK, Resource: pvcGVR, Operation: admissionv1.Update, UserInfo: user}, claim("openebs-hostpath"), claim("openebs-hostpath"), false},
		{"StatefulSet update that only changes labels → not sent to the mutator", m.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Update, UserInfo: user}, sts(3, map[string]string{"tier": "gold"}), sts(3, nil), false},
		{"StatefulSet created by a user → validated", v.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Create, UserInfo: user}, sts(3, nil), nil, true},
		{"claim created by a user → validated", v.config,
			admissionv1.AdmissionRequest{Kind: pvcGVK, Resource: pvcGVR, Operation: admissionv1.Create, UserInfo: user}, pvc, nil, true},
		{"StatefulSet update that changes replicas → validated", v.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Update, UserInfo: user}, sts(5, nil), sts(3, nil), true},
		{"StatefulSet update that only changes labels → skipped", v.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Update, UserInfo: user}, sts(3, map[string]string{"tier": "gold"}), sts(3, nil), false},
		{"scale to more replicas → validated", v.config,
			admissionv1.AdmissionRequest{Kind: scaleGVK, Resource: stsGVR, SubResource: "scale", Operation: admissionv1.Update, UserInfo: user}, scale(5), scale(3), true},
		{"scale that changes nothing → still validated", v.config,
			admissionv1.AdmissionRequest{Kind: scaleGVK, Resource: stsGVR, SubResource: "scale", Operation: admissionv1.Update, UserInfo: user}, scale(3), scale(3), true},
		{"claim created by the StatefulSet controller → not validated (recovery must not need the webhook)", v.config,
			admissionv1.AdmissionRequest{Kind: pvcGVK, Resource: pvcGVR, Operation: admissionv1.Create, UserInfo: stsController}, pvc, nil, false},
		{"claim created by the StatefulSet controller → still mutated (fails open)", m.config,
			admissionv1.AdmissionRequest{Kind: pvcGVK, Resource: pvcGVR, Operation: admissionv1.Create, UserInfo: stsController}, pvc, nil, true},
		{"StatefulSet created by the StatefulSet controller's identity → validated", v.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Create, UserInfo: stsController}, sts(3, nil), nil, true},
		{"StatefulSet update by a node → skipped", v.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Update, UserInfo: kubelet}, sts(5, nil), sts(3, nil), false},
		// An update that drops the stored claim-template class (an operator's full rewrite) goes
		// to the webhook that fails closed, and only to it.
		{"StatefulSet update that drops the stored claim-template class → not to the main mutator", m.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Update, UserInfo: user},
			withClaim(sts(3, nil), ""), withClaim(sts(3, nil), "openebs-hostpath"), false},
		{"StatefulSet update that drops the stored claim-template class → to keep-class", k.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Update, UserInfo: user},
			withClaim(sts(3, nil), ""), withClaim(sts(3, nil), "openebs-hostpath"), true},
		{"StatefulSet update that keeps the class and changes the pod template → main mutator", m.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Update, UserInfo: user},
			withImage(withClaim(sts(5, nil), "openebs-hostpath"), "postgres:18"), withClaim(sts(3, nil), "openebs-hostpath"), true},
		{"StatefulSet update that keeps the class → not keep-class", k.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Update, UserInfo: user},
			withClaim(sts(5, nil), "openebs-hostpath"), withClaim(sts(3, nil), "openebs-hostpath"), false},
		{"StatefulSet update without claim templates → not keep-class", k.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Update, UserInfo: user}, sts(5, nil), sts(3, nil), false},
		{"StatefulSet update that drops a class the stored one never had → not keep-class", k.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Update, UserInfo: user},
			withClaim(sts(5, nil), ""), withClaim(sts(3, nil), ""), false},
		{"StatefulSet created → not keep-class", k.config,
			admissionv1.AdmissionRequest{Kind: stsGVK, Resource: stsGVR, Operation: admissionv1.Create, UserInfo: user}, withClaim(sts(3, nil), ""), nil, false},
		{"claim update that drops the stored class → keep-class", k.config,
			admissionv1.AdmissionRequest{Kind: pvcGVK, Resource: pvcGVR, Operation: admissionv1.Update, UserInfo: user}, claim(""), claim("openebs-hostpath"), true},
		{"claim update that drops the stored class → not the main mutator", m.config,
			admissionv1.AdmissionRequest{Kind: pvcGVK, Resource: pvcGVR, Operation: admissionv1.Update, UserInfo: user}, claim(""), claim("openebs-hostpath"), false},
		{"claim update by a node → not keep-class", k.config,
			admissionv1.AdmissionRequest{Kind: pvcGVK, Resource: pvcGVR, Operation: admissionv1.Update, UserInfo: kubelet}, claim(""), claim("openebs-hostpath"), false},
		{"claim created by another service account in kube-system → validated", v.config,
			admissionv1.AdmissionRequest{Kind: pvcGVK, Resource: pvcGVR, Operation: admissionv1.Create, UserInfo: otherController}, pvc, nil, true},
		{"budget created by a user → judged", b.config,
			admissionv1.AdmissionRequest{Kind: pdbGVK, Resource: pdbGVR, Operation: admissionv1.Create, UserInfo: user}, budget(1), nil, true},
		{"budget update that changes the spec → judged", b.config,
			admissionv1.AdmissionRequest{Kind: pdbGVK, Resource: pdbGVR, Operation: admissionv1.Update, UserInfo: user}, budget(1), budget(2), true},
		{"budget update that leaves the spec alone → skipped", b.config,
			admissionv1.AdmissionRequest{Kind: pdbGVK, Resource: pdbGVR, Operation: admissionv1.Update, UserInfo: user}, budget(2), budget(2), false},
		{"budget created by Stowage's own controller → skipped", b.config,
			admissionv1.AdmissionRequest{Kind: pdbGVK, Resource: pdbGVR, Operation: admissionv1.Create, UserInfo: stowage}, budget(2), nil, false},
		{"budget updated by Stowage's own controller → skipped", b.config,
			admissionv1.AdmissionRequest{Kind: pdbGVK, Resource: pdbGVR, Operation: admissionv1.Update, UserInfo: stowage}, budget(1), budget(2), false},
		{"budget created by a service account of Stowage's name in another namespace → judged", b.config,
			admissionv1.AdmissionRequest{Kind: pdbGVK, Resource: pdbGVR, Operation: admissionv1.Create, UserInfo: namesake}, budget(1), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]any{
				"request":   toCEL(t, tc.req),
				"object":    toCEL(t, tc.obj),
				"oldObject": toCEL(t, tc.old),
			}
			called := true
			for i, prg := range progs[tc.config] {
				out, _, err := prg.Eval(vars)
				if err != nil {
					t.Fatalf("matchCondition %d errors (the failurePolicy would decide): %v", i, err)
				}
				b, ok := out.Value().(bool)
				if !ok {
					t.Fatalf("matchCondition %d returned %v, not a bool", i, out)
				}
				called = called && b
			}
			if called != tc.wantCalled {
				t.Errorf("webhook called = %t, want %t", called, tc.wantCalled)
			}
		})
	}
}

// toCEL converts a typed object to the value the API server gives CEL: its JSON form, in which
// empty fields tagged omitempty are absent (reading one is an error; has() tests for it).
func toCEL(t *testing.T, v any) any {
	t.Helper()
	if v == nil {
		return types.NullValue
	}
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
