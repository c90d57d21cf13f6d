package controllers

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/stowage-dev/stowage/audit"
	"github.com/stowage-dev/stowage/audit/collect"
	"github.com/stowage-dev/stowage/audit/publish"
)

// AuditLoop runs the audit every Interval on the leader and exports its results as gauges,
// labelled by namespace and StatefulSet, so an operator can alert on them (the chart ships an
// example PrometheusRule). With PolicyReports set it also publishes the audit's PolicyReports.
type AuditLoop struct {
	Interval          time.Duration
	NotReadyThreshold time.Duration
	Clientset         kubernetes.Interface
	Dynamic           dynamic.Interface
	PolicyReports     bool
	Log               logr.Logger
	Metrics           *AuditMetrics
}

// AuditMetrics are the audit's gauges.
type AuditMetrics struct {
	colocated, stranded, withoutPDB, losesQuorum *prometheus.GaugeVec
	lastRun, duration                            prometheus.Gauge
	failures                                     prometheus.Counter
}

// NewAuditMetrics creates the audit's gauges and registers them on reg.
func NewAuditMetrics(reg prometheus.Registerer) *AuditMetrics {
	labels := []string{"namespace", "statefulset"}
	m := &AuditMetrics{
		colocated: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stowage_colocated_replicas",
			Help: "Replicas of the StatefulSet that share a node with another of its replicas."}, labels),
		stranded: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stowage_stranded_replicas",
			Help: "Replicas of the StatefulSet whose local volume is pinned to a node that is gone, down past the threshold, or cordoned."}, labels),
		withoutPDB: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stowage_statefulsets_without_pdb",
			Help: "1 when a StatefulSet with two or more replicas has no PodDisruptionBudget."}, labels),
		losesQuorum: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stowage_statefulsets_losing_quorum_on_node_failure",
			Help: "1 when the failure of one node would leave a StatefulSet with two or more replicas below a majority."}, labels),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: "stowage_audit_last_run_timestamp_seconds",
			Help: "When the last successful audit finished, in Unix seconds."}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "stowage_audit_duration_seconds",
			Help: "How long the last successful audit took."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "stowage_audit_failures_total",
			Help: "Audits that could not list the cluster."}),
	}
	reg.MustRegister(m.colocated, m.stranded, m.withoutPDB, m.losesQuorum, m.lastRun, m.duration, m.failures)
	return m
}

// Set replaces every gauge with a report's numbers, dropping series of StatefulSets that are gone.
func (m *AuditMetrics) Set(r *audit.Report, took time.Duration, now time.Time) {
	for _, v := range []*prometheus.GaugeVec{m.colocated, m.stranded, m.withoutPDB, m.losesQuorum} {
		v.Reset()
	}
	for _, g := range r.Gauges() {
		m.colocated.WithLabelValues(g.Namespace, g.StatefulSet).Set(float64(g.ColocatedReplicas))
		m.stranded.WithLabelValues(g.Namespace, g.StatefulSet).Set(float64(g.StrandedReplicas))
		if g.Replicas >= 2 {
			// A single replica has no quorum to lose and needs no budget; exporting it would
			// make the alerts fire for every singleton.
			m.withoutPDB.WithLabelValues(g.Namespace, g.StatefulSet).Set(float64(g.WithoutPDB))
			m.losesQuorum.WithLabelValues(g.Namespace, g.StatefulSet).Set(float64(g.LosesQuorumOnNodeFailure))
		}
	}
	m.lastRun.Set(float64(now.Unix()))
	m.duration.Set(took.Seconds())
}

// Start runs the loop until ctx ends: once at once, then Interval after the start of each run
// (a run longer than Interval is followed at once by the next).
func (a *AuditLoop) Start(ctx context.Context) error {
	wait.NonSlidingUntilWithContext(ctx, a.runOnce, a.Interval)
	return nil
}

// NeedLeaderElection keeps the audit on the leader: one set of gauges, one writer of reports.
func (a *AuditLoop) NeedLeaderElection() bool { return true }

func (a *AuditLoop) runOnce(ctx context.Context) {
	start := time.Now()
	snap, err := collect.Collect(ctx, a.Clientset, a.Dynamic, "", "")
	if err != nil {
		a.Metrics.failures.Inc()
		a.Log.Error(err, "audit: listing the cluster")
		return
	}
	set, errs := audit.PolicySet(snap.PlacementPolicies)
	for _, e := range errs {
		a.Log.Info("audit: policy left out", "error", e.Error())
	}
	report := audit.Analyze(snap, set, audit.Options{Now: time.Now().UTC(), NotReadyThreshold: a.NotReadyThreshold})
	took := time.Since(start)
	a.Metrics.Set(report, took, time.Now())
	s := report.Summary
	a.Log.Info("audit done", "statefulSets", s.StatefulSets, "errors", s.Findings.Error, "warnings", s.Findings.Warning, "took", took.String())
	if a.PolicyReports {
		res, err := publish.PolicyReports(ctx, a.Dynamic, report.PolicyReports(), publish.Options{})
		if err != nil {
			a.Log.Error(err, "audit: publishing PolicyReports")
			return
		}
		a.Log.V(1).Info("PolicyReports published", "created", len(res.Created), "updated", len(res.Updated), "deleted", len(res.Deleted), "skipped", len(res.Skipped))
	}
}
