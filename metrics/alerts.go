package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Alerts are the instruments of content changes, fan-outs and digest runs.
// The delivery rate of their emails is email_alert_emails_total's.
type Alerts struct {
	received  *prometheus.CounterVec
	generated *prometheus.CounterVec
	runs      *prometheus.CounterVec
	runEmails *prometheus.CounterVec
	latency   prometheus.Histogram
}

// Alerts registers the alert instruments in m's registry.
func (m *Metrics) Alerts() *Alerts {
	a := &Alerts{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "email_alert_content_changes_received_total", Help: "Content changes stored, by priority (duplicates not counted).",
		}, []string{"priority"}),
		generated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "email_alert_alert_emails_generated_total", Help: "Alert emails written to the outbox, by kind (alert, digest).",
		}, []string{"kind"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "email_alert_digest_runs_total", Help: "Digest runs started and finished, by frequency.",
		}, []string{"frequency", "event"}),
		runEmails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "email_alert_digest_run_emails_total", Help: "Emails of the digest runs that finished, by frequency.",
		}, []string{"frequency"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "email_alert_fan_out_latency_seconds", Help: "Time from a content change's receipt to its last immediate email written.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}),
	}
	m.registry.MustRegister(a.received, a.generated, a.runs, a.runEmails, a.latency)
	for _, p := range []string{"normal", "high"} {
		a.received.WithLabelValues(p)
	}
	for _, k := range []string{"alert", "digest"} {
		a.generated.WithLabelValues(k)
	}
	return a
}

// ContentChangeReceived counts a stored content change.
func (a *Alerts) ContentChangeReceived(priority string) { a.received.WithLabelValues(priority).Inc() }

// EmailsGenerated counts n emails of kind written.
func (a *Alerts) EmailsGenerated(kind string, n int) {
	a.generated.WithLabelValues(kind).Add(float64(n))
}

// FanOutFinished records a fan-out's latency.
func (a *Alerts) FanOutFinished(latency time.Duration) { a.latency.Observe(latency.Seconds()) }

// DigestRun counts a run started or finished (with its emails).
func (a *Alerts) DigestRun(frequency, event string, emails int) {
	a.runs.WithLabelValues(frequency, event).Inc()
	if event == "finished" {
		a.runEmails.WithLabelValues(frequency).Add(float64(emails))
	}
}
