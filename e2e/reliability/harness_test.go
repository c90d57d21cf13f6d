//go:build reliability

// Package reliability runs Stowage's failure tests on a real control plane (issue 9, "Do no
// harm"): two `stowage webhook` replicas on their own loopback addresses (127.0.0.2 and
// 127.0.0.3) behind the chart's Service, whose EndpointSlice the test keeps as kubelet and the
// endpoint controller would, with kube-apiserver's --enable-aggregator-routing=true so that it
// dials the endpoints itself. An open-loop load of StatefulSet creates runs through the API
// server while each scenario breaks something; the results table goes to
// bin/reliability-report.md. Run with `make test-reliability`.
//
// It is test-only code. It may import the standard library, the Kubernetes API types and
// client libraries and the harness (e2e/cluster); Stowage runs as the built binary.
package reliability

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/stowage-dev/stowage/e2e/cluster"
)

const (
	releaseNamespace = "stowage-system"
	serviceName      = "stowage-webhook"
	serviceDNS       = serviceName + "." + releaseNamespace + ".svc"
	configName       = "stowage"

	// Emulated kubelet readiness probe: the chart's probe runs every 5 s and fails after 2;
	// the suite probes every second to stay short. A crash is noticed in about 2 s here, about
	// 10 s with the chart's settings.
	probePeriod    = time.Second
	probeThreshold = 2
)

// suite is the control plane, the two replicas and what the scenarios recorded.
type suite struct {
	t        *testing.T
	root     string
	tmp      string
	stowage  string
	c        *cluster.Cluster
	cs       *kubernetes.Clientset
	port     int // every replica's admission port, on its own address
	probe    int // every replica's health port, on its own address
	certs    *certDir
	replicas []*replica
	slice    *endpoints
	rows     []row
	keeper   types.UID // the budget that must survive every scenario
}

// row is one line of the results table.
type row struct {
	scenario, load, failed, recover, notes string
}

// replica is one `stowage webhook` process on its own loopback address.
type replica struct {
	name, ip    string
	port, probe int
	args        []string
	logPath     string
	cmd         *exec.Cmd
	done        chan struct{}
	terminated  atomic.Bool // marked not ready by the "endpoint controller" (graceful stop)
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working folder")
		}
		dir = parent
	}
}

func freePort(t *testing.T) int {
	// A port free on every loopback address the replicas use.
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ok := true
		for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatal("no port free on 127.0.0.2-4")
	return 0
}

// newSuite starts the control plane with aggregator routing, installs the CRD, the default
// policy, the chart's Service and webhook configurations, and two replicas.
func newSuite(t *testing.T) *suite {
	s := &suite{t: t, root: moduleRoot(t)}
	s.tmp = t.TempDir()
	begin := time.Now()

	s.stowage = filepath.Join(s.tmp, "stowage")
	build := exec.Command("go", "build", "-o", s.stowage, "./cmd/stowage")
	build.Dir = s.root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building stowage: %v\n%s", err, out)
	}
	t.Logf("stowage built in %s", time.Since(begin).Round(time.Millisecond))

	socket := filepath.Join(s.tmp, "egress.sock")
	network, err := startPodNetwork(socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(network.close)
	egress := filepath.Join(s.tmp, "egress.yaml")
	if err := os.WriteFile(egress, []byte(egressConfig(socket)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.c = cluster.StartForTest(t, cluster.Options{
		Scheduling: true,
		// kube-apiserver drains for longer than the suite wants to wait on a restart.
		StopGracePeriod: 3 * time.Second,
		// The API server picks a ready endpoint of the Service itself and dials it through the
		// pod network (see podNetwork).
		ExtraArgs: map[cluster.Component][]string{cluster.APIServer: {"--enable-aggregator-routing=true", "--egress-selector-config-file=" + egress}},
	}, false)
	s.cs = s.c.Clientset
	ctx := context.Background()

	if err := s.c.CreateNodes(ctx, []cluster.NodeSpec{{Name: "node-a", Zone: "a"}, {Name: "node-b", Zone: "b"}, {Name: "node-c", Zone: "c"}, {Name: "node-d", Zone: "a"}}); err != nil {
		t.Fatal(err)
	}
	s.kubectl("apply", "--server-side", "-f", filepath.Join(s.root, "manifests/chart/crds/stowage.dev_placementpolicies.yaml"))
	s.kubectl("wait", "--for=condition=Established", "--timeout=30s", "crd/placementpolicies.stowage.dev")
	s.kubectl("create", "namespace", releaseNamespace)
	s.kubectl("apply", "-f", filepath.Join(s.root, "internal/policyfile/default.yaml"))

	s.certs, err = newCertDir(filepath.Join(s.tmp, "certs"))
	if err != nil {
		t.Fatal(err)
	}
	s.port, s.probe = freePort(t), freePort(t)
	s.installChart(ctx)
	s.slice = &endpoints{cs: s.cs, port: s.port, ready: map[string]bool{}}

	for i, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		r := s.newReplica(fmt.Sprintf("replica-%d", i+1), ip, s.c.Kubeconfig, "--leader-elect=true")
		s.replicas = append(s.replicas, r)
	}
	t.Cleanup(func() {
		for _, r := range s.replicas {
			r.stop(syscall.SIGTERM, 15*time.Second)
		}
		if t.Failed() {
			for _, r := range s.replicas {
				t.Logf("===== %s log (tail) =====\n%s", r.name, tail(r.logPath, 40))
			}
			t.Log(s.c.LogTail(20))
		}
	})
	for _, r := range s.replicas {
		s.start(r)
	}
	go s.probeLoop(t.Context())
	s.waitEndpoints()
	s.eventually(30*time.Second, "a leader", func() bool { return s.leader() != nil })
	t.Logf("suite ready in %s", time.Since(begin).Round(time.Millisecond))
	return s
}

func (s *suite) kubectl(args ...string) string {
	s.t.Helper()
	out, errOut, err := s.c.Kubectl(context.Background(), args...)
	if err != nil {
		s.t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (s *suite) helm() string {
	if h := os.Getenv("STOWAGE_HELM"); h != "" {
		return h
	}
	return filepath.Join(s.root, "bin/helm-v3.22.0/helm")
}

// installChart renders the chart's Service and webhook configurations with helm, as a user
// installs them, and creates them. The Service loses its selector: no Pods back it here, the
// suite writes its EndpointSlice instead, as the endpoint controller would for the replicas.
func (s *suite) installChart(ctx context.Context) {
	out, err := exec.Command(s.helm(), "template", "stowage", filepath.Join(s.root, "manifests/chart"), "--namespace", releaseNamespace,
		"--kube-version", cluster.KubeVersion, "--set", "certManager.enabled=false", "--set", "caBundle="+s.certs.bundle(),
		"--show-only", "templates/webhooks.yaml", "--show-only", "templates/service.yaml").Output()
	if err != nil {
		s.t.Fatalf("helm template: %v", err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	n := 0
	for {
		var raw map[string]any
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			s.t.Fatal(err)
		}
		if raw == nil {
			continue
		}
		data, _ := yaml.Marshal(raw)
		switch raw["kind"] {
		case "Service":
			svc := &corev1.Service{}
			if err := yaml.UnmarshalStrict(data, svc); err != nil {
				s.t.Fatal(err)
			}
			svc.Spec.Selector = nil
			_, err = s.cs.CoreV1().Services(releaseNamespace).Create(ctx, svc, metav1.CreateOptions{})
		case "MutatingWebhookConfiguration":
			m := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := yaml.UnmarshalStrict(data, m); err != nil {
				s.t.Fatal(err)
			}
			_, err = s.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, m, metav1.CreateOptions{})
		case "ValidatingWebhookConfiguration":
			v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if err := yaml.UnmarshalStrict(data, v); err != nil {
				s.t.Fatal(err)
			}
			_, err = s.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, v, metav1.CreateOptions{})
		default:
			continue
		}
		if err != nil {
			s.t.Fatal(err)
		}
		n++
	}
	if n != 3 {
		s.t.Fatalf("the chart rendered %d of the Service and two webhook configurations", n)
	}
}

// setCABundle writes the caBundle of both webhook configurations, as cert-manager's cainjector
// or a `helm upgrade --set caBundle=…` would.
func (s *suite) setCABundle(ctx context.Context, pem []byte) {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		m, err := s.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, configName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i := range m.Webhooks {
			m.Webhooks[i].ClientConfig.CABundle = pem
		}
		_, err = s.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, m, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		v, err := s.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, configName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i := range v.Webhooks {
			v.Webhooks[i].ClientConfig.CABundle = pem
		}
		_, err = s.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, v, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
}

func (s *suite) newReplica(name, ip, kubeconfig string, extra ...string) *replica {
	r := &replica{name: name, ip: ip, port: s.port, probe: s.probe, logPath: filepath.Join(s.tmp, name+".log")}
	r.args = append([]string{"webhook", "--kubeconfig", kubeconfig, "--host", ip, "--port", strconv.Itoa(s.port),
		"--cert-dir", s.certs.dir, "--health-probe-bind-address", net.JoinHostPort(ip, strconv.Itoa(s.probe)), "--metrics-bind-address", "0",
		"--namespace", releaseNamespace, "--webhook-configuration", configName,
		"--leader-elect-lease-duration=6s", "--leader-elect-renew-deadline=4s", "--leader-elect-retry-period=1s",
		"--shutdown-delay=2s"}, extra...)
	return r
}

// start runs a replica and waits until its /readyz answers ok.
func (s *suite) start(r *replica) {
	s.t.Helper()
	s.launch(r)
	s.eventually(60*time.Second, r.name+" ready", func() bool {
		select {
		case <-r.done:
			s.t.Fatalf("%s exited:\n%s", r.name, tail(r.logPath, 30))
		default:
		}
		return r.get("/readyz") == http.StatusOK
	})
}

// launch runs a replica.
func (s *suite) launch(r *replica) {
	s.t.Helper()
	logFile, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	r.cmd = exec.Command(s.stowage, r.args...)
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func() { r.cmd.Wait(); logFile.Close(); close(r.done) }()
	r.terminated.Store(false)
}

func (r *replica) running() bool {
	if r.done == nil {
		return false
	}
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// stop signals the replica's process group and waits for it to exit, killing it after grace.
func (r *replica) stop(sig syscall.Signal, grace time.Duration) {
	if !r.running() {
		return
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, sig)
	select {
	case <-r.done:
	case <-time.After(grace):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	}
}

var probeClient = &http.Client{Timeout: time.Second}

// get returns the status of a GET on the replica's probe port, or 0 when it does not answer.
func (r *replica) get(path string) int {
	resp, err := probeClient.Get("http://" + net.JoinHostPort(r.ip, strconv.Itoa(r.probe)) + path)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// probe plays kubelet's readiness probe and the endpoint controller for every replica: each
// probePeriod it GETs /readyz, and after probeThreshold failures (or one success) it writes the
// endpoint's ready condition. A replica being stopped on purpose is not ready at once, as the
// endpoint controller marks a terminating Pod.
func (s *suite) probeLoop(ctx context.Context) {
	fails := map[string]int{}
	t := time.NewTicker(probePeriod)
	defer t.Stop()
	for {
		for _, r := range s.replicas {
			ready := s.slice.isReady(r.ip)
			switch {
			case r.terminated.Load():
				ready = false
			case r.running() && r.get("/readyz") == http.StatusOK:
				fails[r.ip] = 0
				ready = true
			default:
				if fails[r.ip]++; fails[r.ip] >= probeThreshold {
					ready = false
				}
			}
			s.slice.want(r.ip, ready)
		}
		s.slice.sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// markTerminating marks a replica's endpoint not ready at once and waits until the
// EndpointSlice says so, as the endpoint controller does when a Pod starts terminating.
func (s *suite) markTerminating(r *replica) {
	r.terminated.Store(true)
	s.slice.want(r.ip, false)
	s.slice.sync(context.Background())
	s.eventually(10*time.Second, r.name+" endpoint not ready", func() bool { return s.slice.applied(r.ip) == false })
}

// endpoints keeps the Service's EndpointSlice: one endpoint per replica address.
type endpoints struct {
	cs      kubernetes.Interface
	port    int
	mu      sync.Mutex
	ready   map[string]bool // wanted
	written map[string]bool // last written
	lastErr error
}

func (e *endpoints) want(ip string, ready bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ready[ip] = ready
}

func (e *endpoints) isReady(ip string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ready[ip]
}

func (e *endpoints) applied(ip string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.written[ip]
}

func (e *endpoints) readyCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, r := range e.written {
		if r {
			n++
		}
	}
	return n
}

// sync writes the wanted state when it differs from the last written one. Errors (the API
// server being away) are retried on the next call.
func (e *endpoints) sync(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	same := len(e.written) == len(e.ready)
	for ip, r := range e.ready {
		if w, ok := e.written[ip]; !ok || w != r {
			same = false
		}
	}
	if same && e.written != nil {
		return
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: serviceName + "-replicas", Namespace: releaseNamespace, Labels: map[string]string{
			discoveryv1.LabelServiceName: serviceName, discoveryv1.LabelManagedBy: "reliability.e2e.stowage.dev"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(e.port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		r, ok := e.ready[ip]
		if !ok {
			continue
		}
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{podIP(ip)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(r), Serving: ptr.To(r), Terminating: ptr.To(false)}})
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	api := e.cs.DiscoveryV1().EndpointSlices(releaseNamespace)
	cur, err := api.Get(cctx, slice.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(cctx, slice, metav1.CreateOptions{})
	case err == nil:
		slice.ResourceVersion = cur.ResourceVersion
		_, err = api.Update(cctx, slice, metav1.UpdateOptions{})
	}
	e.lastErr = err
	if err != nil {
		return
	}
	e.written = map[string]bool{}
	for ip, r := range e.ready {
		e.written[ip] = r
	}
}

// leader returns the replica whose log says it leads now, or nil.
func (s *suite) leader() *replica {
	for _, r := range s.replicas {
		if r.running() && r.leads() {
			return r
		}
	}
	return nil
}

func (r *replica) leads() bool {
	data, _ := os.ReadFile(r.logPath)
	text := string(data)
	// The log is appended to across restarts; only the current run counts.
	if i := strings.LastIndex(text, `"msg":"starting"`); i >= 0 {
		text = text[i:]
	}
	lead := strings.LastIndex(text, "leading: controllers running")
	return lead >= 0 && strings.LastIndex(text, "no longer leading") < lead
}

func (s *suite) other(r *replica) *replica {
	for _, o := range s.replicas {
		if o != r {
			return o
		}
	}
	return nil
}

// waitEndpoints waits until both replicas' endpoints are written ready.
func (s *suite) waitEndpoints() {
	s.t.Helper()
	s.eventually(30*time.Second, "both endpoints ready", func() bool {
		if s.slice.readyCount() == 2 {
			return true
		}
		s.slice.mu.Lock()
		err := s.slice.lastErr
		s.slice.mu.Unlock()
		if err != nil {
			s.t.Logf("writing the EndpointSlice: %v", err)
		}
		return false
	})
}

func (s *suite) eventually(timeout time.Duration, what string, cond func() bool) time.Duration {
	s.t.Helper()
	begin := time.Now()
	for !cond() {
		if time.Since(begin) > timeout {
			s.t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(begin)
}

func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// served returns the certificate a replica serves now, or nil.
func (r *replica) served() *x509.Certificate {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", net.JoinHostPort(r.ip, strconv.Itoa(r.port)),
		&tls.Config{InsecureSkipVerify: true, ServerName: serviceDNS}) //nolint:gosec // only reads the served certificate
	if err != nil {
		return nil
	}
	defer conn.Close()
	if certs := conn.ConnectionState().PeerCertificates; len(certs) > 0 {
		return certs[0]
	}
	return nil
}

// review posts an AdmissionReview for a StatefulSet straight to a replica, trusting pool, and
// reports whether it was answered.
func (r *replica) review(pool *x509.CertPool, body []byte) error {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: serviceDNS, MinVersion: tls.VersionTLS12}}}
	resp, err := c.Post(fmt.Sprintf("https://%s/validate?timeout=2s", net.JoinHostPort(r.ip, strconv.Itoa(r.port))), "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(data, []byte(`"allowed":true`)) {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, data)
	}
	return nil
}

// restConfig is the admin config with a higher rate limit, for the load.
func (s *suite) restConfig() *rest.Config {
	cfg := rest.CopyConfig(s.c.RESTConfig)
	cfg.QPS, cfg.Burst = 1000, 1000
	cfg.Timeout = 30 * time.Second
	return cfg
}

func statefulSet(ns, name string, replicas int32, claims bool) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			ServiceName:         name,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "registry.example/db:1"}}},
			},
		},
	}
	if claims {
		s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: mustQuantity("1Gi")}}},
		}}
	}
	return s
}
