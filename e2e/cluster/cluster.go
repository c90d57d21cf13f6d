package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Addresses of the in-cluster network. Nothing routes to them: kube-apiserver only allocates
// Service IPs from the range, and kwok gives fake Pods IPs from its own default range.
const (
	serviceClusterIPRange = "10.0.0.0/24"
	kubernetesServiceIP   = "10.0.0.1"
	serviceAccountIssuer  = "https://kubernetes.default.svc.cluster.local"
)

// Timings records how long each phase of Start took.
type Timings struct {
	// PKI is the time to generate the certificates and keys.
	PKI time.Duration
	// Etcd is the time from starting etcd to its /health answering.
	Etcd time.Duration
	// APIServer is the time from starting kube-apiserver to its /readyz answering ok.
	APIServer time.Duration
	// Scheduling is the time from starting kube-controller-manager, kube-scheduler and kwok
	// to all three being healthy and the default ServiceAccount existing (kwok alone with
	// Options.FakeKubelets). Zero without either option.
	Scheduling time.Duration
	// Total is the whole of Start.
	Total time.Duration
}

// Cluster is a running control plane. Its fields are set by Start and must not be changed.
type Cluster struct {
	// Kubeconfig is the path of an admin kubeconfig file (group system:masters).
	Kubeconfig string
	// RESTConfig is the admin REST config. Copy it (rest.CopyConfig) before changing it.
	RESTConfig *rest.Config
	// Clientset is a client-go clientset with admin rights.
	Clientset *kubernetes.Clientset
	// Client is a controller-runtime client with admin rights whose scheme is Scheme.
	Client client.Client
	// Scheme holds the client-go types. Suites may add their own before using Client with them.
	Scheme *runtime.Scheme
	// Host is kube-apiserver's URL, https://127.0.0.1:<port>.
	Host string
	// EtcdURL is etcd's client URL, http://127.0.0.1:<port>, for tests that must write around
	// the API server's validation.
	EtcdURL string
	// WorkDir holds the PKI, the kubeconfig, etcd's data and the logs.
	WorkDir string
	// Timings records how long Start took.
	Timings Timings

	opts    Options
	pki     *pki
	tempDir bool // WorkDir was created by Start

	mu       sync.Mutex
	procs    []*process // in start order
	stopOnce sync.Once
	stopErr  error
	// releaseShared releases this cluster's hold on the quiet lock (see Quiet).
	releaseShared func()
}

// ports are the loopback ports a cluster's components listen on.
type ports struct {
	etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwok int
}

// Start starts a control plane and returns once it is ready: kube-apiserver's /readyz answers
// ok and, with Options.Scheduling, kube-controller-manager, kube-scheduler and kwok are healthy
// and the controller manager has created the default ServiceAccount. ctx bounds the start only;
// the cluster runs until Stop. On failure Start stops whatever it had started and returns an
// error with the end of the failing component's log.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	begin := time.Now()
	opts = opts.withDefaults()
	bins, err := opts.resolveBinaries()
	if err != nil {
		return nil, err
	}
	// Not while another test binary measures something on a quiet machine (see Quiet).
	release, err := holdShared(ctx, opts.Logf)
	if err != nil {
		return nil, err
	}

	for attempt := 1; ; attempt++ {
		c, err := startOnce(ctx, opts, bins, begin)
		if err == nil {
			c.releaseShared = release
			return c, nil
		}
		// A free port found by freePorts can be taken by another process before the component
		// binds it; that is worth another try with new ports.
		if attempt == maxStartAttempts || ctx.Err() != nil || !strings.Contains(err.Error(), "address already in use") {
			release()
			return nil, err
		}
		opts.Logf("start attempt %d lost a port to another process, retrying: %.200s", attempt, err)
	}
}

// maxStartAttempts bounds Start's retries after a port clash.
const maxStartAttempts = 3

// startOnce makes one attempt at Start and stops what it started if it fails.
func startOnce(ctx context.Context, opts Options, bins binaries, begin time.Time) (*Cluster, error) {
	c := &Cluster{opts: opts, WorkDir: opts.WorkDir}
	if c.WorkDir == "" {
		var err error
		c.WorkDir, err = os.MkdirTemp("", "stowage-e2e-")
		if err != nil {
			return nil, fmt.Errorf("create work folder: %w", err)
		}
		c.tempDir = true
	} else {
		if err := os.MkdirAll(c.WorkDir, 0o700); err != nil {
			return nil, fmt.Errorf("create work folder: %w", err)
		}
		// etcd's data from an earlier attempt or run would bring back its objects.
		if err := os.RemoveAll(filepath.Join(c.WorkDir, "etcd")); err != nil {
			return nil, fmt.Errorf("clear etcd data: %w", err)
		}
	}
	if err := c.start(ctx, bins, begin); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// start does the work of Start; the caller stops the cluster if it fails.
func (c *Cluster) start(ctx context.Context, bins binaries, begin time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	logf := c.opts.Logf

	for _, d := range []string{"logs", "etcd", "kwok-home", "kubectl-cache"} {
		if err := os.MkdirAll(filepath.Join(c.WorkDir, d), 0o700); err != nil {
			return fmt.Errorf("create %s folder: %w", d, err)
		}
	}

	t := time.Now()
	var err error
	c.pki, err = newPKI(filepath.Join(c.WorkDir, "pki"))
	if err != nil {
		return fmt.Errorf("generate pki: %w", err)
	}
	c.Timings.PKI = time.Since(t)

	pl, err := freePorts(6)
	if err != nil {
		return err
	}
	pt := ports{etcdClient: pl[0], etcdPeer: pl[1], apiserver: pl[2], controllerManager: pl[3], scheduler: pl[4], kwok: pl[5]}
	c.Host = "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(pt.apiserver))

	if err := c.buildClients(); err != nil {
		return err
	}

	// etcd
	t = time.Now()
	etcdURL := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(pt.etcdClient))
	c.EtcdURL = etcdURL
	etcd, err := c.run(Etcd, bins.etcd, c.etcdArgs(pt), nil)
	if err != nil {
		return err
	}
	if err := waitHealthy(ctx, etcd, httpGetOK(plainHTTP, etcdURL+"/health")); err != nil {
		return err
	}
	c.Timings.Etcd = time.Since(t)
	logf("etcd healthy in %s", c.Timings.Etcd.Round(time.Millisecond))

	// kube-apiserver
	t = time.Now()
	apiserver, err := c.run(APIServer, bins.apiserver, c.apiserverArgs(pt, etcdURL), nil)
	if err != nil {
		return err
	}
	if err := waitHealthy(ctx, apiserver, c.apiserverReady); err != nil {
		return err
	}
	c.Timings.APIServer = time.Since(t)
	logf("kube-apiserver ready in %s", c.Timings.APIServer.Round(time.Millisecond))

	if c.opts.runsKwok() {
		t = time.Now()
		started, err := c.startScheduling(ctx, bins, pt)
		if err != nil {
			return err
		}
		c.Timings.Scheduling = time.Since(t)
		logf("%s ready in %s", started, c.Timings.Scheduling.Round(time.Millisecond))
	}

	c.Timings.Total = time.Since(begin)
	logf("control plane up in %s (scheduling=%t, fake kubelets=%t, work folder %s)", c.Timings.Total.Round(time.Millisecond),
		c.opts.Scheduling, c.opts.runsKwok(), c.WorkDir)
	return nil
}

type healthCheck struct {
	p     *process
	what  string
	check func(context.Context) error
}

// startScheduling starts kube-controller-manager, kube-scheduler and kwok side by side (only
// kwok with Options.FakeKubelets) and waits for them all. It returns what it started.
func (c *Cluster) startScheduling(ctx context.Context, bins binaries, pt ports) (string, error) {
	var checks []healthCheck
	started := "kwok"
	if c.opts.Scheduling {
		kcm, err := c.run(ControllerManager, bins.controllerManager, c.controllerManagerArgs(pt), nil)
		if err != nil {
			return "", err
		}
		sched, err := c.run(Scheduler, bins.scheduler, c.schedulerArgs(pt), nil)
		if err != nil {
			return "", err
		}
		checks = append(checks,
			healthCheck{kcm, "kube-controller-manager /healthz", httpGetOK(insecureHTTPS, fmt.Sprintf("https://127.0.0.1:%d/healthz", pt.controllerManager))},
			healthCheck{kcm, "default ServiceAccount", c.defaultServiceAccountExists},
			healthCheck{sched, "kube-scheduler /healthz", httpGetOK(insecureHTTPS, fmt.Sprintf("https://127.0.0.1:%d/healthz", pt.scheduler))})
		started = "kube-controller-manager, kube-scheduler and kwok"
	}
	kwokEnv := append(os.Environ(), "HOME="+filepath.Join(c.WorkDir, "kwok-home")) // so ~/.kwok/kwok.yaml is not loaded
	kwok, err := c.run(Kwok, bins.kwok, c.kwokArgs(pt, bins.kwokStages), kwokEnv)
	if err != nil {
		return "", err
	}
	checks = append(checks, healthCheck{kwok, "kwok /healthz", httpGetOK(plainHTTP, fmt.Sprintf("http://127.0.0.1:%d/healthz", pt.kwok))})

	begin := time.Now()
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, ch := range checks {
		wg.Go(func() {
			errs[i] = waitHealthy(ctx, ch.p, ch.check)
			if errs[i] == nil {
				c.opts.Logf("%s ok in %s", ch.what, time.Since(begin).Round(time.Millisecond))
			}
		})
	}
	wg.Wait()
	return started, errors.Join(errs...)
}

// run starts one component with its output in logs/<component>.log and records it for Stop.
func (c *Cluster) run(component Component, bin string, args, env []string) (*process, error) {
	args = append(args, c.opts.ExtraArgs[component]...)
	if env == nil {
		env = os.Environ()
	}
	p, err := startProcess(component, bin, args, env, c.LogPath(component))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

func (c *Cluster) etcdArgs(pt ports) []string {
	client := fmt.Sprintf("http://127.0.0.1:%d", pt.etcdClient)
	peer := fmt.Sprintf("http://127.0.0.1:%d", pt.etcdPeer)
	return []string{
		"--name=e2e",
		"--data-dir=" + filepath.Join(c.WorkDir, "etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=e2e=" + peer,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
}

func (c *Cluster) apiserverArgs(pt ports, etcdURL string) []string {
	return []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(pt.apiserver),
		"--endpoint-reconciler-type=none", // a loopback advertise address is refused otherwise
		"--cert-dir=" + filepath.Join(c.WorkDir, "pki"),
		"--tls-cert-file=" + c.pki.servingCertFile,
		"--tls-private-key-file=" + c.pki.servingKeyFile,
		"--client-ca-file=" + c.pki.caCertFile,
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-account-key-file=" + c.pki.saPubFile,
		"--service-account-signing-key-file=" + c.pki.saKeyFile,
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		"--authorization-mode=RBAC",
		// On by default; named so that a change of defaults can't silently drop what the
		// suites test: webhooks, and the default StorageClass being filled into claims.
		"--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook,DefaultStorageClass",
		"--allow-privileged=true",
		"--profiling=false",
	}
}

func (c *Cluster) controllerManagerArgs(pt ports) []string {
	return []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(pt.controllerManager),
		"--leader-elect=false",
		"--controllers=*", // includes garbage-collector, statefulset, disruption, node-lifecycle, persistentvolume-binder
		"--service-account-private-key-file=" + c.pki.saKeyFile,
		"--root-ca-file=" + c.pki.caCertFile,
		// One identity per controller, as in a real cluster, so RBAC applies to each. It costs
		// about 5 s of start on this kind of machine (each controller's token is requested in
		// turn); ExtraArgs {"--use-service-account-credentials=false"} trades that fidelity away.
		"--use-service-account-credentials=true",
		"--cluster-signing-cert-file=" + c.pki.caCertFile,
		"--cluster-signing-key-file=" + c.pki.caKeyFile,
		"--profiling=false",
	}
}

func (c *Cluster) schedulerArgs(pt ports) []string {
	return []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(pt.scheduler),
		"--leader-elect=false",
		"--profiling=false",
	}
}

func (c *Cluster) kwokArgs(pt ports, stages []string) []string {
	args := []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--manage-nodes-with-annotation-selector=" + KwokNodeAnnotation + "=" + KwokNodeAnnotationValue,
		"--server-address=" + net.JoinHostPort("127.0.0.1", strconv.Itoa(pt.kwok)),
		// Leases as a kubelet keeps them (kwok's flag defaults to none): the node lifecycle
		// controller watches them, and StopNodeHeartbeat works by taking one over.
		"--node-lease-duration-seconds=40",
	}
	for _, s := range stages {
		args = append(args, "--config="+s)
	}
	return args
}

// buildClients writes the admin kubeconfig and builds the REST config and both clients.
func (c *Cluster) buildClients() error {
	c.RESTConfig = &rest.Config{
		Host: c.Host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   c.pki.caPEM,
			CertData: c.pki.adminCertPEM,
			KeyData:  c.pki.adminKeyPEM,
		},
		QPS:       100,
		Burst:     200,
		UserAgent: "stowage-e2e",
	}

	const name = "stowage-e2e"
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.pki.caPEM}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.pki.adminCertPEM, ClientKeyData: c.pki.adminKeyPEM}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: "admin", Namespace: metav1.NamespaceDefault}
	kc.CurrentContext = name
	c.Kubeconfig = filepath.Join(c.WorkDir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, c.Kubeconfig); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}

	var err error
	c.Clientset, err = kubernetes.NewForConfig(c.RESTConfig)
	if err != nil {
		return fmt.Errorf("build clientset: %w", err)
	}
	c.Scheme = runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(c.Scheme); err != nil {
		return fmt.Errorf("build scheme: %w", err)
	}
	// An explicit logger keeps controller-runtime from complaining that its global logger was
	// never set; the client only logs API warnings.
	logf := c.opts.Logf
	crLog := funcr.New(func(prefix, args string) { logf("%s %s", prefix, args) }, funcr.Options{}).WithName("client")
	c.Client, err = client.New(rest.CopyConfig(c.RESTConfig), client.Options{Scheme: c.Scheme, Log: crLog})
	if err != nil {
		return fmt.Errorf("build controller-runtime client: %w", err)
	}
	return nil
}

// apiserverReady reports whether kube-apiserver's /readyz answers ok.
func (c *Cluster) apiserverReady(ctx context.Context) error {
	body, err := c.Clientset.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("/readyz: %w: %s", err, lastLines(body, 5))
	}
	return nil
}

// defaultServiceAccountExists reports whether the controller manager's serviceaccount
// controller has created default/default, the sign that its controllers run. Pods can't be
// created in a namespace before its default ServiceAccount exists.
func (c *Cluster) defaultServiceAccountExists(ctx context.Context) error {
	_, err := c.Clientset.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return errors.New("default ServiceAccount not created yet")
	}
	return err
}

// HTTP clients for health checks. The controller manager and the scheduler serve /healthz
// with a self-signed certificate of their own, on loopback.
var (
	plainHTTP     = &http.Client{Timeout: 2 * time.Second}
	insecureHTTPS = &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // loopback health check of a self-signed component
	}
)

// httpGetOK returns a check that GETs url and wants 200.
func httpGetOK(hc *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// healthPollInterval is how often waitHealthy checks.
const healthPollInterval = 50 * time.Millisecond

// waitHealthy polls check until it succeeds, failing early if p exits or ctx ends.
func waitHealthy(ctx context.Context, p *process, check func(context.Context) error) error {
	ticker := time.NewTicker(healthPollInterval)
	defer ticker.Stop()
	var last error
	for {
		if err := p.exitedErr(); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy: %w (last check: %v); last lines of %s:\n%s",
				p.component, ctx.Err(), last, p.logPath, tailFile(p.logPath, 30))
		case <-p.done:
		case <-ticker.C:
		}
	}
}

// Stop stops every component, newest first: SIGTERM to its process group, SIGKILL after
// Options.StopGracePeriod. It then removes a temporary work folder unless asked to keep it.
// It is safe to call more than once and from several goroutines; later calls return at once.
func (c *Cluster) Stop() {
	c.stopOnce.Do(c.stop)
}

func (c *Cluster) stop() {
	begin := time.Now()
	c.mu.Lock()
	procs := append([]*process(nil), c.procs...)
	c.mu.Unlock()

	// A paused component would ignore SIGTERM until killed.
	for _, p := range procs {
		select {
		case <-p.done:
		default:
			killGroup(p.pid(), syscall.SIGCONT)
		}
	}
	// The scheduling trio first and together, then kube-apiserver, then etcd.
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	var rest []*process
	for _, p := range procs {
		switch p.component {
		case ControllerManager, Scheduler, Kwok:
			wg.Go(func() {
				if err := p.stop(c.opts.StopGracePeriod); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		default:
			rest = append(rest, p)
		}
	}
	wg.Wait()
	for i := len(rest) - 1; i >= 0; i-- {
		if err := rest[i].stop(c.opts.StopGracePeriod); err != nil {
			errs = append(errs, err)
		}
	}
	stopErr := errors.Join(errs...)
	c.mu.Lock()
	c.stopErr = stopErr
	c.mu.Unlock()
	if stopErr != nil {
		c.opts.Logf("stop: %v", stopErr)
	}

	switch {
	case c.tempDir && !c.opts.KeepWorkDir:
		if err := os.RemoveAll(c.WorkDir); err != nil {
			c.opts.Logf("remove work folder: %v", err)
		}
	case len(procs) > 0:
		c.opts.Logf("work folder kept: %s", c.WorkDir)
	}
	if c.releaseShared != nil {
		c.releaseShared()
	}
	c.opts.Logf("control plane stopped in %s", time.Since(begin).Round(time.Millisecond))
}

// StopErr returns what went wrong while stopping, such as a component that needed SIGKILL,
// or nil. It is meaningful after Stop.
func (c *Cluster) StopErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopErr
}

// PIDs returns the process id of each component started, which is also its process group id.
func (c *Cluster) PIDs() map[Component]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[Component]int, len(c.procs))
	for _, p := range c.procs {
		out[p.component] = p.pid()
	}
	return out
}

// LogPath returns the file holding a component's stdout and stderr.
func (c *Cluster) LogPath(component Component) string {
	return filepath.Join(c.WorkDir, "logs", string(component)+".log")
}

// LogTail returns the last n lines of every started component's log, each under a header. Call
// it before Stop when a temporary work folder is not kept: Stop removes the logs.
func (c *Cluster) LogTail(n int) string {
	c.mu.Lock()
	procs := append([]*process(nil), c.procs...)
	c.mu.Unlock()
	var b strings.Builder
	for _, p := range procs {
		state := "running"
		select {
		case <-p.done:
			state = fmt.Sprintf("exited: %v", p.waitErr)
		default:
		}
		fmt.Fprintf(&b, "===== %s (pid %d, %s), last %d lines of %s =====\n%s\n", p.component, p.pid(), state, n, p.logPath, tailFile(p.logPath, n))
	}
	return b.String()
}

// CACertPEM returns the cluster CA's certificate in PEM, the caBundle for webhook
// configurations whose serving certificate comes from IssueServingCert.
func (c *Cluster) CACertPEM() []byte {
	return append([]byte(nil), c.pki.caPEM...)
}

// IssueServingCert issues a serving certificate signed by the cluster CA for the given host
// names and IP addresses, for a webhook server that kube-apiserver must trust. It returns the
// certificate and its ECDSA key in PEM.
func (c *Cluster) IssueServingCert(hosts ...string) (certPEM, keyPEM []byte, err error) {
	if len(hosts) == 0 {
		return nil, nil, errors.New("issue serving certificate: no hosts")
	}
	var names []string
	var ips []net.IP
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			names = append(names, h)
		}
	}
	certPEM, keyPEM, err = c.pki.issueServing(names, ips)
	if err != nil {
		return nil, nil, fmt.Errorf("issue serving certificate: %w", err)
	}
	return certPEM, keyPEM, nil
}

// Logf writes a message through Options.Logf.
func (c *Cluster) Logf(format string, args ...any) {
	c.opts.Logf(format, args...)
}

// nodeReady reports whether node has condition Ready=True.
func nodeReady(node *corev1.Node) bool {
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// find returns the running process of a component, or nil.
func (c *Cluster) find(component Component) *process {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.procs) - 1; i >= 0; i-- {
		if c.procs[i].component == component {
			return c.procs[i]
		}
	}
	return nil
}

// Restart stops a component (SIGTERM, SIGKILL after Options.StopGracePeriod) and starts it
// again with the same command line, its output appended to the same log. For kube-apiserver it
// returns once /readyz answers ok again; for the others once the process runs. Failure tests
// use it to take the API server away from the clients and webhooks that talk to it.
func (c *Cluster) Restart(ctx context.Context, component Component) error {
	p := c.find(component)
	if p == nil {
		return fmt.Errorf("restart %s: not started", component)
	}
	if err := p.stop(c.opts.StopGracePeriod); err != nil {
		// Killed after the grace period: it is stopped all the same.
		c.opts.Logf("restart %s: %v", component, err)
		select {
		case <-p.done:
		default:
			return fmt.Errorf("restart %s: %w", component, err)
		}
	}
	np, err := startProcess(component, p.cmd.Path, p.cmd.Args[1:], p.cmd.Env, p.logPath)
	if err != nil {
		return fmt.Errorf("restart %s: %w", component, err)
	}
	c.mu.Lock()
	for i := range c.procs {
		if c.procs[i] == p {
			c.procs[i] = np
		}
	}
	c.mu.Unlock()
	if component != APIServer {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	return waitHealthy(ctx, np, c.apiserverReady)
}

// Pause stops a component with SIGSTOP, as a hung process or a stalled disk would: its sockets
// stay open but nothing answers. Resume continues it. Stop resumes a paused component first.
func (c *Cluster) Pause(component Component) error {
	return c.signal(component, syscall.SIGSTOP)
}

// Resume continues a component that Pause stopped.
func (c *Cluster) Resume(component Component) error {
	return c.signal(component, syscall.SIGCONT)
}

func (c *Cluster) signal(component Component, sig syscall.Signal) error {
	p := c.find(component)
	if p == nil {
		return fmt.Errorf("signal %s: not started", component)
	}
	select {
	case <-p.done:
		return fmt.Errorf("signal %s: it has exited", component)
	default:
	}
	killGroup(p.pid(), sig)
	return nil
}
