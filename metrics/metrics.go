// Package metrics exposes the service's Prometheus metrics: HTTP requests
// by route and status, account events received and processed (by kind and
// outcome, with the latency from receipt to applied), emails by delivery
// result, and the depth of every asynq queue, read from Redis when scraped.
package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one process's registry and the instruments in it.
type Metrics struct {
	registry        *prometheus.Registry
	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	eventsReceived  *prometheus.CounterVec
	eventsProcessed *prometheus.CounterVec
	eventLatency    *prometheus.HistogramVec
	emails          *prometheus.CounterVec
	crossOrigin     prometheus.Counter
}

// New returns the metrics of a process whose queues are queues, read
// through inspector at scrape time once ping has found Redis answering.
func New(inspector *asynq.Inspector, queues []string, ping func(context.Context) error) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "email_alert_http_requests_total", Help: "HTTP requests by server, route and status.",
		}, []string{"server", "route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "email_alert_http_request_duration_seconds", Help: "HTTP request durations by server and route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"server", "route"}),
		eventsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "email_alert_account_events_received_total", Help: "Account events stored, by kind (duplicates not counted).",
		}, []string{"kind"}),
		eventsProcessed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "email_alert_account_events_processed_total", Help: "Account events processed, by kind and outcome.",
		}, []string{"kind", "outcome"}),
		eventLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "email_alert_account_event_latency_seconds", Help: "Time from an event's receipt to its processing, by kind.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60, 300},
		}, []string{"kind"}),
		emails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "email_alert_emails_total", Help: "Email delivery attempts by result (sent, retry, failed).",
		}, []string{"result"}),
		crossOrigin: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "email_alert_cross_origin_refused_total", Help: "Form posts refused because they came from another site.",
		}),
	}
	m.registry.MustRegister(m.httpRequests, m.httpDuration, m.eventsReceived, m.eventsProcessed, m.eventLatency, m.emails,
		m.crossOrigin, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&queueCollector{inspector: inspector, queues: queues, ping: ping})
	// Known series start at zero, so rates work from the first scrape.
	for _, result := range []string{"sent", "retry", "failed"} {
		m.emails.WithLabelValues(result)
	}
	for _, kind := range []string{"email_changed", "deleted", "unknown"} {
		m.eventsReceived.WithLabelValues(kind)
	}
	return m
}

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() gin.HandlerFunc {
	h := promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
	return gin.WrapH(h)
}

// HTTP counts requests by route (the pattern, never the raw path, so ids
// and tokens stay out of label values) and status.
func (m *Metrics) HTTP(server string) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		m.httpRequests.WithLabelValues(server, route, strconv.Itoa(c.Writer.Status())).Inc()
		m.httpDuration.WithLabelValues(server, route).Observe(time.Since(start).Seconds())
	}
}

// EventReceived counts a newly stored event.
func (m *Metrics) EventReceived(kind string) { m.eventsReceived.WithLabelValues(kind).Inc() }

// EventProcessed counts a processed event and its latency from receipt.
func (m *Metrics) EventProcessed(kind, outcome string, sinceReceipt time.Duration) {
	m.eventsProcessed.WithLabelValues(kind, outcome).Inc()
	m.eventLatency.WithLabelValues(kind).Observe(sinceReceipt.Seconds())
}

// EmailAttempt counts one delivery attempt by its result.
func (m *Metrics) EmailAttempt(result string) { m.emails.WithLabelValues(result).Inc() }

// CrossOriginRefused counts a form post refused as cross-site.
func (m *Metrics) CrossOriginRefused() { m.crossOrigin.Inc() }

// queueCollector reports each queue's size by state, asking Redis when
// Prometheus scrapes. Redis is pinged first, within pingTimeout: when it
// does not answer, the scrape reports email_alert_queue_redis_up 0 and no
// queue sizes at once, rather than waiting on the inspector's retries for
// every queue.
type queueCollector struct {
	inspector *asynq.Inspector
	queues    []string
	ping      func(context.Context) error
}

const pingTimeout = 500 * time.Millisecond

var (
	queueDepth = prometheus.NewDesc("email_alert_queue_tasks",
		"Tasks in each asynq queue by state.", []string{"queue", "state"}, nil)
	queueRedisUp = prometheus.NewDesc("email_alert_queue_redis_up",
		"1 when Redis answered the scrape's ping (and queue sizes are reported), else 0.", nil, nil)
)

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueDepth; ch <- queueRedisUp }

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	if err := q.ping(ctx); err != nil {
		ch <- prometheus.MustNewConstMetric(queueRedisUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(queueRedisUp, prometheus.GaugeValue, 1)
	for _, queue := range q.queues {
		info, err := q.inspector.GetQueueInfo(queue)
		if err != nil {
			continue // not created yet, or Redis away: no sample rather than a wrong one
		}
		for state, n := range map[string]int{
			"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived,
		} {
			ch <- prometheus.MustNewConstMetric(queueDepth, prometheus.GaugeValue, float64(n), queue, state)
		}
	}
}
