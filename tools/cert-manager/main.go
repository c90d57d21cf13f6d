// Command cert-manager runs, in one process, the parts of cert-manager that issue the Stowage
// chart's serving certificate and inject its CA, for the e2e suite (e2e/certmanager_test.go).
//
// cert-manager's own commands (github.com/cert-manager/cert-manager/cmd/controller and
// cmd/cainjector) are separate modules that the module proxy does not serve, so this wires the
// library the way they do: the controllers registered in pkg/controller's registry, run on one
// ContextFactory with shared informers (cmd/controller's app.Run), and the cainjector
// reconcilers on a controller-runtime manager (cmd/cainjector's app.Run). It serves nothing: no
// metrics, health or profiling endpoints, no leader election.
package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	crapprover "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"

	// The Issuer types the issuers controller can set up: the chart's default chain is a
	// self-signed Issuer that signs a CA Certificate, and a CA Issuer that signs with it.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// defaultControllers are what a namespaced self-signed → CA → serving certificate chain needs:
// the Certificate lifecycle (trigger, key, request, issuing, readiness, old-request cleanup),
// Issuer readiness, the approval every CertificateRequest waits for, and the two signers.
var defaultControllers = []string{
	trigger.ControllerName,
	keymanager.ControllerName,
	requestmanager.ControllerName,
	issuing.ControllerName,
	readiness.ControllerName,
	revisionmanager.ControllerName,
	issuers.ControllerName,
	crapprover.ControllerName,
	crselfsigned.CRControllerName,
	crca.CRControllerName,
}

func main() {
	// A FlagSet of its own: controller-runtime registers --kubeconfig on flag.CommandLine.
	fs := flag.NewFlagSet("cert-manager", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the cluster (required)")
	controllers := fs.String("controllers", strings.Join(defaultControllers, ","), "cert-manager controllers to run, by name")
	workers := fs.Int("workers", 5, "workers per controller")
	klog.InitFlags(fs) // -v and friends, as in cert-manager's commands
	_ = fs.Parse(os.Args[1:])
	if *kubeconfig == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: cert-manager --kubeconfig FILE [--controllers a,b] [--v N]")
		os.Exit(2)
	}
	logf.InitLogs()
	ctrl.SetLogger(klog.Background())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log)
	if err := run(ctx, *kubeconfig, strings.Split(*controllers, ","), *workers); err != nil {
		klog.ErrorS(err, "cert-manager exited")
		klog.Flush()
		os.Exit(1)
	}
}

// run starts the controllers and the cainjector and returns when ctx ends or one of them fails.
func run(ctx context.Context, kubeconfig string, names []string, workers int) error {
	known := controller.Known()
	for _, n := range names {
		if _, ok := known[n]; !ok {
			return fmt.Errorf("controller %q is not built in (have %v)", n, slices.Sorted(maps.Keys(known)))
		}
	}
	g, ctx := errgroup.WithContext(ctx)

	factory, err := controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig: kubeconfig,
		CertificateOptions: controller.CertificateOptions{
			// cert-manager's defaults (internal/apis/config/controller/v1alpha1/defaults.go).
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
	})
	if err != nil {
		return err
	}
	base, err := factory.Build()
	if err != nil {
		return err
	}
	for _, n := range names {
		iface, err := known[n](factory)
		if err != nil {
			return fmt.Errorf("building controller %s: %w", n, err)
		}
		g.Go(func() error { return iface.Run(workers, ctx) })
	}
	// The controllers registered their informers above; start them all now.
	base.SharedInformerFactory.Start(ctx.Done())
	base.KubeSharedInformerFactory.Start(ctx.Done())

	mgr, err := newInjector(ctx, kubeconfig)
	if err != nil {
		return err
	}
	g.Go(func() error { return mgr.Start(ctx) })
	klog.InfoS("cert-manager running", "controllers", names, "injectables", "mutatingwebhookconfigurations,validatingwebhookconfigurations")
	err = g.Wait()
	base.SharedInformerFactory.Shutdown()
	base.KubeSharedInformerFactory.Shutdown()
	return err
}

// newInjector is cmd/cainjector's manager, limited to webhook configurations.
func newInjector(ctx context.Context, kubeconfig string) (ctrl.Manager, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(kscheme.AddToScheme(scheme))
	utilruntime.Must(cmscheme.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(util.RestConfigWithUserAgent(cfg, "cainjector"), ctrl.Options{
		Scheme: scheme,
		Cache:  cache.Options{ReaderFailOnMissingInformer: true},
		// As in cainjector: Secrets are read from the API server, never cached whole (their
		// watches are metadata-only).
		Client:                 client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		LeaderElection:         false,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the cainjector manager: %w", err)
	}
	enabled := map[string]bool{
		cainjector.MutatingWebhookConfigurationName:   true,
		cainjector.ValidatingWebhookConfigurationName: true,
	}
	if err := cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{EnableCertificatesDataSource: true, EnabledReconcilersFor: enabled}); err != nil {
		return nil, fmt.Errorf("registering the injectors: %w", err)
	}
	return mgr, nil
}
