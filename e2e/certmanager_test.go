//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/e2e/cluster"
	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// certManagerVersion is the cert-manager that tools/cert-manager builds; it must match the
// Makefile's CERT_MANAGER_VERSION.
const certManagerVersion = "v1.21.2"

// The chart's object names for the release "stowage" in stowage-system (templates/_helpers.tpl).
const (
	cmNamespace   = "stowage-system"
	cmCertificate = "stowage-webhook" // the serving Certificate
	cmCA          = "stowage-ca"      // the CA Certificate and its Secret
	cmTLSSecret   = "stowage-webhook-tls"
	cmService     = "stowage-webhook"
	cmWebhooks    = "stowage" // both webhook configurations
)

// TestCertManager installs the chart in its default mode, where cert-manager issues the
// webhook's serving certificate and injects its CA into both webhook configurations, and lets
// real cert-manager code do it: tools/cert-manager runs cert-manager's own certificate, issuer
// and CertificateRequest controllers and its cainjector, at the version Stowage's go.mod pins.
// It then serves the issued certificate from a real `stowage webhook` and checks that a client
// trusting only the injected caBundle and naming the Service, as the API server does, gets an
// answer. Only etcd and kube-apiserver run: the chart's Deployment never gets pods, which the
// test does not need.
func TestCertManager(t *testing.T) {
	bin := certManagerBinary(t)
	crds, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), "crds", "*.yaml"))
	if !slices.ContainsFunc(crds, func(p string) bool { return filepath.Base(p) == "cert-manager.io_certificates.yaml" }) {
		t.Fatalf("cert-manager's CRDs are missing from crds/ next to %s (run `make tools`); found %v", bin, crds)
	}
	begin := time.Now()
	step := func(what string) { t.Logf("%-40s %5.1fs", what, time.Since(begin).Seconds()) }

	c := cluster.StartForTest(t, cluster.Options{}, false)
	for _, add := range []func(*runtime.Scheme) error{cmv1.AddToScheme, v1alpha1.AddToScheme, apiextensionsv1.AddToScheme} {
		if err := add(c.Scheme); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	step("control plane (etcd, kube-apiserver) up")

	apply := []string{"apply", "--server-side", "-f", filepath.Join(env.root, "manifests/chart/crds/stowage.dev_placementpolicies.yaml")}
	for _, f := range crds {
		apply = append(apply, "-f", f)
	}
	kubectlOn(t, c, "", apply...)
	kubectlOn(t, c, "", "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
	kubectlOn(t, c, "", "create", "namespace", cmNamespace)
	step("CRDs established")

	cm := startCertManager(t, bin, c)
	step("cert-manager started")

	manifest := renderChart(t)
	kubectlOn(t, c, manifest, "apply", "-f", "-")
	step("chart applied")

	// cert-manager: self-signed Issuer → CA Certificate → CA Issuer → serving Certificate.
	cert := &cmv1.Certificate{}
	if err := cluster.WaitFor(ctx, 2*time.Minute, func() (bool, error) {
		if err := cm.exited(); err != nil {
			return false, err
		}
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: cmNamespace, Name: cmCertificate}, cert); err != nil {
			return false, nil
		}
		return certificateReady(cert), nil
	}); err != nil {
		t.Fatalf("Certificate %s/%s never became Ready: %v\n%s", cmNamespace, cmCertificate, err, describeCertManager(ctx, c))
	}
	step("Certificate Ready")

	// The Secret: a key pair for the Service's DNS names, signed by the CA in ca.crt, which
	// is the chart's own CA.
	secret := &corev1.Secret{}
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: cmNamespace, Name: cert.Spec.SecretName}, secret); err != nil {
		t.Fatal(err)
	}
	leafPEM, keyPEM, caPEM := secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey], secret.Data["ca.crt"]
	leaf, ca := parseCertificate(t, "tls.crt", leafPEM), parseCertificate(t, "ca.crt", caPEM)
	if _, err := tls.X509KeyPair(leafPEM, keyPEM); err != nil {
		t.Fatalf("tls.crt and tls.key are not a pair: %v", err)
	}
	svc := &corev1.Service{}
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: cmNamespace, Name: cmService}, svc); err != nil {
		t.Fatal(err)
	}
	serviceNames := []string{svc.Name + "." + svc.Namespace + ".svc", svc.Name + "." + svc.Namespace + ".svc.cluster.local"}
	if diff := cmp.Diff(serviceNames, slices.Sorted(slices.Values(leaf.DNSNames))); diff != "" {
		t.Errorf("serving certificate's DNS names (-Service +certificate):\n%s", diff)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range serviceNames {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate does not verify for %s against ca.crt: %v", name, err)
		}
	}
	if !ca.IsCA || leaf.IsCA || leaf.Equal(ca) {
		t.Errorf("ca.crt must be a CA and tls.crt a leaf: ca.IsCA=%v leaf.IsCA=%v", ca.IsCA, leaf.IsCA)
	}
	caSecret := &corev1.Secret{}
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: cmNamespace, Name: cmCA}, caSecret); err != nil {
		t.Fatal(err)
	}
	if chartCA := parseCertificate(t, cmCA+" tls.crt", caSecret.Data[corev1.TLSCertKey]); !chartCA.Equal(ca) {
		t.Errorf("ca.crt is not the chart's CA (Secret %s, issued by the self-signed Issuer): %s vs %s", cmCA, ca.Subject, chartCA.Subject)
	}
	if err := ca.CheckSignatureFrom(ca); err != nil {
		t.Errorf("the chart's CA is not self-signed: %v", err)
	}

	// cainjector: both configurations carry exactly that CA, and cainjector put it there (the
	// rendered chart has none; renderChart checks).
	var bundles map[string][]byte
	if err := cluster.WaitFor(ctx, time.Minute, func() (bool, error) {
		if err := cm.exited(); err != nil {
			return false, err
		}
		var err error
		bundles, err = webhookCABundles(ctx, c)
		if err != nil {
			return false, nil
		}
		for _, b := range bundles {
			if !bytes.Equal(b, caPEM) {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		var got []string
		for name, b := range bundles {
			got = append(got, fmt.Sprintf("%s: %d bytes, equal to ca.crt: %v", name, len(b), bytes.Equal(b, caPEM)))
		}
		t.Fatalf("caBundles never became the Certificate's CA: %v\n%s\n%s", err, strings.Join(got, "\n"), cm.logTail())
	}
	if len(bundles) != 5 {
		t.Fatalf("want the chart's five webhooks (mutate, keep-class, validate, validate-budgets, validate-operator-resources), got %d caBundles", len(bundles))
	}
	checkInjectedBy(ctx, t, c)
	step("caBundle injected into every webhook")

	// A real webhook serving that Secret, reached as the API server reaches it: trusting only
	// the injected caBundle, with the Service's DNS name as the server name.
	certDir := t.TempDir()
	for name, data := range map[string][]byte{"tls.crt": leafPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(certDir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e := &environment{root: env.root, cluster: c, stowage: env.stowage, tmp: t.TempDir()}
	w, _, err := e.startWebhook(certDir, false)
	t.Cleanup(w.stop)
	if err != nil {
		t.Fatalf("starting stowage webhook with the issued certificate: %v", err)
	}
	step("stowage webhook serving")

	injected := x509.NewCertPool()
	if !injected.AppendCertsFromPEM(bundles["ValidatingWebhookConfiguration/validate.stowage.dev"]) {
		t.Fatal("the injected caBundle holds no certificate")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", w.port)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: injected, ServerName: serviceNames[0], MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatalf("TLS handshake with %s as %s, trusting the injected caBundle: %v\n%s", addr, serviceNames[0], err, w.logTail())
	}
	defer conn.Close()
	state := conn.ConnectionState()
	if len(state.VerifiedChains) == 0 || !state.PeerCertificates[0].Equal(leaf) {
		t.Fatalf("the webhook did not present the issued certificate (verified chains: %d)", len(state.VerifiedChains))
	}
	t.Logf("handshake: %s, %s, peer %q issued by %q", tls.VersionName(state.Version), tls.CipherSuiteName(state.CipherSuite), leaf.DNSNames, leaf.Issuer.CommonName)
	reader := bufio.NewReader(conn)
	for _, path := range []string{"/mutate", "/validate"} {
		review := postReview(t, conn, reader, serviceNames[0], path)
		t.Logf("%s answered: allowed=%v, %d-byte patch, %d warnings, status %v", path, review.Response.Allowed, len(review.Response.Patch), len(review.Response.Warnings), review.Response.Result)
		// The mutating webhook never rejects; under the chart's default policy it adds the
		// hostname anti-affinity, which shows the policy the chart installed is in force.
		if path == "/mutate" && (!review.Response.Allowed || len(review.Response.Patch) == 0) {
			t.Errorf("/mutate: want an allowed answer with a patch, got allowed=%v patch=%s", review.Response.Allowed, review.Response.Patch)
		}
	}

	// The same server must be refused under another name and by a client that trusts some
	// other CA, or the checks above prove nothing.
	for what, cfg := range map[string]*tls.Config{
		"a name the certificate lacks":  {RootCAs: injected, ServerName: cmService + ".default.svc"},
		"the cluster's CA instead":      {RootCAs: poolOf(c.CACertPEM()), ServerName: serviceNames[0]},
		"the system roots, no caBundle": {ServerName: serviceNames[0]},
	} {
		cfg.MinVersion = tls.VersionTLS12
		if bad, err := tls.Dial("tcp", addr, cfg); err == nil {
			bad.Close()
			t.Errorf("handshake with %s succeeded", what)
		} else if !errors.As(err, new(*tls.CertificateVerificationError)) {
			t.Errorf("handshake with %s failed for another reason than verification: %v", what, err)
		}
	}
	step("TLS and AdmissionReviews checked")
}

// certManagerBinary returns tools/cert-manager's binary: $STOWAGE_CERT_MANAGER, else the one
// `make tools` builds. Like the control plane's binaries, a missing one fails the test.
func certManagerBinary(t *testing.T) string {
	t.Helper()
	p := os.Getenv("STOWAGE_CERT_MANAGER")
	if p == "" {
		p = filepath.Join(env.root, "bin", "cert-manager-"+certManagerVersion, "cert-manager")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("cert-manager %s (tools/cert-manager): %v; run `make tools`", certManagerVersion, err)
	}
	return p
}

// certManagerProcess is a running tools/cert-manager.
type certManagerProcess struct {
	cmd     *exec.Cmd
	logPath string
	waited  chan struct{}
	err     error // the exit status, once waited is closed
}

// startCertManager runs tools/cert-manager against c until the test ends. It serves nothing,
// so it needs no ports.
func startCertManager(t *testing.T, bin string, c *cluster.Cluster) *certManagerProcess {
	t.Helper()
	p := &certManagerProcess{logPath: filepath.Join(c.WorkDir, "cert-manager.log"), waited: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "--kubeconfig", c.Kubeconfig, "--v", "2")
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); logFile.Close(); close(p.waited) }()
	t.Cleanup(func() {
		stopProcessGroup(p.cmd.Process.Pid, p.waited, 10*time.Second)
		if t.Failed() {
			t.Logf("cert-manager log (tail):\n%s", p.logTail())
		} else if p.err != nil {
			t.Logf("cert-manager did not exit cleanly on SIGTERM: %v", p.err)
		}
	})
	return p
}

// exited returns an error when the process has ended.
func (p *certManagerProcess) exited() error {
	select {
	case <-p.waited:
		return fmt.Errorf("cert-manager exited (%v):\n%s", p.err, p.logTail())
	default:
		return nil
	}
}

func (p *certManagerProcess) logTail() string { return fileTail(p.logPath, 60) }

// renderChart renders the chart with its defaults (cert-manager mode) as a user installs it,
// and checks that the webhook configurations it renders carry no caBundle, so whatever the
// cluster later holds was injected.
func renderChart(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(env.helm(), "template", "stowage", filepath.Join(env.root, "manifests/chart"),
		"--namespace", cmNamespace, "--kube-version", cluster.KubeVersion).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("helm template: %v\n%s", err, stderr)
	}
	kinds := map[string]int{}
	errs := stream.Read("chart", out, func(d *stream.Document) error {
		kinds[d.Kind]++
		var meta metav1.ObjectMeta
		var configs []admissionregistrationv1.WebhookClientConfig
		switch d.Kind {
		case "MutatingWebhookConfiguration":
			m := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if _, err := stream.Decode(d, m); err != nil {
				return err
			}
			meta = m.ObjectMeta
			for _, w := range m.Webhooks {
				configs = append(configs, w.ClientConfig)
			}
		case "ValidatingWebhookConfiguration":
			v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if _, err := stream.Decode(d, v); err != nil {
				return err
			}
			meta = v.ObjectMeta
			for _, w := range v.Webhooks {
				configs = append(configs, w.ClientConfig)
			}
		default:
			return nil
		}
		if got, want := meta.Annotations["cert-manager.io/inject-ca-from"], cmNamespace+"/"+cmCertificate; got != want {
			t.Errorf("%s: inject-ca-from is %q, want %q", d.Kind, got, want)
		}
		for _, cc := range configs {
			if len(cc.CABundle) > 0 {
				t.Errorf("%s renders a caBundle in cert-manager mode", d.Kind)
			}
		}
		return nil
	})
	if len(errs) > 0 {
		t.Fatalf("reading the rendered chart: %v", errs)
	}
	if kinds["Issuer"] != 2 || kinds["Certificate"] != 2 || kinds["MutatingWebhookConfiguration"] != 1 || kinds["ValidatingWebhookConfiguration"] != 1 {
		t.Fatalf("the chart in cert-manager mode should render two Issuers, two Certificates and two webhook configurations, got %v", kinds)
	}
	return string(out)
}

// certificateReady reports whether cert-manager has marked the Certificate's current
// generation Ready.
func certificateReady(c *cmv1.Certificate) bool {
	for _, cond := range c.Status.Conditions {
		if cond.Type == cmv1.CertificateConditionReady {
			return cond.Status == cmmeta.ConditionTrue && cond.ObservedGeneration == c.Generation
		}
	}
	return false
}

// webhookCABundles returns the caBundle of every webhook in the chart's two configurations,
// keyed by kind and webhook name.
func webhookCABundles(ctx context.Context, c *cluster.Cluster) (map[string][]byte, error) {
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Client.Get(ctx, client.ObjectKey{Name: cmWebhooks}, m); err != nil {
		return nil, err
	}
	if err := c.Client.Get(ctx, client.ObjectKey{Name: cmWebhooks}, v); err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, w := range m.Webhooks {
		out["MutatingWebhookConfiguration/"+w.Name] = w.ClientConfig.CABundle
	}
	for _, w := range v.Webhooks {
		out["ValidatingWebhookConfiguration/"+w.Name] = w.ClientConfig.CABundle
	}
	return out, nil
}

// checkInjectedBy checks that cainjector owns the caBundle fields (it writes them with a
// server-side apply under its own field manager).
func checkInjectedBy(ctx context.Context, t *testing.T, c *cluster.Cluster) {
	t.Helper()
	for _, obj := range []client.Object{&admissionregistrationv1.MutatingWebhookConfiguration{}, &admissionregistrationv1.ValidatingWebhookConfiguration{}} {
		if err := c.Client.Get(ctx, client.ObjectKey{Name: cmWebhooks}, obj); err != nil {
			t.Fatal(err)
		}
		var managers []string
		found := false
		for _, mf := range obj.GetManagedFields() {
			managers = append(managers, mf.Manager)
			if strings.Contains(mf.Manager, "cainjector") && mf.FieldsV1 != nil && strings.Contains(string(mf.FieldsV1.Raw), `"f:caBundle"`) {
				found = true
			}
		}
		if !found {
			t.Errorf("%T: no cainjector field manager owns caBundle; managers: %v", obj, managers)
		}
	}
}

// postReview sends an AdmissionReview for a one-replica StatefulSet over conn and returns the
// answer, which must echo the request's UID.
func postReview(t *testing.T, conn *tls.Conn, reader *bufio.Reader, host, path string) *admissionv1.AdmissionReview {
	t.Helper()
	sts := &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "db"}}},
			},
		},
	}
	raw, err := json.Marshal(sts)
	if err != nil {
		t.Fatal(err)
	}
	uid := types.UID("cert-manager-" + strings.TrimPrefix(path, "/"))
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: uid, Operation: admissionv1.Create, Namespace: sts.Namespace, Name: sts.Name,
			Kind:     metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"},
			Resource: metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"},
			Object:   runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "https://"+host+path+"?timeout=3s", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(conn); err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	resp, err := http.ReadResponse(reader, req)
	if err != nil {
		t.Fatalf("POST %s: reading the answer: %v", path, err)
	}
	defer resp.Body.Close()
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&review); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: status %d, decoding: %v", path, resp.StatusCode, err)
	}
	if review.Response == nil || review.Response.UID != uid {
		t.Fatalf("POST %s: the answer does not echo UID %q: %+v", path, uid, review.Response)
	}
	return &review
}

// describeCertManager lists the cert-manager objects and their conditions, for a failure.
func describeCertManager(ctx context.Context, c *cluster.Cluster) string {
	out, errOut, err := c.Kubectl(ctx, "get", "issuers,certificates,certificaterequests,secrets", "-n", cmNamespace, "-o", "wide")
	conds, _, _ := c.Kubectl(ctx, "get", "certificates,certificaterequests,issuers", "-n", cmNamespace,
		"-o", `jsonpath={range .items[*]}{.kind}/{.metadata.name}: {range .status.conditions[*]}{.type}={.status} ({.reason}: {.message}) {end}{"\n"}{end}`)
	return fmt.Sprintf("%s%s%v\n%s", out, errOut, err, conds)
}

// kubectlOn runs kubectl against c with stdin, failing the test on error.
func kubectlOn(t *testing.T, c *cluster.Cluster, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := c.KubectlWithInput(context.Background(), strings.NewReader(stdin), args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func parseCertificate(t *testing.T, what string, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s holds no PEM certificate", what)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return cert
}

func poolOf(pemData []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pemData)
	return p
}
