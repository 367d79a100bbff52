package syncers

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the webhook syncers' Prometheus metrics, shared by all caches.
// Labels are the cache name and fixed value sets only, never item ids or
// URLs, so cardinality grows with the number of caches and nothing else.
// A nil *Metrics records nothing.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	ignored  *prometheus.CounterVec
}

// OutcomeOK is the outcome label of a successful call in
// autorefresh_webhook_requests_total; failed calls use their reason.
const OutcomeOK = "ok"

// NewMetrics creates the metrics and registers them with reg; call it once
// per registry. A nil reg creates unregistered metrics (useful in tests).
//
//   - autorefresh_webhook_requests_total{cache,outcome}: Sync calls that had
//     items, by outcome: "ok" or a failure reason. outcome="throttled" counts
//     calls held back by Retry-After, which sent no request.
//   - autorefresh_webhook_request_duration_seconds{cache}: duration of the
//     HTTP exchanges that were sent, whatever their outcome.
//   - autorefresh_webhook_ignored_entries_total{cache,reason}: reply entries
//     ignored for reason unknown_id, duplicate_id, unknown_action or
//     unstorable_value, and nextSyncAfter values dropped as bad_next_sync
//     (the rest of such an entry still applies).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "autorefresh_webhook_requests_total",
			Help: "Webhook sync calls by cache and outcome (ok or failure reason; throttled calls send no request).",
		}, []string{"cache", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "autorefresh_webhook_request_duration_seconds",
			Help:    "Duration of webhook HTTP exchanges, including reading the reply.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"cache"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "autorefresh_webhook_ignored_entries_total",
			Help: "Webhook reply entries ignored, by cache and reason.",
		}, []string{"cache", "reason"}),
	}
	if reg == nil {
		return m, nil
	}
	var done []prometheus.Collector
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.ignored} {
		if err := reg.Register(c); err != nil {
			for _, d := range done {
				reg.Unregister(d) // leave the registry as it was
			}
			return nil, errors.Join(errors.New("syncers: registering webhook metrics"), err)
		}
		done = append(done, c)
	}
	return m, nil
}

// init creates every series of a cache at zero, so that rates and alerts
// work before the first failure of each kind.
func (m *Metrics) init(cacheName string) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(cacheName, OutcomeOK)
	for _, r := range Reasons {
		m.requests.WithLabelValues(cacheName, r)
	}
	for _, r := range IgnoredReasons {
		m.ignored.WithLabelValues(cacheName, r)
	}
}

// Forget deletes every series of a cache. Call it after the cache is deleted
// and its syncer has stopped; a Sync still running would recreate series.
func (m *Metrics) Forget(cacheName string) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"cache": cacheName}
	m.requests.DeletePartialMatch(l)
	m.duration.DeletePartialMatch(l)
	m.ignored.DeletePartialMatch(l)
}

func (m *Metrics) outcome(cacheName, outcome string) {
	if m != nil {
		m.requests.WithLabelValues(cacheName, outcome).Inc()
	}
}

func (m *Metrics) observe(cacheName string, seconds float64) {
	if m != nil {
		m.duration.WithLabelValues(cacheName).Observe(seconds)
	}
}

func (m *Metrics) ignore(cacheName string, counts map[string]int) {
	if m == nil {
		return
	}
	for reason, n := range counts {
		m.ignored.WithLabelValues(cacheName, reason).Add(float64(n))
	}
}
