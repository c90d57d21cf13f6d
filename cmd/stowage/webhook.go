//go:build !checkonly

package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/stowage-dev/stowage/controllers"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
	"github.com/stowage-dev/stowage/recovery"
	"github.com/stowage-dev/stowage/webhook"
)

func init() { extraCommands = append(extraCommands, newWebhookCommand) }

type webhookFlags struct {
	kube               kubeFlags
	host               string
	port               int
	certDir            string
	selfSigned         bool
	selfSignedHosts    []string
	caBundleOut        string
	metricsAddr        string
	probeAddr          string
	leaderElect        bool
	namespace          string
	maxBodyBytes       int64
	logLevel           int
	logFormat          string
	auditInterval      time.Duration
	auditPolicyReports bool
	webhookConfig      string
	pprofAddr          string
	notReadyThreshold  time.Duration

	recovery          bool
	recoveryMaxFlight int
	recoveryExitAfter string

	leaderElectLeaseDuration time.Duration
	leaderElectRenewDeadline time.Duration
	leaderElectRetryPeriod   time.Duration
	shutdownDelay            time.Duration

	limits limitFlags
}

func newWebhookCommand() *cobra.Command {
	var o webhookFlags
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Serve admission for StatefulSets and PersistentVolumeClaims, and keep their disruption budgets",
		Long: `Webhook runs the admission server (HTTPS: /mutate and /validate) and, on the elected leader, the
controllers that keep PlacementPolicy status and one PodDisruptionBudget per replicated StatefulSet.

It reads policies from the PlacementPolicy CRD; with none, it admits everything unchanged.
Health: /healthz and /readyz (ready once the caches have synced). Metrics: /metrics.`,
		Example: `  # Against a local API server, with a throwaway CA (prints the caBundle):
  stowage webhook --kubeconfig ~/.kube/config --self-signed --host 127.0.0.1 --leader-elect=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runWebhook(cmd.Context(), cmd, &o) },
	}
	f := cmd.Flags()
	o.kube.add(f)
	f.StringVar(&o.host, "host", "", "address the admission server binds to (default: all)")
	f.IntVar(&o.port, "port", 9443, "port of the admission server")
	f.StringVar(&o.certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory with tls.crt and tls.key, reloaded when they change")
	f.BoolVar(&o.selfSigned, "self-signed", false, "write a new CA and serving certificate into --cert-dir and print the caBundle")
	f.StringSliceVar(&o.selfSignedHosts, "self-signed-hosts", []string{"127.0.0.1", "localhost"}, "host names and IPs of the self-signed serving certificate")
	f.StringVar(&o.caBundleOut, "ca-bundle-out", "", "with --self-signed, also write the base64 caBundle to this file")
	f.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", `address of the metrics endpoint ("0" disables it)`)
	f.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	f.StringVar(&o.pprofAddr, "pprof-bind-address", "", "address of Go's /debug/pprof endpoints and /debug/runtime-metrics (off when empty; never expose it)")
	f.BoolVar(&o.leaderElect, "leader-elect", true, "elect a leader to run the controllers, so replicas never fight over budgets")
	f.DurationVar(&o.leaderElectLeaseDuration, "leader-elect-lease-duration", 15*time.Second, "how long a lease lasts without renewal before another replica may take it")
	f.DurationVar(&o.leaderElectRenewDeadline, "leader-elect-renew-deadline", 10*time.Second, "how long the leader retries renewing before it stops the controllers (admission keeps serving)")
	f.DurationVar(&o.leaderElectRetryPeriod, "leader-elect-retry-period", 2*time.Second, "how often replicas try to acquire or renew the lease")
	f.DurationVar(&o.shutdownDelay, "shutdown-delay", 3*time.Second, "on SIGTERM, how long the admission server keeps answering (closing each connection, /readyz failing) before it stops")
	f.StringVar(&o.namespace, "namespace", envOr("POD_NAMESPACE", "stowage-system"), "namespace of the leader-election lease")
	f.Int64Var(&o.maxBodyBytes, "max-body-bytes", webhook.MaxBodyBytes, "largest AdmissionReview accepted")
	f.IntVar(&o.logLevel, "v", 0, "log verbosity: 1 logs denials, 4 mutations")
	f.StringVar(&o.logFormat, "log-format", "json", "log format: json or console")
	f.DurationVar(&o.auditInterval, "audit-interval", 0, "run the audit this often and export its gauges (0 disables)")
	f.StringVar(&o.webhookConfig, "webhook-configuration", "stowage", "ValidatingWebhookConfiguration whose namespaceSelector limits the budget controller to the namespaces the webhooks see (\"\" for all)")
	f.BoolVar(&o.auditPolicyReports, "audit-policy-reports", false, "with --audit-interval, also publish the audit's PolicyReports (the CRD must exist)")
	f.DurationVar(&o.notReadyThreshold, "not-ready-threshold", 5*time.Minute, "how long a node may be NotReady before the audit counts its volumes as stranded")
	f.BoolVar(&o.recovery, "recovery", false, "run the recovery controller on the leader: it rebuilds replicas stranded on gone nodes as the selecting policy's spec.recovery says (needs the chart's recovery.enabled RBAC)")
	f.IntVar(&o.recoveryMaxFlight, "recovery-max-in-flight", policy.DefaultMaxRecoveries, "cluster-wide cap on StatefulSets with a recovery in flight")
	// For the failure tests only: a crash of the process at a recovery step boundary.
	f.StringVar(&o.recoveryExitAfter, "recovery-exit-after", "", "test only: exit (status 3, lease not released) right after the recovery controller takes this step: "+strings.Join(exitSteps, ", "))
	_ = f.MarkHidden("recovery-exit-after")
	o.limits.add(f)
	return cmd
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// alwaysRunnable runs on every replica, not only the leader.
type alwaysRunnable func(context.Context) error

func (f alwaysRunnable) Start(ctx context.Context) error { return f(ctx) }
func (alwaysRunnable) NeedLeaderElection() bool          { return false }

// runWebhook serves admission on every replica and runs the controllers on the leader until ctx
// ends: the flags and the logger first, then the connection and the serving certificate, then
// the admission manager and, beside it, the controllers' manager.
func runWebhook(ctx context.Context, cmd *cobra.Command, o *webhookFlags) error {
	log, err := o.setup(cmd)
	if err != nil {
		return err
	}
	cfg, err := o.kube.config()
	if err != nil {
		return err
	}
	// No gzip between the API server and its own webhook's informers, as kube-controller-manager
	// and kube-scheduler configure their clients: the API server compresses a watch at every
	// flush (WatchListCompression, on by default since 1.37), which cost it about 2% of its CPU
	// in make bench-admission, and Stowage the decompression, to save bandwidth inside the cluster.
	cfg.DisableCompression = true
	watcher, err := o.servingCertificate(cmd)
	if err != nil {
		return err
	}
	scheme, err := newScheme()
	if err != nil {
		return err
	}

	admCtx, draining, stopAdmission := drainOnShutdown(ctx, o.shutdownDelay, log)
	defer stopAdmission()
	mgr, cluster, err := newAdmissionManager(ctx, cfg, scheme, watcher, o, log, draining)
	if err != nil {
		return err
	}
	ctrlCtx, stopControllers := context.WithCancel(ctx)
	defer stopControllers()
	ctrlDone := startControllers(ctrlCtx, cfg, scheme, mgr, cluster, o, log, stopAdmission)

	log.Info("starting", "version", version, "port", o.port, "leaderElection", o.leaderElect, "selfSigned", o.selfSigned,
		"hosts", strings.Join(o.selfSignedHosts, ","))
	err = mgr.Start(admCtx)
	stopControllers()
	if ctrlErr := <-ctrlDone; err == nil {
		err = ctrlErr
	}
	return err
}

// setup checks the flags that need no cluster, and installs the logger and the memory limit.
func (o *webhookFlags) setup(cmd *cobra.Command) (logr.Logger, error) {
	if o.logFormat != "json" && o.logFormat != "console" {
		return logr.Discard(), usageError(cmd, "--log-format must be json or console")
	}
	if o.recovery && o.recoveryMaxFlight < 1 {
		return logr.Discard(), usageError(cmd, "--recovery-max-in-flight must be at least 1")
	}
	if o.recoveryExitAfter != "" && !slices.Contains(exitSteps, o.recoveryExitAfter) {
		return logr.Discard(), usageError(cmd, fmt.Sprintf("--recovery-exit-after must be one of %s", strings.Join(exitSteps, ", ")))
	}
	log := newLogger(o)
	ctrl.SetLogger(log)
	if err := o.limits.applyMemoryLimit(log); err != nil {
		return log, usageError(cmd, err.Error())
	}
	return log, nil
}

// servingCertificate loads tls.crt and tls.key from --cert-dir and reloads them when they
// change; with --self-signed it writes a new pair there first.
func (o *webhookFlags) servingCertificate(cmd *cobra.Command) (*certwatcher.CertWatcher, error) {
	if o.selfSigned {
		if err := writeSelfSigned(cmd, o); err != nil {
			return nil, err
		}
	}
	watcher, err := certwatcher.New(filepath.Join(o.certDir, "tls.crt"), filepath.Join(o.certDir, "tls.key"))
	if err != nil {
		return nil, fmt.Errorf("loading the serving certificate from %s (use --self-signed for a local run): %w", o.certDir, err)
	}
	return watcher, nil
}

// drainOnShutdown returns the admission server's context. When ctx ends (SIGTERM) the server
// drains: draining is set, so /readyz fails and every answer closes its connection so that the
// API server dials a ready replica for the next one, and only after delay does the admission
// context end. The controllers stop at once and hand the lease over. stop ends it at once.
func drainOnShutdown(ctx context.Context, delay time.Duration, log logr.Logger) (admCtx context.Context, draining *atomic.Bool, stop context.CancelFunc) {
	draining = new(atomic.Bool)
	admCtx, stop = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
		case <-admCtx.Done():
			return
		}
		draining.Store(true)
		log.Info("shutting down: draining admission", "delay", delay.String())
		select {
		case <-time.After(delay):
		case <-admCtx.Done():
		}
		stop()
	}()
	return admCtx, draining, stop
}

// startControllers runs the controllers until ctx ends, in a manager of their own that reads
// the admission manager's cache. Losing the leader lease stops that manager only;
// controllers.Run builds a new one. If Run fails, stopAdmission takes the admission server
// down too. The channel gives Run's error once it has returned.
func startControllers(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, adm manager.Manager, cluster *webhook.CacheCluster,
	o *webhookFlags, log logr.Logger, stopAdmission func()) <-chan error {
	var auditMetrics *controllers.AuditMetrics
	if o.auditInterval > 0 {
		auditMetrics = controllers.NewAuditMetrics(ctrlmetrics.Registry)
	}
	var recoveryMetrics *recovery.Metrics
	if o.recovery {
		recoveryMetrics = recovery.NewMetrics(ctrlmetrics.Registry) // once: managers are rebuilt on a lost lease
	}
	// One scope for every manager built: the last webhook configuration seen outlives a lost lease.
	scope := &controllers.NamespaceScope{Reader: adm.GetCache(), ConfigName: o.webhookConfig}
	newControllers := func() (manager.Manager, error) {
		return newControllersManager(cfg, scheme, adm.GetCache(), cluster, scope, o, log, auditMetrics, recoveryMetrics)
	}
	done := make(chan error, 1)
	go func() {
		err := controllers.Run(ctx, newControllers, o.leaderElectRetryPeriod, log.WithName("controllers"))
		if err != nil {
			stopAdmission()
		}
		done <- err
	}()
	return done
}

func newLogger(o *webhookFlags) logr.Logger {
	return zap.New(zap.UseDevMode(false), zap.Level(zapcore.Level(-o.logLevel)), func(zo *zap.Options) {
		if o.logFormat == "console" {
			zo.Encoder = zapcore.NewConsoleEncoder(zapcore.EncoderConfig{TimeKey: "ts", LevelKey: "level", NameKey: "logger",
				MessageKey: "msg", EncodeTime: zapcore.ISO8601TimeEncoder, EncodeLevel: zapcore.LowercaseLevelEncoder, EncodeDuration: zapcore.StringDurationEncoder})
		}
	})
}

// writeSelfSigned writes a new CA and serving certificate into --cert-dir and prints the caBundle.
func writeSelfSigned(cmd *cobra.Command, o *webhookFlags) error {
	ss, err := webhook.NewSelfSigned(o.selfSignedHosts, 365*24*time.Hour, time.Now())
	if err != nil {
		return err
	}
	if err := ss.Write(o.certDir); err != nil {
		return err
	}
	bundle := base64.StdEncoding.EncodeToString(ss.CAPEM)
	fmt.Fprintf(cmd.OutOrStdout(), "caBundle: %s\n", bundle)
	if o.caBundleOut != "" {
		if err := os.WriteFile(o.caBundleOut, []byte(bundle), 0o644); err != nil {
			return fmt.Errorf("writing --ca-bundle-out: %w", err)
		}
	}
	return nil
}

// newAdmissionManager builds the manager of the admission server: no leader election, so every
// replica serves; it owns the informer cache, the metrics and the health probes.
func newAdmissionManager(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, watcher *certwatcher.CertWatcher, o *webhookFlags,
	log logr.Logger, draining *atomic.Bool) (manager.Manager, *webhook.CacheCluster, error) {
	metrics := webhook.NewMetrics(ctrlmetrics.Registry)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                o.limits.metricsOptions(o),
		HealthProbeBindAddress: o.probeAddr,
		Cache:                  cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
		WebhookServer: webhook.NewServer(o.limits.serverOptions(o, func(c *tls.Config) {
			c.MinVersion = tls.VersionTLS12
			c.NextProtos = []string{"http/1.1"} // no HTTP/2: CVE-2023-44487 and CVE-2023-39325
			c.GetCertificate = watcher.GetCertificate
		}, log.WithName("server"), metrics)),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("creating the manager: %w", err)
	}
	if err := mgr.Add(alwaysRunnable(watcher.Start)); err != nil {
		return nil, nil, err
	}
	// Not controller-runtime's PprofBindAddress: debugServer serves the runtime metrics beside pprof.
	if dbg, err := debugServer(o.pprofAddr); err != nil {
		return nil, nil, err
	} else if dbg != nil {
		if err := mgr.Add(dbg); err != nil {
			return nil, nil, err
		}
	}

	cluster := &webhook.CacheCluster{Reader: mgr.GetCache()}
	if err := cluster.Index(ctx, mgr.GetFieldIndexer()); err != nil {
		return nil, nil, fmt.Errorf("indexing the cache: %w", err)
	}
	webhook.RegisterCertificateExpiry(ctrlmetrics.Registry, func() (*tls.Certificate, error) { return watcher.GetCertificate(nil) }, time.Now)
	admitter := &webhook.Admitter{Cluster: cluster}
	srv := mgr.GetWebhookServer()
	srv.Register("/mutate", drainAware(draining, &webhook.Handler{Mode: webhook.Mutating, Admitter: admitter, MaxBodyBytes: o.maxBodyBytes, Log: log.WithName("mutate"), Metrics: metrics}))
	srv.Register("/validate", drainAware(draining, &webhook.Handler{Mode: webhook.Validating, Admitter: admitter, MaxBodyBytes: o.maxBodyBytes, Log: log.WithName("validate"), Metrics: metrics}))

	// Start the informers the request path and the controllers read before reporting ready,
	// so the first request is never judged against an empty cache.
	for _, obj := range []client.Object{&corev1.Node{}, &corev1.Namespace{}, &policyv1.PodDisruptionBudget{},
		&storagev1.StorageClass{}, &appsv1.StatefulSet{}, &v1alpha1.PlacementPolicy{}, &admissionregistrationv1.ValidatingWebhookConfiguration{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return nil, nil, fmt.Errorf("starting the informer for %T (is the PlacementPolicy CRD installed?): %w", obj, err)
		}
	}
	policiesSynced, err := webhook.WatchPolicies(ctx, mgr.GetCache(), cluster, log.WithName("policies"))
	if err != nil {
		return nil, nil, err
	}
	var synced atomic.Bool
	if err := mgr.Add(alwaysRunnable(func(ctx context.Context) error {
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("the caches never synced")
		}
		// The policy set is built by an event handler; wait until it has seen every policy.
		if wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) { return policiesSynced(), nil }) != nil {
			return nil // ctx ended
		}
		synced.Store(true)
		log.Info("caches synced; ready")
		<-ctx.Done()
		return nil
	})); err != nil {
		return nil, nil, err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, nil, err
	}
	if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
		return nil, nil, err
	}
	if err := mgr.AddReadyzCheck("caches", func(*http.Request) error {
		if !synced.Load() {
			return errors.New("caches not synced yet")
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := mgr.AddReadyzCheck("shutdown", func(*http.Request) error {
		if draining.Load() {
			return errors.New("shutting down")
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	return mgr, cluster, nil
}

// drainAware closes each connection after its answer once the server is draining, so that the
// API server's next request dials a replica that stays.
func drainAware(draining *atomic.Bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// newControllersManager builds a manager for the controllers, which run on the elected leader.
// It serves no metrics or probes of its own (its metrics land in the shared registry the
// admission manager serves) and reads the admission manager's cache.
func newControllersManager(cfg *rest.Config, scheme *runtime.Scheme, shared cache.Cache, cluster *webhook.CacheCluster, scope *controllers.NamespaceScope, o *webhookFlags,
	log logr.Logger, auditMetrics *controllers.AuditMetrics, recoveryMetrics *recovery.Metrics) (manager.Manager, error) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Logger:                  log.WithName("controllers"),
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "stowage.stowage.dev",
		LeaderElectionNamespace: o.namespace,
		LeaseDuration:           &o.leaderElectLeaseDuration,
		RenewDeadline:           &o.leaderElectRenewDeadline,
		RetryPeriod:             &o.leaderElectRetryPeriod,
		// Hand the lease over on a clean shutdown, so a rollout does not leave budgets
		// unattended for a whole lease duration.
		LeaderElectionReleaseOnCancel: true,
		NewCache: func(*rest.Config, cache.Options) (cache.Cache, error) {
			return controllers.NewSharedCache(shared), nil
		},
		// A manager rebuilt after a lost lease registers the same controller names again.
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the controllers' manager: %w", err)
	}
	if err := mgr.Add(controllers.Leading{Log: log.WithName("controllers")}); err != nil {
		return nil, err
	}
	if err := (&controllers.PolicyStatusReconciler{Client: mgr.GetClient(), Cluster: cluster}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	budgets := &controllers.BudgetReconciler{Client: mgr.GetClient(), Cluster: cluster, Scope: scope}
	if err := budgets.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if o.recovery {
		if err := (&recovery.Reconciler{
			Client:      mgr.GetClient(),
			APIReader:   mgr.GetAPIReader(),
			Policy:      budgets.PolicyFor, // the same policy the budget controller applies
			Recorder:    mgr.GetEventRecorder("stowage-recovery"),
			Metrics:     recoveryMetrics,
			MaxInFlight: o.recoveryMaxFlight,
			AfterStep:   exitAfter(o.recoveryExitAfter, log),
		}).SetupWithManager(mgr); err != nil {
			return nil, err
		}
	}
	if err := addAuditLoop(mgr, o, log, auditMetrics); err != nil {
		return nil, err
	}
	return mgr, nil
}

// exitSteps are the recovery steps --recovery-exit-after accepts: each one changes the cluster.
var exitSteps = []string{string(policy.RecoveryBegin), string(policy.RecoveryRetainVolume), string(policy.RecoveryDeleteClaim),
	string(policy.RecoveryDeletePod), string(policy.RecoveryFinish)}

// exitAfter returns the recovery controller's AfterStep hook for --recovery-exit-after: the
// process ends right after that step, as abruptly as a crash (no lease release, no drain), so
// the failure tests can restart Stowage at every step boundary. Nil without the flag.
func exitAfter(step string, log logr.Logger) func(policy.RecoveryAction) {
	if step == "" {
		return nil
	}
	return func(a policy.RecoveryAction) {
		if string(a) == step {
			log.Info("exiting after the recovery step, as --recovery-exit-after asks", "step", step)
			os.Exit(3)
		}
	}
}

// addAuditLoop runs the audit on the leader every --audit-interval and exports its gauges.
func addAuditLoop(mgr manager.Manager, o *webhookFlags, log logr.Logger, m *controllers.AuditMetrics) error {
	if o.auditInterval <= 0 {
		return nil
	}
	cs, dyn, err := auditClients(mgr.GetConfig())
	if err != nil {
		return err
	}
	return mgr.Add(&controllers.AuditLoop{
		Interval: o.auditInterval, NotReadyThreshold: o.notReadyThreshold,
		Clientset: cs, Dynamic: dyn, PolicyReports: o.auditPolicyReports,
		Log: log.WithName("audit"), Metrics: m,
	})
}
