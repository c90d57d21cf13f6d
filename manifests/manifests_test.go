package manifests

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// paths locates the chart and the tools from this package's folder.
var paths = Paths{Root: ".."}

// updateGolden regenerates install.yaml and the CRD instead of comparing them.
var updateGolden = os.Getenv("UPDATE_GOLDEN") != ""

// fullname is the name the chart gives its objects for release "stowage".
const fullname = "stowage"

func helm(t testing.TB) string {
	t.Helper()
	p, err := paths.Helm()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func controllerGen(t testing.TB) string {
	t.Helper()
	p, err := paths.ControllerGen()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// prometheusRule mirrors monitoring.coreos.com/v1 PrometheusRule as far as the chart uses it.
// The project does not depend on prometheus-operator's Go module; decoding strictly into this
// copy still catches misspelt and misplaced fields.
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		Groups []ruleGroup `json:"groups"`
	} `json:"spec"`
}

type ruleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Rules    []rule `json:"rules"`
}

type rule struct {
	Alert         string            `json:"alert,omitempty"`
	Record        string            `json:"record,omitempty"`
	Expr          string            `json:"expr"`
	For           string            `json:"for,omitempty"`
	KeepFiringFor string            `json:"keep_firing_for,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// kinds maps every apiVersion and kind the chart may render to its Go type. A kind missing here
// fails the tests: a new template needs a type to be checked against.
var kinds = map[string]struct {
	newObj     func() any
	namespaced bool
}{
	"v1/Namespace":                                                   {func() any { return &corev1.Namespace{} }, false},
	"v1/ServiceAccount":                                              {func() any { return &corev1.ServiceAccount{} }, true},
	"v1/Service":                                                     {func() any { return &corev1.Service{} }, true},
	"apps/v1/Deployment":                                             {func() any { return &appsv1.Deployment{} }, true},
	"policy/v1/PodDisruptionBudget":                                  {func() any { return &policyv1.PodDisruptionBudget{} }, true},
	"v1/ResourceQuota":                                               {func() any { return &corev1.ResourceQuota{} }, true},
	"networking.k8s.io/v1/NetworkPolicy":                             {func() any { return &networkingv1.NetworkPolicy{} }, true},
	"rbac.authorization.k8s.io/v1/ClusterRole":                       {func() any { return &rbacv1.ClusterRole{} }, false},
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding":                {func() any { return &rbacv1.ClusterRoleBinding{} }, false},
	"rbac.authorization.k8s.io/v1/Role":                              {func() any { return &rbacv1.Role{} }, true},
	"rbac.authorization.k8s.io/v1/RoleBinding":                       {func() any { return &rbacv1.RoleBinding{} }, true},
	"admissionregistration.k8s.io/v1/MutatingWebhookConfiguration":   {func() any { return &admissionregistrationv1.MutatingWebhookConfiguration{} }, false},
	"admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration": {func() any { return &admissionregistrationv1.ValidatingWebhookConfiguration{} }, false},
	"apiextensions.k8s.io/v1/CustomResourceDefinition":               {func() any { return &apiextensionsv1.CustomResourceDefinition{} }, false},
	"cert-manager.io/v1/Issuer":                                      {func() any { return &cmv1.Issuer{} }, true},
	"cert-manager.io/v1/Certificate":                                 {func() any { return &cmv1.Certificate{} }, true},
	"stowage.dev/v1alpha1/PlacementPolicy":                           {func() any { return &v1alpha1.PlacementPolicy{} }, false},
	"monitoring.coreos.com/v1/PrometheusRule":                        {func() any { return &prometheusRule{} }, true},
}

// object is one rendered object, decoded into its Go type.
type object struct {
	doc *stream.Document
	obj any
}

// rendered is the decoded output of one `helm template` run.
type rendered struct {
	objects []object
}

// find returns the object of kind with name, or nil.
func (r *rendered) find(kind, name string) any {
	for _, o := range r.objects {
		if o.doc.Kind == kind && o.doc.Name == name {
			return o.obj
		}
	}
	return nil
}

// count returns how many objects of kind there are.
func (r *rendered) count(kind string) int {
	n := 0
	for _, o := range r.objects {
		if o.doc.Kind == kind {
			n++
		}
	}
	return n
}

// get returns the object of kind with name, failing the test if there is none.
func get[T any](t *testing.T, r *rendered, kind, name string) *T {
	t.Helper()
	o := r.find(kind, name)
	if o == nil {
		t.Fatalf("no %s %q rendered", kind, name)
	}
	typed, ok := o.(*T)
	if !ok {
		t.Fatalf("%s %q decoded as %T", kind, name, o)
	}
	return typed
}

// all returns every object of kind.
func all[T any](r *rendered, kind string) []*T {
	var out []*T
	for _, o := range r.objects {
		if o.doc.Kind == kind {
			if typed, ok := o.obj.(*T); ok {
				out = append(out, typed)
			}
		}
	}
	return out
}

// decode reads a YAML stream and decodes every object strictly into its Go type: an unknown or
// duplicate field, a value of the wrong type or an unknown kind fails the test.
func decode(t *testing.T, source string, data []byte) *rendered {
	t.Helper()
	r := &rendered{}
	seen := map[string]bool{}
	errs := stream.Read(source, data, func(d *stream.Document) error {
		key := d.APIVersion + "/" + d.Kind
		k, ok := kinds[key]
		if !ok {
			t.Errorf("%s:%d: %s %s has no Go type in this test; add it to kinds", source, d.Line, key, d.Name)
			return nil
		}
		obj := k.newObj()
		fieldErrs, err := stream.Decode(d, obj)
		if err != nil {
			t.Errorf("%s:%d: %s %s: %v", source, d.Line, d.Kind, d.Name, err)
			return nil
		}
		for _, fe := range fieldErrs {
			t.Errorf("%s:%d: %s %s: %s", source, fe.Line, d.Kind, d.Name, fe.Message)
		}
		id := key + " " + d.Namespace + "/" + d.Name
		if seen[id] {
			t.Errorf("%s:%d: %s rendered twice", source, d.Line, id)
		}
		seen[id] = true
		r.objects = append(r.objects, object{doc: d, obj: obj})
		return nil
	})
	for _, err := range errs {
		t.Errorf("%s: %v", source, err)
	}
	if len(r.objects) == 0 {
		t.Fatalf("%s: no objects", source)
	}
	return r
}

// render runs `helm template` for a release in Namespace with a values file holding values
// (YAML; may be empty) and decodes the result. It also checks what every rendered object must
// satisfy.
func render(t *testing.T, values string) *rendered {
	t.Helper()
	return renderIn(t, Namespace, values)
}

// renderIn is render for a release in namespace ns.
func renderIn(t *testing.T, ns, values string) *rendered {
	t.Helper()
	out, err := template(t, values, "--namespace", ns)
	if err != nil {
		t.Fatal(err)
	}
	r := decode(t, "helm template", out)
	checkMetadata(t, r, ns)
	return r
}

// template runs `helm template` with a values file holding values and returns its output.
func template(t *testing.T, values string, args ...string) ([]byte, error) {
	t.Helper()
	if values != "" {
		args = append([]string{"--values", valuesFile(t, values)}, args...)
	}
	return Template(context.Background(), helm(t), paths.Chart(), args...)
}

// valuesFile writes values to a temporary file and returns its path. Not under t.TempDir():
// helm splits --values at commas, which test names contain.
func valuesFile(t *testing.T, values string) string {
	t.Helper()
	f, err := os.CreateTemp("", "stowage-values-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(f.Name()) })
	if _, err := f.WriteString(values); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// checkMetadata checks the names, namespaces and labels of every object of a release in ns.
func checkMetadata(t *testing.T, r *rendered, ns string) {
	t.Helper()
	for _, o := range r.objects {
		d := o.doc
		ref := d.Kind + " " + d.Ref()
		for _, msg := range validation.IsDNS1123Subdomain(d.Name) {
			t.Errorf("%s: invalid name: %s", ref, msg)
		}
		namespaced := kinds[d.APIVersion+"/"+d.Kind].namespaced
		switch {
		case namespaced && d.Namespace != ns:
			// helm template leaves metadata.namespace to the templates; without it,
			// `kubectl apply -f install.yaml` would install into the current context's namespace.
			t.Errorf("%s: namespace is %q, want %q", ref, d.Namespace, ns)
		case !namespaced && d.Namespace != "":
			t.Errorf("%s: cluster-scoped object has namespace %q", ref, d.Namespace)
		}
		if d.Kind == "CustomResourceDefinition" || d.Kind == "Namespace" {
			continue // not from templates/
		}
		labels := o.obj.(metav1.Object).GetLabels()
		for k, want := range map[string]string{
			"app.kubernetes.io/name":       "stowage",
			"app.kubernetes.io/instance":   ReleaseName,
			"app.kubernetes.io/managed-by": "Helm",
			"app.kubernetes.io/part-of":    "stowage",
		} {
			if labels[k] != want {
				t.Errorf("%s: label %s is %q, want %q", ref, k, labels[k], want)
			}
		}
	}
}

// testCA returns a fresh self-signed CA certificate as PEM.
func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "stowage test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// ownCAValues are values that replace cert-manager with a CA bundle of the user's.
func ownCAValues(caPEM []byte) string {
	return fmt.Sprintf("certManager:\n  enabled: false\ncaBundle: %s\ntls:\n  secretName: my-webhook-tls\n",
		base64.StdEncoding.EncodeToString(caPEM))
}

// everyOption turns every optional object and setting on, so that all of the templates'
// branches are rendered and decoded.
const everyOption = `
image:
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
imagePullSecrets: [{name: regcred}]
replicaCount: 3
serviceAccount:
  annotations: {example.com/role: webhook}
podAnnotations: {example.com/scrape: "true"}
podLabels: {team: platform}
priorityClassName: system-cluster-critical
resourceQuota: {enabled: true}
memoryLimitRatio: 0.9
nodeSelector: {kubernetes.io/os: linux}
tolerations:
  - {key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}
nodeAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    nodeSelectorTerms:
      - matchExpressions:
          - {key: kubernetes.io/arch, operator: In, values: [amd64, arm64]}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels: {app.kubernetes.io/name: stowage, app.kubernetes.io/instance: stowage}
extraArgs: ["--zap-log-level=debug"]
audit:
  interval: 1h
  policyReports:
    enabled: true
webhook:
  excludeNamespaces: [monitoring, kube-system]
  namespaceSelectorExpressions:
    - {key: stowage.dev/ignore, operator: DoesNotExist}
service:
  annotations: {example.com/owner: platform}
certManager:
  issuerRef: {name: corp-ca, kind: ClusterIssuer, group: cert-manager.io}
networkPolicy:
  metrics:
    from:
      - namespaceSelector:
          matchLabels: {kubernetes.io/metadata.name: monitoring}
  egress:
    - to: [{ipBlock: {cidr: 10.0.0.1/32}}]
      ports: [{port: 443, protocol: TCP}]
prometheusRule:
  enabled: true
  labels: {release: prometheus}
  additionalRuleLabels: {team: platform}
`

func TestLint(t *testing.T) {
	ownCA := valuesFile(t, ownCAValues(testCA(t)))
	every := valuesFile(t, everyOption)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default values", nil},
		{"default values, strict", []string{"--strict"}},
		{"own CA bundle instead of cert-manager, strict", []string{"--strict", "--values", ownCA}},
		{"every option on, strict", []string{"--strict", "--values", every}},
		{"oldest supported Kubernetes, strict", []string{"--strict", "--kube-version", "v1.30.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Lint(context.Background(), helm(t), paths.Chart(), tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(out, []byte("0 chart(s) failed")) {
				t.Errorf("helm lint did not report success:\n%s", out)
			}
		})
	}
}

func TestInstallYAMLUpToDate(t *testing.T) {
	fresh, err := InstallYAML(context.Background(), helm(t), paths.Chart())
	if err != nil {
		t.Fatal(err)
	}
	if updateGolden {
		if err := os.WriteFile(paths.InstallYAML(), fresh, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(paths.InstallYAML())
	if err != nil {
		t.Fatalf("%v; regenerate it with UPDATE_GOLDEN=1 go test ./manifests or go run ./manifests/gen", err)
	}
	if diff := cmp.Diff(string(fresh), string(got)); diff != "" {
		t.Errorf("manifests/install.yaml is stale; regenerate it with UPDATE_GOLDEN=1 go test ./manifests or go run ./manifests/gen (-fresh render +file):\n%s", diff)
	}
}

// TestInstallYAML checks the committed install.yaml itself: it decodes strictly, creates its
// namespace first, and carries the CRD and every object of the default render.
func TestInstallYAML(t *testing.T) {
	data, err := os.ReadFile(paths.InstallYAML())
	if err != nil {
		t.Fatal(err)
	}
	r := decode(t, "install.yaml", data)
	checkMetadata(t, r, Namespace)
	if d := r.objects[0].doc; d.Kind != "Namespace" || d.Name != Namespace {
		t.Errorf("first object is %s %s, want Namespace %s", d.Kind, d.Name, Namespace)
	}
	ns := get[corev1.Namespace](t, r, "Namespace", Namespace)
	if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("Namespace enforces Pod Security level %q, want restricted", got)
	}
	crd := get[apiextensionsv1.CustomResourceDefinition](t, r, "CustomResourceDefinition", "placementpolicies.stowage.dev")
	checkCRD(t, crd)
	for _, kind := range []string{"Deployment", "Service", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "Certificate", "PlacementPolicy"} {
		if r.count(kind) == 0 {
			t.Errorf("install.yaml has no %s", kind)
		}
	}
}

func TestCRDUpToDate(t *testing.T) {
	ctx := context.Background()
	if updateGolden {
		if err := ReplaceCRDs(ctx, controllerGen(t), paths.Root, paths.CRDs()); err != nil {
			t.Fatal(err)
		}
		return
	}
	tmp := t.TempDir()
	if err := GenerateCRDs(ctx, controllerGen(t), paths.Root, tmp); err != nil {
		t.Fatal(err)
	}
	fresh, err := ReadYAMLFiles(tmp)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadYAMLFiles(paths.CRDs())
	if err != nil {
		t.Fatal(err)
	}
	toText := func(m map[string][]byte) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = string(v)
		}
		return out
	}
	if diff := cmp.Diff(toText(fresh), toText(got)); diff != "" {
		t.Errorf("manifests/chart/crds is stale; regenerate it with UPDATE_GOLDEN=1 go test ./manifests or go run ./manifests/gen (-controller-gen +chart):\n%s", diff)
	}
	for name, data := range got {
		r := decode(t, name, data)
		checkCRD(t, get[apiextensionsv1.CustomResourceDefinition](t, r, "CustomResourceDefinition", "placementpolicies.stowage.dev"))
	}
}

// checkCRD checks the PlacementPolicy CRD's identity: the group, kind, scope and version that
// the webhook, RBAC and the chart's default policy refer to.
func checkCRD(t *testing.T, crd *apiextensionsv1.CustomResourceDefinition) {
	t.Helper()
	if crd.Spec.Group != v1alpha1.GroupVersion.Group || crd.Spec.Names.Kind != v1alpha1.Kind || crd.Spec.Names.Plural != "placementpolicies" {
		t.Errorf("CRD is for %s %s (%s), want %s %s (placementpolicies)", crd.Spec.Group, crd.Spec.Names.Kind, crd.Spec.Names.Plural, v1alpha1.GroupVersion.Group, v1alpha1.Kind)
	}
	if crd.Spec.Scope != apiextensionsv1.ClusterScoped {
		t.Errorf("CRD scope is %s, want Cluster", crd.Spec.Scope)
	}
	if len(crd.Spec.Versions) != 1 {
		t.Fatalf("CRD has %d versions, want 1", len(crd.Spec.Versions))
	}
	v := crd.Spec.Versions[0]
	if v.Name != v1alpha1.GroupVersion.Version || !v.Served || !v.Storage {
		t.Errorf("CRD version %s served=%t storage=%t, want %s served and stored", v.Name, v.Served, v.Storage, v1alpha1.GroupVersion.Version)
	}
	if v.Subresources == nil || v.Subresources.Status == nil {
		t.Error("CRD has no status subresource; the webhook writes status through placementpolicies/status")
	}
	if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
		t.Error("CRD has no schema")
	}
}

// TestRender renders the chart with several sets of values and decodes every object strictly.
func TestRender(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values string
		kinds  map[string]int
	}{
		{"default values", "", map[string]int{
			"Deployment": 1, "Service": 1, "ServiceAccount": 1, "PodDisruptionBudget": 1, "NetworkPolicy": 1,
			"ClusterRole": 2, "ClusterRoleBinding": 1, "Role": 1, "RoleBinding": 1, "ResourceQuota": 1,
			"MutatingWebhookConfiguration": 1, "ValidatingWebhookConfiguration": 1,
			"Issuer": 2, "Certificate": 2, "PlacementPolicy": 1, "PrometheusRule": 0,
		}},
		{"own CA bundle instead of cert-manager", ownCAValues(testCA(t)), map[string]int{
			"Issuer": 0, "Certificate": 0,
			"MutatingWebhookConfiguration": 1, "ValidatingWebhookConfiguration": 1,
		}},
		{"every option on", everyOption, map[string]int{
			"Issuer": 0, "Certificate": 1, "PrometheusRule": 1, "Deployment": 1,
		}},
		{"optional objects off", "networkPolicy: {enabled: false}\ndefaultPolicy: {create: false}\nserviceAccount: {create: false, name: existing}\nresourceQuota: {enabled: false}\n", map[string]int{
			"NetworkPolicy": 0, "ResourceQuota": 0, "PlacementPolicy": 0, "ServiceAccount": 0, "Deployment": 1,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, tc.values)
			for kind, want := range tc.kinds {
				if got := r.count(kind); got != want {
					t.Errorf("%d %s objects rendered, want %d", got, kind, want)
				}
			}
		})
	}
}

// TestValuesRejected checks that the chart refuses values that would break the webhook's
// guarantees, instead of rendering them.
func TestValuesRejected(t *testing.T) {
	for _, tc := range []struct {
		name, values, wantErr string
	}{
		{"a single replica", "replicaCount: 1", "replicaCount"},
		{"a timeout over 3 seconds", "webhook: {timeoutSeconds: 5}", "timeoutSeconds"},
		{"a zero timeout", "webhook: {timeoutSeconds: 0}", "timeoutSeconds"},
		{"an unknown failure policy", "webhook: {validating: {failurePolicy: Retry}}", "failurePolicy"},
		{"a misspelt top-level key", "webhok: {timeoutSeconds: 3}", "webhok"},
		{"a misspelt nested key", "certManager: {enable: false}", "enable"},
		{"an audit interval that is no duration", "audit: {interval: ten minutes}", "interval"},
		{"an invalid namespace to exclude", "webhook: {excludeNamespaces: [Not_A_Namespace]}", "excludeNamespaces"},
		{"cert-manager off without a CA bundle", "certManager: {enabled: false}", "caBundle"},
		{"a CA bundle that is not base64", "certManager: {enabled: false}\ncaBundle: '-----BEGIN CERTIFICATE-----'", "caBundle"},
		{"a flag that is no flag", "extraArgs: [debug]", "extraArgs"},
		{"a memory limit ratio of zero (no heap at all)", "memoryLimitRatio: 0", "memoryLimitRatio"},
		{"a memory limit ratio over the limit", "memoryLimitRatio: 1.5", "memoryLimitRatio"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := template(t, tc.values)
			if err == nil {
				t.Fatalf("helm template accepted the values; rendered %d bytes", len(out))
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error does not mention %q:\n%v", tc.wantErr, err)
			}
		})
	}
}
