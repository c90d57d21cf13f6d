//go:build !checkonly

package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/stowage-dev/stowage/audit"
	"github.com/stowage-dev/stowage/audit/collect"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// kubeFlags connect to a cluster the way kubectl does: --kubeconfig, then $KUBECONFIG, then
// ~/.kube/config, then the in-cluster service account.
type kubeFlags struct {
	kubeconfig, context string
}

func (k *kubeFlags) add(f *pflag.FlagSet) {
	f.StringVar(&k.kubeconfig, "kubeconfig", "", "path to a kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the in-cluster config)")
	f.StringVar(&k.context, "context", "", "kubeconfig context to use (default: the current context)")
}

func (k *kubeFlags) config() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.context})
	cfg, err := cc.ClientConfig()
	if err == nil {
		return withRateLimits(cfg), nil
	}
	if k.kubeconfig == "" && k.context == "" && clientcmd.IsEmptyConfig(err) {
		if in, inErr := rest.InClusterConfig(); inErr == nil {
			return withRateLimits(in), nil
		}
	}
	return nil, fmt.Errorf("connecting to the cluster: %w", err)
}

// scopeFlags choose the StatefulSets to list, as kubectl does: the connection flags, -n, -A
// and -l. audit and recover --plan share them.
type scopeFlags struct {
	kube          kubeFlags
	namespace     string
	allNamespaces bool
	selector      string
}

// add registers the flags; only qualifies the help of -n, -A and -l ("with --plan, ").
func (s *scopeFlags) add(f *pflag.FlagSet, only string) {
	s.kube.add(f)
	f.StringVarP(&s.namespace, "namespace", "n", "", only+"one namespace (default: all)")
	f.BoolVarP(&s.allNamespaces, "all-namespaces", "A", false, only+"every namespace (the default when -n is not given)")
	f.StringVarP(&s.selector, "selector", "l", "", only+"label selector for the StatefulSets")
}

// validate refuses -n with -A.
func (s *scopeFlags) validate(cmd *cobra.Command) error {
	if s.allNamespaces && s.namespace != "" {
		return usageError(cmd, "-n and -A exclude each other")
	}
	return nil
}

// collect connects and lists what the flags select. The dynamic client is returned for writing
// back (PolicyReports).
func (s *scopeFlags) collect(ctx context.Context) (*audit.Snapshot, dynamic.Interface, error) {
	cfg, err := s.kube.config()
	if err != nil {
		return nil, nil, err
	}
	cs, dyn, err := auditClients(cfg)
	if err != nil {
		return nil, nil, err
	}
	snap, err := collect.Collect(ctx, cs, dyn, s.namespace, s.selector)
	if err != nil {
		return nil, nil, err
	}
	return snap, dyn, nil
}

// newScheme knows the built-in kinds and PlacementPolicies.
func newScheme() (*runtime.Scheme, error) {
	scheme, add := runtime.NewScheme(), runtime.NewSchemeBuilder(clientgoscheme.AddToScheme, v1alpha1.AddToScheme)
	return scheme, add.AddToScheme(scheme)
}

// withRateLimits raises client-go's default client-side limit (5 requests a second, bursts of
// 10), where the config sets none, to the audit clients' 50 a second in bursts of 100. At 5 a
// second the budget controller wrote 5 budgets a second: 500 StatefulSets created at once
// waited 100 s for theirs.
func withRateLimits(cfg *rest.Config) *rest.Config {
	if cfg.QPS == 0 {
		cfg.QPS = 50
	}
	if cfg.Burst == 0 {
		cfg.Burst = 100
	}
	return cfg
}

// auditClients are the clients the audit lists with: a typed clientset that speaks protobuf
// (a third of JSON's bytes for built-in kinds, and far cheaper to decode on both sides) and a
// dynamic client for PlacementPolicies and PolicyReports (CRDs speak JSON only). Listing the
// pages of a big cluster quickly needs more than client-go's default 5 QPS.
func auditClients(cfg *rest.Config) (kubernetes.Interface, dynamic.Interface, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 50, 100
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return cs, dyn, nil
}
