//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/e2e/cluster"
	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/manifests"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// configLabel selects, on a namespace, which admission the benchmark's requests in it meet. Every
// configuration is installed once and for the whole run; each selects only namespaces carrying
// its value, so switching configuration is creating a namespace, with nothing to propagate.
const configLabel = "bench.stowage.dev/config"

// Configurations, in the order of the table.
const (
	cfgNone       = "none"
	cfgStowage    = "stowage"
	cfgMAP        = "map"
	cfgFloor      = "floor"
	cfgPatchFloor = "floor-patch"
	cfgStowagePDB = "stowage-pdb"
)

var configTitles = map[string]string{
	cfgNone:       "A: no admission",
	cfgStowage:    "W: Stowage webhooks (default policy)",
	cfgMAP:        "B: MutatingAdmissionPolicy (JSONPatch)",
	cfgFloor:      "F: floor (no-op webhooks, same TLS and configuration)",
	cfgPatchFloor: "P: mutating floor (F answering Stowage's patch, recorded once)",
	cfgStowagePDB: "W + PDB: Stowage, budget controller writing a PDB per StatefulSet",
}

// Options configure a run.
type Options struct {
	// Root is the module's root folder.
	Root string
	// Rounds is how many times every configuration is measured at every concurrency.
	Rounds int
	// Concurrency lists the numbers of concurrent clients; Creates gives the StatefulSet
	// creates per phase for each (same index).
	Concurrency, Creates []int
	// Warmup creates this many StatefulSets in every configuration before the first round.
	Warmup int
	// Out is the Markdown file the table is written to.
	Out string
	// Self is the executable that serves the floor webhook when started with cluster.FloorAddrEnv.
	Self string
	// Logf receives progress.
	Logf func(format string, args ...any)
	// ExtraStowageArgs are appended to `stowage webhook`'s command line.
	ExtraStowageArgs []string
	// Note is printed under the table (what was changed for this run).
	Note string
	// ProfileDir, when set, replaces the rounds: every configuration runs one phase at the
	// last concurrency while the API server's CPU profile (and Stowage's, for W) is taken, and
	// the profiles are written there.
	ProfileDir string
	// ProfileSeconds is how long each profile runs.
	ProfileSeconds int
}

// phase is one measurement: one configuration, one concurrency, in one fresh namespace.
type phase struct {
	config      string
	concurrency int
	round       int
	n           int
	lat         []time.Duration // sorted
	elapsed     time.Duration
	apiCPU      time.Duration // kube-apiserver user+system CPU over the phase
	etcdCPU     time.Duration
	hookCPU     time.Duration // the webhook process serving the configuration (Stowage or a floor), if any
	mutated     int           // StatefulSets stored with the hostname anti-affinity term
	pdbs        int           // PodDisruptionBudgets seen within the phase
	budgetCalls int           // the API server's calls to the budget webhook over the phase
}

func (p *phase) pct(q float64) time.Duration { return p.lat[int(float64(len(p.lat)-1)*q)] }

// Result is a whole run.
type Result struct {
	Phases []*phase
	Env    string
	Note   string
	Opts   Options
	RSS    int64 // Stowage's resident set at the end
}

// bench is a run in progress.
type bench struct {
	opts      Options
	c         *cluster.Cluster
	cs        *kubernetes.Clientset // unthrottled, for the load
	tmp       string
	stowage   *proc
	floor     *proc
	floorURL  string
	floorHTTP *http.Client
	pfloor    *proc // the mutating floor

	pids  map[cluster.Component]int
	nsSeq int
}

type proc struct {
	cmd    *exec.Cmd
	done   chan struct{}
	log    string
	ports  map[string]int
	certs  string
	bundle string
}

func (p *proc) stop() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Run starts a control plane, installs every configuration, measures and writes the table.
func Run(ctx context.Context, opts Options) (*Result, error) {
	b := &bench{opts: opts}
	var err error
	if b.tmp, err = os.MkdirTemp("", "stowage-bench-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.tmp)
	defer b.stopProcs()
	if err := b.setup(ctx); err != nil {
		if b.c != nil {
			opts.Logf("component logs:\n%s", b.c.LogTail(30))
		}
		if b.stowage != nil {
			opts.Logf("stowage log:\n%s", tail(b.stowage.log, 30))
		}
		return nil, err
	}
	res, err := b.measure(ctx)
	if err != nil {
		opts.Logf("stowage log:\n%s", tail(b.stowage.log, 30))
		return nil, err
	}
	if opts.ProfileDir != "" {
		return res, nil
	}
	if err := os.MkdirAll(filepath.Dir(opts.Out), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(opts.Out, []byte(res.Markdown()), 0o644); err != nil {
		return nil, err
	}
	return res, nil
}

func (b *bench) stopProcs() {
	b.floor.stop()
	b.pfloor.stop()
	b.stowage.stop()
	if b.c != nil {
		b.c.Stop()
	}
}

func (b *bench) setup(ctx context.Context) error {
	logf := b.opts.Logf
	// Build Stowage as users build it, before the control plane starts competing for the CPU.
	stowageBin := filepath.Join(b.tmp, "stowage")
	build := exec.CommandContext(ctx, "go", "build", "-o", stowageBin, "./cmd/stowage")
	build.Dir = b.opts.Root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building stowage: %v\n%s", err, out)
	}
	helm, err := manifests.Paths{Root: b.opts.Root}.Helm()
	if err != nil {
		return err
	}

	copts := cluster.Options{Logf: logf}
	if b.opts.ProfileDir != "" {
		copts.ExtraArgs = map[cluster.Component][]string{cluster.APIServer: {"--profiling=true"}}
	}
	c, err := cluster.Start(ctx, copts)
	if err != nil {
		return err
	}
	b.c = c
	b.pids = c.PIDs()
	if err := v1alpha1.AddToScheme(c.Scheme); err != nil {
		return err
	}
	if err := apiextensionsv1.AddToScheme(c.Scheme); err != nil {
		return err
	}
	cfg := rest.CopyConfig(c.RESTConfig)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side throttling: measure the server
	cfg.UserAgent = "stowage-bench-admission"
	if b.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}

	// What Stowage reads: its CRD and default policy, nodes in three zones, the policy's class.
	if err := b.installCRD(ctx); err != nil {
		return err
	}
	var nodes []cluster.NodeSpec
	for i := range 6 {
		nodes = append(nodes, cluster.NodeSpec{Name: fmt.Sprintf("node-%d", i), Zone: fmt.Sprintf("zone-%c", 'a'+i%3)})
	}
	if err := c.CreateNodes(ctx, nodes); err != nil {
		return err
	}
	if err := c.Client.Create(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "openebs-hostpath"},
		Provisioner: "openebs.io/local", VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)}); err != nil {
		return err
	}
	if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "stowage-system"}}); err != nil {
		return err
	}
	if err := b.createFromFile(ctx, filepath.Join(b.opts.Root, "internal/policyfile/default.yaml"), nil); err != nil {
		return err
	}

	if err := b.startStowage(ctx, stowageBin); err != nil {
		return err
	}
	if err := b.startFloor(ctx); err != nil {
		return err
	}

	// The chart's webhook configurations, rendered as users install them, once for Stowage and
	// once (renamed, pointed at the floor) for the floor.
	if err := b.installChartWebhooks(ctx, helm, "stowage", []string{cfgStowage, cfgStowagePDB}, b.stowage.ports["webhook"]); err != nil {
		return err
	}
	if err := b.installChartWebhooks(ctx, helm, "floor", []string{cfgFloor}, b.floor.ports["webhook"]); err != nil {
		return err
	}
	// The mutating floor answers with the patch Stowage gives the benchmark's StatefulSet.
	patch, err := b.stowagePatch(ctx)
	if err != nil {
		return err
	}
	if err := b.startPatchFloor(ctx, patch); err != nil {
		return err
	}
	if err := b.installChartWebhooks(ctx, helm, "floor-patch", []string{cfgPatchFloor}, b.pfloor.ports["webhook"]); err != nil {
		return err
	}
	// The budget controller acts where this configuration's namespaceSelector says: only in
	// the W + PDB namespaces, so that W measures admission alone. It never matches a request.
	scope := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "stowage-bench-budget-scope"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "scope.bench.stowage.dev",
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				URL:      ptr.To(fmt.Sprintf("https://127.0.0.1:%d/validate", b.stowage.ports["webhook"])),
				CABundle: []byte(b.stowage.bundle),
			},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{configLabel: cfgStowagePDB}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Delete},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"stowage.dev"}, APIVersions: []string{"v1alpha1"}, Resources: []string{"placementpolicies"}},
			}},
		}},
	}
	if err := c.Client.Create(ctx, scope); err != nil {
		return err
	}
	// The MutatingAdmissionPolicy users would install, bound to the B namespaces only.
	if err := b.createFromFile(ctx, filepath.Join(b.opts.Root, "examples/mutatingadmissionpolicy.yaml"), func(o client.Object) {
		if bind, ok := o.(*admissionregistrationv1.MutatingAdmissionPolicyBinding); ok {
			sel := bind.Spec.MatchResources.NamespaceSelector
			sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{Key: configLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{cfgMAP}})
		}
	}); err != nil {
		return err
	}
	return b.checkConfigurations(ctx)
}

func (b *bench) installCRD(ctx context.Context) error {
	if err := b.createFromFile(ctx, filepath.Join(b.opts.Root, "manifests/chart/crds/stowage.dev_placementpolicies.yaml"), nil); err != nil {
		return err
	}
	return cluster.WaitFor(ctx, 30*time.Second, func() (bool, error) {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := b.c.Client.Get(ctx, client.ObjectKey{Name: "placementpolicies.stowage.dev"}, crd); err != nil {
			return false, nil
		}
		for _, cond := range crd.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

// createFromFile creates every object of a YAML file, after edit (when given) has seen it.
func (b *bench) createFromFile(ctx context.Context, path string, edit func(client.Object)) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var objs []client.Object
	errs := stream.Read(path, data, func(d *stream.Document) error {
		var o client.Object
		switch d.Kind {
		case "MutatingAdmissionPolicy":
			o = &admissionregistrationv1.MutatingAdmissionPolicy{}
		case "MutatingAdmissionPolicyBinding":
			o = &admissionregistrationv1.MutatingAdmissionPolicyBinding{}
		case "CustomResourceDefinition":
			o = &apiextensionsv1.CustomResourceDefinition{}
		case "PlacementPolicy":
			o = &v1alpha1.PlacementPolicy{}
		default:
			return fmt.Errorf("%s: unexpected kind %s", path, d.Kind)
		}
		if _, err := stream.Decode(d, o); err != nil {
			return err
		}
		objs = append(objs, o)
		return nil
	})
	if len(errs) > 0 {
		return fmt.Errorf("%s: %v", path, errs)
	}
	for _, o := range objs {
		if edit != nil {
			edit(o)
		}
		// PlacementPolicy may be refused for a moment after its CRD is established.
		if err := cluster.WaitFor(ctx, 30*time.Second, func() (bool, error) {
			err := b.c.Client.Create(ctx, o)
			return err == nil, nil
		}); err != nil {
			err2 := b.c.Client.Create(ctx, o)
			return fmt.Errorf("creating %s %s from %s: %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), path, err2)
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (b *bench) startProc(name string, args, env []string) (*proc, error) {
	p := &proc{log: filepath.Join(b.tmp, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

// budgetWebhook is the name of the chart's budget webhook (both configurations have one).
const budgetWebhook = "validate-budgets.stowage.dev"

// budgetWebhookCalls is how many times the API server has called the budget webhook, from its
// own metrics (apiserver_admission_webhook_request_total). It is read outside the measurement:
// the API server's /metrics is large.
func (b *bench) budgetWebhookCalls(ctx context.Context) (int, error) {
	data, err := b.cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	total := 0
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "apiserver_admission_webhook_request_total{") || !strings.Contains(line, `name="`+budgetWebhook+`"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("API server metric %q: %w", line, err)
		}
		total += int(v)
	}
	return total, nil
}

// asChartServiceAccount writes a copy of a kubeconfig whose user impersonates the service
// account the chart runs Stowage as (with the admin's group, so that no RBAC is needed), and
// returns its path: the API server then sees Stowage's requests as in a real installation, and
// the chart's matchConditions that name that account (its own budgets skip the budget webhook)
// act as they do there.
func asChartServiceAccount(kubeconfig, out string) (string, error) {
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		return "", err
	}
	for _, user := range cfg.AuthInfos {
		user.Impersonate = "system:serviceaccount:" + manifests.Namespace + ":" + manifests.ReleaseName // the chart's fullname
		user.ImpersonateGroups = []string{"system:masters", "system:serviceaccounts", "system:authenticated"}
	}
	return out, clientcmd.WriteToFile(*cfg, out)
}

// startStowage runs `stowage webhook` as the e2e suites do, with a self-signed certificate.
func (b *bench) startStowage(ctx context.Context, bin string) error {
	ports := map[string]int{}
	for _, k := range []string{"webhook", "probe", "metrics", "pprof"} {
		p, err := freePort()
		if err != nil {
			return err
		}
		ports[k] = p
	}
	certs := filepath.Join(b.tmp, "certs")
	bundleFile := filepath.Join(b.tmp, "ca-bundle")
	kubeconfig, err := asChartServiceAccount(b.c.Kubeconfig, filepath.Join(b.tmp, "stowage.kubeconfig"))
	if err != nil {
		return err
	}
	args := []string{bin, "webhook", "--kubeconfig", kubeconfig, "--host", "127.0.0.1", "--port", strconv.Itoa(ports["webhook"]),
		"--cert-dir", certs, "--self-signed", "--self-signed-hosts", "127.0.0.1,localhost", "--ca-bundle-out", bundleFile,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ports["metrics"]),
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", ports["probe"]),
		"--namespace", "stowage-system", "--leader-elect=false", "--webhook-configuration", "stowage-bench-budget-scope",
		"--memory-limit=512Mi"} // the chart's default limits.memory, which it passes the same way
	if b.opts.ProfileDir != "" {
		args = append(args, "--pprof-bind-address", fmt.Sprintf("127.0.0.1:%d", ports["pprof"]))
	}
	args = append(args, b.opts.ExtraStowageArgs...)
	p, err := b.startProc("stowage", args, nil)
	if err != nil {
		return err
	}
	p.ports, p.certs = ports, certs
	b.stowage = p
	ready := fmt.Sprintf("http://127.0.0.1:%d/readyz", ports["probe"])
	if err := cluster.WaitFor(ctx, 60*time.Second, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("stowage webhook exited:\n%s", tail(p.log, 30))
		}
		resp, err := http.Get(ready)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		return err
	}
	bundle, err := os.ReadFile(bundleFile)
	if err != nil {
		return err
	}
	caPEM, err := base64.StdEncoding.DecodeString(string(bundle))
	if err != nil {
		return err
	}
	p.bundle = string(caPEM)
	return nil
}

// startFloor runs the floor webhook in a process of its own, with Stowage's certificate.
func (b *bench) startFloor(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	p, err := b.startProc("floor", []string{b.opts.Self}, cluster.FloorEnv(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), b.stowage.certs, ""))
	if err != nil {
		return err
	}
	p.ports = map[string]int{"webhook": port}
	b.floor = p
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(b.stowage.bundle))
	b.floorHTTP = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	b.floorURL = fmt.Sprintf("https://127.0.0.1:%d", port)
	return cluster.WaitFor(ctx, 30*time.Second, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("floor webhook exited:\n%s", tail(p.log, 30))
		}
		_, err := b.floorCount()
		return err == nil, nil
	})
}

// stowagePatch asks Stowage's /mutate, as the API server would, for the patch of the benchmark's
// StatefulSet in a W namespace, and returns it as a response carries it (base64).
func (b *bench) stowagePatch(ctx context.Context) (string, error) {
	ns, err := b.newNamespace(ctx, cfgStowage)
	if err != nil {
		return "", err
	}
	sts := statefulSet("probe")
	sts.Namespace = ns
	sts.APIVersion, sts.Kind = "apps/v1", "StatefulSet"
	raw, err := json.Marshal(sts)
	if err != nil {
		return "", err
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "bench", Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"},
			Resource: metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"},
			Name:     sts.Name, Namespace: ns, Operation: admissionv1.Create,
			UserInfo: authenticationv1.UserInfo{Username: "bench"},
			Object:   runtime.RawExtension{Raw: raw},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		return "", err
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/mutate", b.stowage.ports["webhook"])
	var patch []byte
	// Stowage's cache may not hold the namespace yet: ask until the patch comes.
	err = cluster.WaitFor(ctx, 30*time.Second, func() (bool, error) {
		resp, err := b.floorHTTP.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		var out admissionv1.AdmissionReview
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil {
			return false, nil
		}
		patch = out.Response.Patch
		return len(patch) > 0, nil
	})
	if err != nil {
		return "", fmt.Errorf("Stowage gave no patch for the benchmark's StatefulSet: %w", err)
	}
	return base64.StdEncoding.EncodeToString(patch), nil
}

// startPatchFloor runs the mutating floor: the floor program answering every /mutate with patch.
func (b *bench) startPatchFloor(ctx context.Context, patch string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	p, err := b.startProc("floor-patch", []string{b.opts.Self}, cluster.FloorEnv(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), b.stowage.certs, patch))
	if err != nil {
		return err
	}
	p.ports = map[string]int{"webhook": port}
	b.pfloor = p
	url := fmt.Sprintf("https://127.0.0.1:%d/count", port)
	return cluster.WaitFor(ctx, 30*time.Second, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("mutating floor webhook exited:\n%s", tail(p.log, 30))
		}
		resp, err := b.floorHTTP.Get(url)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return true, nil
	})
}

func (b *bench) floorCount() (int, error) {
	resp, err := b.floorHTTP.Get(b.floorURL + "/count")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(data))
}

// installChartWebhooks renders the chart's webhook configurations, names them after release,
// limits them to namespaces labelled with one of values and points them at a local port.
func (b *bench) installChartWebhooks(ctx context.Context, helm, release string, values []string, port int) error {
	sel := fmt.Sprintf(`webhook.namespaceSelectorExpressions=[{"key":%q,"operator":"In","values":["%s"]}]`, configLabel, strings.Join(values, `","`))
	out, err := manifests.Template(ctx, helm, manifests.Paths{Root: b.opts.Root}.Chart(), "--set", "certManager.enabled=false",
		"--set", "caBundle="+base64.StdEncoding.EncodeToString([]byte(b.stowage.bundle)),
		"--show-only", "templates/webhooks.yaml", "--set-json", sel)
	if err != nil {
		return fmt.Errorf("helm template: %w", err)
	}
	objs, err := manifests.LocalWebhooks("webhooks.yaml", out, fmt.Sprintf("https://127.0.0.1:%d", port))
	if err != nil || len(objs) != 2 {
		return fmt.Errorf("rendered webhook configurations: %v (%d objects)", err, len(objs))
	}
	for _, o := range objs {
		o.SetName(release)
		if err := b.c.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %s: %w", o.GetName(), err)
		}
	}
	return nil
}

// newNamespace creates a fresh namespace for a configuration.
func (b *bench) newNamespace(ctx context.Context, config string) (string, error) {
	b.nsSeq++
	name := fmt.Sprintf("bench-%s-%d", config, b.nsSeq)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{configLabel: config}}}
	_, err := b.cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	return name, err
}

// statefulSet is the benchmark's object: a small database chart's StatefulSet, with three
// replicas, a claim template that names no class, and no placement of its own.
func statefulSet(name string) *appsv1.StatefulSet {
	labels := map[string]string{"app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": name, "app.kubernetes.io/component": "primary"}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](3),
			ServiceName: name + "-hl",
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:  "postgresql",
						Image: "docker.io/library/postgres:17.2",
						Ports: []corev1.ContainerPort{{Name: "tcp-postgresql", ContainerPort: 5432}},
						Env:   []corev1.EnvVar{{Name: "PGDATA", Value: "/var/lib/postgresql/data/pgdata"}, {Name: "POSTGRES_DB", Value: "app"}},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
						},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"pg_isready", "-U", "postgres"}}}, PeriodSeconds: 10},
						VolumeMounts:   []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/postgresql/data"}},
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("8Gi")}},
				},
			}},
		},
	}
}

// hasHostnameTerm reports whether a stored StatefulSet carries a required hostname term.
func hasHostnameTerm(s *appsv1.StatefulSet) bool {
	a := s.Spec.Template.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return false
	}
	return slices.ContainsFunc(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, func(t corev1.PodAffinityTerm) bool {
		return t.TopologyKey == corev1.LabelHostname
	})
}

// checkConfigurations waits until every configuration acts as it should on a dry-run create,
// and checks that the MutatingAdmissionPolicy stores what Stowage stores.
func (b *bench) checkConfigurations(ctx context.Context) error {
	got := map[string]*appsv1.StatefulSet{}
	for _, cfg := range []string{cfgNone, cfgStowage, cfgMAP, cfgFloor, cfgPatchFloor} {
		ns, err := b.newNamespace(ctx, cfg)
		if err != nil {
			return err
		}
		var last string
		if err := cluster.WaitFor(ctx, 30*time.Second, func() (bool, error) {
			before, _ := b.floorCount()
			s, err := b.cs.AppsV1().StatefulSets(ns).Create(ctx, statefulSet("probe"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if err != nil {
				last = err.Error()
				return false, nil
			}
			after, _ := b.floorCount()
			mutated := hasHostnameTerm(s)
			last = fmt.Sprintf("mutated=%t floor requests=%d", mutated, after-before)
			got[cfg] = s
			switch cfg {
			case cfgStowage, cfgMAP, cfgPatchFloor:
				return mutated, nil
			case cfgFloor:
				return !mutated && after-before == 2, nil
			default:
				return !mutated && after == before, nil
			}
		}); err != nil {
			return fmt.Errorf("configuration %s does not act as expected: %s", cfg, last)
		}
	}
	w, m := got[cfgStowage], got[cfgMAP]
	if !apiequality.Semantic.DeepEqual(w.Spec.Template.Spec.Affinity, m.Spec.Template.Spec.Affinity) ||
		!apiequality.Semantic.DeepEqual(w.Spec.Template.Spec.TopologySpreadConstraints, m.Spec.Template.Spec.TopologySpreadConstraints) ||
		!apiequality.Semantic.DeepEqual(w.Spec.VolumeClaimTemplates, m.Spec.VolumeClaimTemplates) {
		return fmt.Errorf("the MutatingAdmissionPolicy stores a different StatefulSet than Stowage:\nstowage: %+v %+v %+v\nmap:     %+v %+v %+v",
			w.Spec.Template.Spec.Affinity, w.Spec.Template.Spec.TopologySpreadConstraints, w.Spec.VolumeClaimTemplates[0].Spec.StorageClassName,
			m.Spec.Template.Spec.Affinity, m.Spec.Template.Spec.TopologySpreadConstraints, m.Spec.VolumeClaimTemplates[0].Spec.StorageClassName)
	}
	return nil
}

// cpuTime returns a process's user plus system CPU time, or 0 when it is gone.
func cpuTime(pid int) time.Duration {
	_, cpu, _ := cluster.ProcessCPU(pid)
	return cpu
}

func rssBytes(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(rest, &kb)
			return kb << 10
		}
	}
	return 0
}

// measure runs the rounds: every round, for every concurrency, every configuration in an order
// that rotates from round to round.
func (b *bench) measure(ctx context.Context) (*Result, error) {
	configs := []string{cfgNone, cfgStowage, cfgMAP, cfgFloor, cfgPatchFloor, cfgStowagePDB}
	if b.opts.Warmup > 0 {
		for _, cfg := range configs {
			if _, err := b.runPhase(ctx, cfg, 4, b.opts.Warmup, -1); err != nil {
				return nil, fmt.Errorf("warm-up %s: %w", cfg, err)
			}
		}
	}
	res := &Result{Opts: b.opts, Note: b.opts.Note, Env: environment()}
	if b.opts.ProfileDir != "" {
		return res, b.profile(ctx, configs)
	}
	for r := range b.opts.Rounds {
		for ci, conc := range b.opts.Concurrency {
			for k := range configs {
				cfg := configs[(k+r+ci)%len(configs)]
				p, err := b.runPhase(ctx, cfg, conc, b.opts.Creates[ci], r)
				if err != nil {
					return nil, fmt.Errorf("round %d, %s, c=%d: %w", r+1, cfg, conc, err)
				}
				b.opts.Logf("round %d c=%d %-11s p50 %6s p99 %7s %6.0f/s apiserver %5.2f ms/req, webhook %5.2f ms/req, mutated %d/%d, PDBs %d (budget webhook called %d times)",
					r+1, conc, cfg, p.pct(0.5).Round(10*time.Microsecond), p.pct(0.99).Round(10*time.Microsecond), float64(p.n)/p.elapsed.Seconds(),
					ms(p.apiCPU)/float64(p.n), ms(p.hookCPU)/float64(p.n), p.mutated, p.n, p.pdbs, p.budgetCalls)
				res.Phases = append(res.Phases, p)
			}
		}
	}
	res.RSS = rssBytes(b.stowage.cmd.Process.Pid)
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runPhase creates n StatefulSets with conc clients in a fresh namespace of the configuration
// and measures. With W + PDB, the phase lasts until every budget is written.
func (b *bench) runPhase(ctx context.Context, cfg string, conc, n, round int) (*phase, error) {
	if b.stowage.exited() {
		return nil, fmt.Errorf("stowage webhook exited:\n%s", tail(b.stowage.log, 30))
	}
	ns, err := b.newNamespace(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Every phase watches budgets the same way; only W + PDB sees any.
	w, err := b.cs.PolicyV1().PodDisruptionBudgets(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	// Let the namespace reach every informer (the API server's, Stowage's) before measuring.
	time.Sleep(500 * time.Millisecond)

	hookPid := 0
	switch cfg {
	case cfgStowage, cfgStowagePDB:
		hookPid = b.stowage.cmd.Process.Pid
	case cfgFloor:
		hookPid = b.floor.cmd.Process.Pid
	case cfgPatchFloor:
		hookPid = b.pfloor.cmd.Process.Pid
	}
	p := &phase{config: cfg, concurrency: conc, round: round, n: n, lat: make([]time.Duration, n)}
	calls0, err := b.budgetWebhookCalls(ctx)
	if err != nil {
		return nil, err
	}
	api0, etcd0, hook0 := cpuTime(b.pids[cluster.APIServer]), cpuTime(b.pids[cluster.Etcd]), cpuTime(hookPid)
	start := time.Now()
	var (
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
		wg       sync.WaitGroup
	)
	for range conc {
		wg.Go(func() {
			for i := range next {
				t := time.Now()
				_, err := b.cs.AppsV1().StatefulSets(ns).Create(ctx, statefulSet(fmt.Sprintf("db-%d", i)), metav1.CreateOptions{})
				p.lat[i] = time.Since(t)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	p.elapsed = time.Since(start)
	if firstErr != nil {
		return nil, firstErr
	}
	// Budgets: count what the watch delivered; for W + PDB wait for all of them.
	want := 0
	if cfg == cfgStowagePDB {
		want = n
	}
	deadline := time.After(60 * time.Second)
	drain := time.After(0)
	for done := false; !done; {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, errors.New("budget watch closed")
			}
			if ev.Type == watch.Added {
				p.pdbs++
			}
		case <-drain:
			if p.pdbs >= want {
				done = true
			} else {
				drain = time.After(20 * time.Millisecond)
			}
		case <-deadline:
			// Reported, not fatal: the table shows the share of budgets written.
			b.opts.Logf("%s c=%d: %d of %d budgets written within 60 s", cfg, conc, p.pdbs, want)
			done = true
		}
	}
	if cfg == cfgStowagePDB {
		p.elapsed = time.Since(start)
	}
	p.apiCPU = cpuTime(b.pids[cluster.APIServer]) - api0
	p.etcdCPU = cpuTime(b.pids[cluster.Etcd]) - etcd0
	p.hookCPU = cpuTime(hookPid) - hook0
	if hookPid == 0 {
		p.hookCPU = 0
	}
	sort.Slice(p.lat, func(i, j int) bool { return p.lat[i] < p.lat[j] })
	calls, err := b.budgetWebhookCalls(ctx)
	if err != nil {
		return nil, err
	}
	p.budgetCalls = calls - calls0

	// Outside the measurement: check what was stored, then clear the namespace.
	list, err := b.cs.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		if hasHostnameTerm(&list.Items[i]) {
			p.mutated++
		}
	}
	if err := b.cs.AppsV1().StatefulSets(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return nil, err
	}
	if err := b.cs.PolicyV1().PodDisruptionBudgets(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return nil, err
	}
	_ = b.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	// Let the deletes' watch events and reconciles settle before the next phase.
	time.Sleep(time.Second)
	return p, nil
}

// environment describes the machine, for the report.
func environment() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d CPUs", numCPU())
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(&b, ", load average at the end %s", strings.Join(strings.Fields(string(data))[:3], " "))
	}
	return b.String()
}

func numCPU() int {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return bytes.Count(data, []byte("\nprocessor")) + 1
}

func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// profile runs one long phase per configuration while taking CPU profiles.
func (b *bench) profile(ctx context.Context, configs []string) error {
	if err := os.MkdirAll(b.opts.ProfileDir, 0o755); err != nil {
		return err
	}
	conc := b.opts.Concurrency[len(b.opts.Concurrency)-1]
	n := b.opts.Creates[len(b.opts.Creates)-1]
	for _, cfg := range configs {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() {
			data, err := b.c.Clientset.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").
				Param("seconds", strconv.Itoa(b.opts.ProfileSeconds)).DoRaw(ctx)
			if err == nil {
				err = os.WriteFile(filepath.Join(b.opts.ProfileDir, cfg+"-apiserver.pprof"), data, 0o644)
			}
			errs[0] = err
		})
		if cfg == cfgStowage || cfg == cfgStowagePDB {
			wg.Go(func() {
				resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", b.stowage.ports["pprof"], b.opts.ProfileSeconds))
				if err != nil {
					errs[1] = err
					return
				}
				defer resp.Body.Close()
				data, err := io.ReadAll(resp.Body)
				if err == nil {
					err = os.WriteFile(filepath.Join(b.opts.ProfileDir, cfg+"-stowage.pprof"), data, 0o644)
				}
				errs[1] = err
			})
		}
		p, err := b.runPhase(ctx, cfg, conc, n, 0)
		if err != nil {
			return err
		}
		b.opts.Logf("profile %s: %d creates in %s, apiserver %.2f ms/req", cfg, p.n, p.elapsed.Round(time.Millisecond), ms(p.apiCPU)/float64(p.n))
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}
