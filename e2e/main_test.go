//go:build e2e

// Package e2e runs Stowage against a real control plane: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok fake nodes, all built from pinned modules
// (`make tools`) and bound to 127.0.0.1. One control plane serves every suite; each suite
// works in namespaces of its own. Run with `make test-e2e`.
//
// It is test-only code. It may import the standard library, the Kubernetes and cert-manager
// API types and client libraries, the harness (e2e/cluster, e2e/provisioner) and Stowage's
// packages, to build inputs and check results; the product itself runs as the built binary.
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/stowage-dev/stowage/e2e/cluster"
	"github.com/stowage-dev/stowage/e2e/provisioner"
	"github.com/stowage-dev/stowage/manifests"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// env is the control plane and the Stowage webhook every test shares.
var env *environment

type environment struct {
	root    string // repository root
	cluster *cluster.Cluster
	stowage string // path of the built stowage binary
	webhook *webhookProcess
	tmp     string
	start   time.Time
	nodes   nodeSets
}

// nodeSets are the fake nodes of testdata/nodes.yaml.
type nodeSets struct {
	Plain, Cordoned, Tainted, Control, Audit []cluster.NodeSpec
}

// controlLabel marks namespaces the webhooks never see (the chart's namespaceSelector is
// rendered with an extra expression for it), to show what happens without Stowage.
const controlLabel = "stowage.dev/e2e-control"

func loadNodeSets(path string) (nodeSets, error) {
	var s nodeSets
	data, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func TestMain(m *testing.M) {
	// TestWebhookLoad starts this binary again to serve its floor webhook.
	if cluster.ServeFloorFromEnv() {
		return
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	e, err := setup()
	if e != nil {
		defer e.teardown()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup failed:", err)
		if e != nil && e.cluster != nil {
			fmt.Fprintln(os.Stderr, e.cluster.LogTail(60))
		}
		if e != nil && e.webhook != nil {
			fmt.Fprintln(os.Stderr, e.webhook.logTail())
		}
		return 1
	}
	env = e
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "stowage webhook log (tail):\n"+e.webhook.logTail())
	}
	return code
}

func setup() (*environment, error) {
	e := &environment{start: time.Now()}
	wd, _ := os.Getwd()
	e.root = filepath.Dir(wd)
	tmp, err := os.MkdirTemp("", "stowage-e2e-")
	if err != nil {
		return nil, err
	}
	e.tmp = tmp

	// Build the binary users run, as they build it.
	e.stowage = filepath.Join(tmp, "stowage")
	build := exec.Command("go", "build", "-o", e.stowage, "./cmd/stowage")
	build.Dir = e.root
	if out, err := build.CombinedOutput(); err != nil {
		return e, fmt.Errorf("building stowage: %v\n%s", err, out)
	}

	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Options{Scheduling: true, Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, "[cluster] "+f+"\n", a...) }})
	if err != nil {
		return e, err
	}
	e.cluster = c
	if err := v1alpha1.AddToScheme(c.Scheme); err != nil {
		return e, err
	}
	if err := apiextensionsv1.AddToScheme(c.Scheme); err != nil {
		return e, err
	}
	fmt.Fprintf(os.Stderr, "[e2e] control plane up in %s\n", c.Timings.Total)

	sets, err := loadNodeSets(filepath.Join(e.root, "e2e/testdata/nodes.yaml"))
	if err != nil {
		return e, err
	}
	var all []cluster.NodeSpec
	for _, set := range [][]cluster.NodeSpec{sets.Plain, sets.Cordoned, sets.Tainted, sets.Control, sets.Audit} {
		all = append(all, set...)
	}
	if err := c.CreateNodes(ctx, all); err != nil {
		return e, err
	}
	e.nodes = sets
	if err := e.installCRD(ctx); err != nil {
		return e, err
	}
	for _, ns := range []string{"stowage-system"} {
		if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return e, err
		}
	}
	if _, err := provisioner.Start(ctx, c.Clientset); err != nil {
		return e, fmt.Errorf("starting the hostpath provisioner: %w", err)
	}
	if err := c.Client.Create(ctx, provisioner.StorageClass()); err != nil && !apierrors.IsAlreadyExists(err) {
		return e, err
	}

	certDir := filepath.Join(tmp, "certs")
	wp, bundle, err := e.startWebhook(certDir, true)
	e.webhook = wp
	if err != nil {
		return e, err
	}
	if err := e.installWebhookConfigurations(ctx, bundle); err != nil {
		return e, err
	}
	if out, errOut, err := c.Kubectl(ctx, "apply", "-f", filepath.Join(e.root, "internal/policyfile/default.yaml")); err != nil {
		return e, fmt.Errorf("applying the default policy: %v\n%s%s", err, out, errOut)
	}
	fmt.Fprintf(os.Stderr, "[e2e] stowage webhook serving in %s\n", time.Since(e.start))
	return e, nil
}

func (e *environment) teardown() {
	if e.webhook != nil {
		e.webhook.stop()
	}
	if e.cluster != nil {
		e.cluster.Stop()
	}
	if os.Getenv("STOWAGE_E2E_KEEP") == "" && e.tmp != "" {
		os.RemoveAll(e.tmp)
	}
}

// installCRD applies the CRD the chart ships and waits until it is served.
func (e *environment) installCRD(ctx context.Context) error {
	path := filepath.Join(e.root, "manifests/chart/crds/stowage.dev_placementpolicies.yaml")
	if out, errOut, err := e.cluster.Kubectl(ctx, "apply", "--server-side", "-f", path); err != nil {
		return fmt.Errorf("applying the CRD: %v\n%s%s", err, out, errOut)
	}
	return cluster.WaitFor(ctx, 30*time.Second, func() (bool, error) {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := e.cluster.Client.Get(ctx, client.ObjectKey{Name: "placementpolicies.stowage.dev"}, crd); err != nil {
			return false, nil
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

// installWebhookConfigurations renders the chart's webhook configurations with the pinned helm,
// exactly as a user installs them, and points them at the local webhook instead of the Service.
func (e *environment) installWebhookConfigurations(ctx context.Context, caBundle string) error {
	helm := e.helm()
	cmd := exec.Command(helm, "template", "stowage", filepath.Join(e.root, "manifests/chart"), "--namespace", "stowage-system",
		"--kube-version", "v1.37.2", "--set", "certManager.enabled=false", "--set", "caBundle="+caBundle, "--show-only", "templates/webhooks.yaml",
		"--set-json", fmt.Sprintf(`webhook.namespaceSelectorExpressions=[{"key":%q,"operator":"DoesNotExist"}]`, controlLabel))
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("helm template: %v", err)
	}
	objs, err := manifests.LocalWebhooks("webhooks.yaml", out, fmt.Sprintf("https://127.0.0.1:%d", e.webhook.port))
	if err != nil || len(objs) != 2 {
		return fmt.Errorf("rendered webhook configurations: %v (%d objects)", err, len(objs))
	}
	for _, o := range objs {
		if err := e.cluster.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %s: %w", o.GetName(), err)
		}
	}
	return nil
}

// webhookProcess is a running `stowage webhook`.
type webhookProcess struct {
	cmd                         *exec.Cmd
	port, probe, metrics, pprof int
	certDir, logPath            string
	waited                      chan struct{}
	kubeconfig, stowagePath     string
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startWebhook runs `stowage webhook` on loopback, with --self-signed on the first start and
// extra flags after the usual ones, and waits until /readyz answers. It returns the caBundle
// when it made new certificates.
func (e *environment) startWebhook(certDir string, selfSigned bool, extra ...string) (*webhookProcess, string, error) {
	w := &webhookProcess{certDir: certDir, kubeconfig: e.cluster.Kubeconfig, stowagePath: e.stowage}
	if e.webhook != nil {
		w.port, w.probe, w.metrics, w.pprof = e.webhook.port, e.webhook.probe, e.webhook.metrics, e.webhook.pprof
	} else {
		for _, p := range []*int{&w.port, &w.probe, &w.metrics, &w.pprof} {
			port, err := freePort()
			if err != nil {
				return nil, "", err
			}
			*p = port
		}
	}
	w.logPath = filepath.Join(e.tmp, fmt.Sprintf("webhook-%d.log", time.Now().UnixNano()))
	logFile, err := os.Create(w.logPath)
	if err != nil {
		return nil, "", err
	}
	args := []string{"webhook", "--kubeconfig", w.kubeconfig, "--host", "127.0.0.1", "--port", fmt.Sprint(w.port),
		"--cert-dir", certDir, "--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", w.metrics),
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", w.probe), "--namespace", "stowage-system",
		"--pprof-bind-address", fmt.Sprintf("127.0.0.1:%d", w.pprof),
		"--leader-elect=true", "--log-format", "console", "--v", "4", "--audit-interval=5s", "--not-ready-threshold=30s", "--recovery",
		"--metrics-secure=false", // metricsText scrapes plain HTTP; the chart serves them secure
		"--memory-limit=512Mi"}   // the chart's default limits.memory, which it passes the same way
	bundleFile := filepath.Join(e.tmp, "ca-bundle")
	if selfSigned {
		args = append(args, "--self-signed", "--self-signed-hosts", "127.0.0.1,localhost", "--ca-bundle-out", bundleFile)
	}
	args = append(args, extra...)
	w.cmd = exec.Command(e.stowage, args...)
	w.cmd.Stdout, w.cmd.Stderr = logFile, logFile
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := w.cmd.Start(); err != nil {
		return nil, "", err
	}
	w.waited = make(chan struct{})
	go func() { w.cmd.Wait(); logFile.Close(); close(w.waited) }()
	ready := fmt.Sprintf("http://127.0.0.1:%d/readyz", w.probe)
	err = cluster.WaitFor(context.Background(), 60*time.Second, func() (bool, error) {
		select {
		case <-w.waited:
			return false, fmt.Errorf("stowage webhook exited:\n%s", w.logTail())
		default:
		}
		resp, err := http.Get(ready)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return w, "", err
	}
	if !selfSigned {
		return w, "", nil
	}
	bundle, err := os.ReadFile(bundleFile)
	if err != nil {
		return w, "", err
	}
	if _, err := base64.StdEncoding.DecodeString(string(bundle)); err != nil {
		return w, "", fmt.Errorf("--ca-bundle-out is not base64: %v", err)
	}
	return w, string(bundle), nil
}

func (w *webhookProcess) stop() {
	if w == nil || w.cmd == nil || w.cmd.Process == nil {
		return
	}
	stopProcessGroup(w.cmd.Process.Pid, w.waited, 15*time.Second)
}

func (w *webhookProcess) logTail() string { return fileTail(w.logPath, 80) }

// stopProcessGroup sends SIGTERM to the process group led by pid (started with Setpgid), waits
// up to grace for done to close, then kills the group.
func stopProcessGroup(pid int, done <-chan struct{}, grace time.Duration) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
}

// fileTail returns the last n lines of a log file.
func fileTail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// helm is the pinned helm binary: $STOWAGE_HELM, else the one `make tools` builds.
func (e *environment) helm() string {
	if h := os.Getenv("STOWAGE_HELM"); h != "" {
		return h
	}
	return filepath.Join(e.root, "bin/helm-v3.22.0/helm")
}

func (w *webhookProcess) metricsText() (string, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", w.metrics))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// kubectl runs kubectl against the shared cluster, failing the test on error.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := env.cluster.Kubectl(context.Background(), args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// kubectlIn runs kubectl with stdin and returns everything, without failing the test.
func kubectlIn(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	return env.cluster.KubectlWithInput(context.Background(), bytes.NewBufferString(stdin), args...)
}

// stopWebhook stops the shared webhook and returns what starts it again: defer it, so the
// suites that follow never find it down.
func stopWebhook(t *testing.T) func() {
	env.webhook.stop()
	return func() {
		w, _, err := env.startWebhook(env.webhook.certDir, false)
		env.webhook = w
		if err != nil {
			t.Fatalf("restarting the webhook: %v", err)
		}
	}
}

// namespace creates a namespace for one test and deletes it afterwards.
func namespace(t *testing.T, name string, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := env.cluster.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("STOWAGE_E2E_KEEP") == "" {
			_ = env.cluster.Client.Delete(context.Background(), ns)
		}
	})
	return name
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	if err := cluster.WaitFor(context.Background(), timeout, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
