//go:build !checkonly

package main

import (
	"crypto/tls"
	"fmt"
	"math"
	"os"
	"runtime/debug"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/stowage-dev/stowage/webhook"
)

// limitFlags are the flags that keep the webhook within its resources and its metrics private.
type limitFlags struct {
	maxInFlight      int
	maxLargeInFlight int
	memoryLimit      string
	memoryLimitRatio float64
	gcPercent        int
	metricsSecure    bool
}

func (l *limitFlags) add(f *pflag.FlagSet) {
	f.IntVar(&l.maxInFlight, "max-in-flight", webhook.DefaultMaxInFlight,
		"admission reviews of up to 256 KiB decided at once; more wait for their turn up to two thirds of the API server's timeout, then get 429")
	f.IntVar(&l.maxLargeInFlight, "max-large-in-flight", webhook.DefaultMaxLargeInFlight,
		"admission reviews over 256 KiB (or of unknown length) read and decided at once, apart from the small ones")
	f.StringVar(&l.memoryLimit, "memory-limit", "",
		"the container's memory limit (a quantity such as 512Mi, or bytes); sets the Go runtime's soft limit to --memory-limit-ratio of it, unless $GOMEMLIMIT is set, and its GC target to --gc-percent")
	f.Float64Var(&l.memoryLimitRatio, "memory-limit-ratio", 0.75,
		"share of --memory-limit the Go heap aims to stay under; the rest is headroom for stacks, buffers and the runtime")
	f.IntVar(&l.gcPercent, "gc-percent", gcPercentUnderLimit,
		"under a memory limit, the Go GC target (GOGC): the heap grows by this share of what is live before a collection, at most up to the soft limit; 100 is Go's default, and $GOGC wins")
	f.BoolVar(&l.metricsSecure, "metrics-secure", true,
		"serve /metrics over HTTPS (the --cert-dir certificate) to callers the API server authenticates and authorizes for GET /metrics (TokenReview, SubjectAccessReview)")
}

// applyMemoryLimit sets the Go runtime's soft memory limit below the container's limit, so that
// the garbage collector works harder before the kernel's OOM killer steps in. GOMEMLIMIT set to
// the whole limit leaves no room for what the runtime does not count as heap.
//
// Under a limit it also collects less often (--gc-percent, 200 by default), the pairing the Go
// runtime's GC guide recommends: the webhook's live heap is a few MiB, so at Go's default
// GOGC=100 it collected every few hundred reviews at 1,000 a second, each collection a
// stop-the-world pause that a starved machine can stretch into the tail; the soft limit still
// caps the heap where the default would have. 400 collected less again, but a burst of reviews
// held in flight then set a heap goal five times its size (111 MiB, RSS 195 MiB, in one
// TestWebhookLoad run on a starved machine).
func (l *limitFlags) applyMemoryLimit(log logr.Logger) error {
	if l.memoryLimit == "" {
		return nil
	}
	if l.gcPercent <= 0 {
		return fmt.Errorf("--gc-percent %d: must be above 0", l.gcPercent)
	}
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		log.Info("GOMEMLIMIT is set; --memory-limit ignored", "GOMEMLIMIT", v)
		l.collectLessOften(log)
		return nil
	}
	q, err := resource.ParseQuantity(l.memoryLimit)
	if err != nil {
		return fmt.Errorf("--memory-limit %q: %w", l.memoryLimit, err)
	}
	if l.memoryLimitRatio <= 0 || l.memoryLimitRatio > 1 {
		return fmt.Errorf("--memory-limit-ratio %v: must be above 0 and at most 1", l.memoryLimitRatio)
	}
	limit := q.Value()
	if limit <= 0 || limit == math.MaxInt64 {
		return nil
	}
	soft := int64(float64(limit) * l.memoryLimitRatio)
	debug.SetMemoryLimit(soft)
	log.Info("Go memory limit set", "containerLimitBytes", limit, "goMemLimitBytes", soft)
	l.collectLessOften(log)
	return nil
}

// gcPercentUnderLimit is --gc-percent's default: GOGC once a memory limit bounds the heap.
const gcPercentUnderLimit = 200

// collectLessOften sets GOGC to --gc-percent unless $GOGC chose it, or the runtime has no limit
// after all (GOMEMLIMIT=off).
func (l *limitFlags) collectLessOften(log logr.Logger) {
	if os.Getenv("GOGC") != "" || debug.SetMemoryLimit(-1) == math.MaxInt64 {
		return
	}
	debug.SetGCPercent(l.gcPercent)
	log.Info("Go garbage collection target set", "GOGC", l.gcPercent)
}

// serverOptions are the admission server's options.
func (l *limitFlags) serverOptions(o *webhookFlags, tlsOpt func(*tls.Config), log logr.Logger, m *webhook.Metrics) webhook.ServerOptions {
	return webhook.ServerOptions{
		Host: o.host, Port: o.port, TLSOpts: []func(*tls.Config){tlsOpt},
		MaxInFlight: l.maxInFlight, MaxLargeInFlight: l.maxLargeInFlight, MaxBodyBytes: o.maxBodyBytes,
		Log: log, Metrics: m,
	}
}

// metricsOptions serves /metrics, by default as controller-runtime's secure metrics do: over
// HTTPS, to callers the API server authenticates and authorizes (GET on the /metrics
// non-resource URL). The audit's gauges describe every namespace; they are not for every pod.
func (l *limitFlags) metricsOptions(o *webhookFlags) metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.metricsAddr}
	if l.metricsSecure {
		m.SecureServing = true
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
		m.CertDir, m.CertName, m.KeyName = o.certDir, "tls.crt", "tls.key"
	}
	return m
}
