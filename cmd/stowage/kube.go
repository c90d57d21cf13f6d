//go:build !checkonly

package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
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
