package webhook

import (
	"crypto/tls"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// Metrics are the admission metrics. Register them on controller-runtime's registry so that
// /metrics also serves its defaults (workqueues, REST client, leader election).
type Metrics struct {
	decisions *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	inFlight  prometheus.Gauge
	rejected  *prometheus.CounterVec
}

// NewMetrics creates the admission metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stowage_admission_decisions_total",
			Help: "Admission decisions by endpoint, policy, rule and action (allow, mutate, deny, warn, audit, exempt, error). " +
				"A request with several violations counts once per violation.",
		}, []string{"endpoint", "policy", "rule", "action"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stowage_admission_duration_seconds",
			Help:    "Time to answer an AdmissionReview, by endpoint.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1},
		}, []string{"endpoint"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "stowage_admission_in_flight_requests",
			Help: "Admission reviews being read or decided now (the server bounds them; see --max-in-flight).",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stowage_admission_rejected_requests_total",
			Help: "Admission reviews turned away before being decided, by reason: busy (429, no free slot in time), " +
				"too-large (413, over --max-body-bytes), gone (the deadline passed while queued).",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.decisions, m.latency, m.inFlight, m.rejected)
	return m
}

func (m *Metrics) observe(mode Mode, d *decision, took time.Duration) {
	m.latency.WithLabelValues(string(mode)).Observe(took.Seconds())
	if d == nil {
		return
	}
	endpoint := string(mode)
	switch {
	case d.errored:
		m.decisions.WithLabelValues(endpoint, d.policy, "", "error").Inc()
	case d.exempt:
		m.decisions.WithLabelValues(endpoint, d.policy, "", "exempt").Inc()
	case d.mutated:
		m.decisions.WithLabelValues(endpoint, d.policy, "", "mutate").Inc()
	case len(d.violations) > 0:
		for _, v := range d.violations {
			action := actionOf(d.action, v.Severity)
			if d.advisory && action == "deny" {
				action = "warn" // an operator's resource is only warned about
			}
			m.decisions.WithLabelValues(endpoint, d.policy, string(v.Rule), action).Inc()
		}
	default:
		m.decisions.WithLabelValues(endpoint, d.policy, "", "allow").Inc()
	}
}

func actionOf(a v1alpha1.EnforcementAction, s policy.Severity) string {
	switch {
	case a == v1alpha1.Audit:
		return "audit"
	case s == policy.SeverityError:
		return "deny"
	}
	return "warn"
}

// RegisterCertificateExpiry exports stowage_webhook_certificate_expiry_days, the days until the
// serving certificate that getCert returns expires, read at every scrape.
func RegisterCertificateExpiry(reg prometheus.Registerer, getCert func() (*tls.Certificate, error), now func() time.Time) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "stowage_webhook_certificate_expiry_days",
		Help: "Days until the webhook's serving certificate expires (negative once expired, -1e9 when unreadable).",
	}, func() float64 {
		c, err := getCert()
		if err != nil || c == nil || c.Leaf == nil {
			return -1e9
		}
		return c.Leaf.NotAfter.Sub(now()).Hours() / 24
	}))
}
