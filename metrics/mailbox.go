package metrics

import "github.com/prometheus/client_golang/prometheus"

// Mailbox holds the metrics of the mailbox-trust work: providers'
// callbacks and bulk unsubscribes.
type Mailbox struct {
	callbacks *prometheus.CounterVec
	ended     *prometheus.CounterVec
	emailed   prometheus.Counter
	batches   prometheus.Counter
	jobs      *prometheus.CounterVec
}

// Mailbox registers and returns the mailbox metrics.
func (m *Metrics) Mailbox() *Mailbox {
	x := &Mailbox{
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "email_alert_provider_callbacks_total",
			Help: "Provider callbacks accepted, by kind (status_update, spam_report) and status (a delivery status, spam, or unknown_email).",
		}, []string{"kind", "status"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "email_alert_mailbox_subscriptions_ended_total",
			Help: "Subscriptions ended by callbacks and bulk unsubscribes, by reason.",
		}, []string{"reason"}),
		emailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "email_alert_bulk_unsubscribe_emails_total", Help: "Emails written to subscribers a bulk unsubscribe ended.",
		}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "email_alert_bulk_unsubscribe_batches_total", Help: "Batches of bulk unsubscribes committed.",
		}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "email_alert_bulk_unsubscribes_total", Help: "Bulk unsubscribes, by event (accepted, finished).",
		}, []string{"event"}),
	}
	m.registry.MustRegister(x.callbacks, x.ended, x.emailed, x.batches, x.jobs)
	for _, e := range []string{"accepted", "finished"} {
		x.jobs.WithLabelValues(e)
	}
	return x
}

// Callback counts one accepted callback.
func (x *Mailbox) Callback(kind, status string) { x.callbacks.WithLabelValues(kind, status).Inc() }

// Ended counts n subscriptions ended with reason.
func (x *Mailbox) Ended(reason string, n int64) {
	if n > 0 {
		x.ended.WithLabelValues(reason).Add(float64(n))
	}
}

// BulkBatch counts one committed batch of a bulk unsubscribe and the
// emails it wrote.
func (x *Mailbox) BulkBatch(emailed int) {
	x.batches.Inc()
	x.emailed.Add(float64(emailed))
}

// BulkJob counts a bulk unsubscribe accepted or finished.
func (x *Mailbox) BulkJob(event string) { x.jobs.WithLabelValues(event).Inc() }
