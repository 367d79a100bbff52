package handlers

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics are labelled by chi route pattern, never by raw path, so an
// item id can never become a label value.
//
// Each request's series are looked up in a map that is copied on write:
// WithLabelValues hashes and checks every label value on each call, which
// cost more than the rest of the metrics together on a GET. Routes are chi's
// patterns, methods are folded by methodLabel and codes are those the
// handlers write, so the map stays small; maxCachedSeries bounds it anyway.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	known atomic.Pointer[map[seriesKey]series] // read without locks
	mu    sync.Mutex                           // serialises writers of known
}

// maxCachedSeries bounds the lookup map; past it, series are looked up
// through the vectors on every request (slower, still correct).
const maxCachedSeries = 1024

type seriesKey struct {
	route, method string
	code          int
}

// series is where one route, method and status code's requests are counted
// and timed (the histogram has no code label: its series is shared).
type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "autorefresh", Name: "http_requests_total",
			Help: "HTTP requests served, by chi route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "autorefresh", Name: "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by chi route pattern and method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"route", "method"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register http metrics: %w", err)
		}
	}
	m.known.Store(&map[seriesKey]series{})
	return m, nil
}

// record counts and times one request.
func (m *httpMetrics) record(route, method string, code int, elapsed time.Duration) {
	k := seriesKey{route, method, code}
	se, ok := (*m.known.Load())[k]
	if !ok {
		se = m.add(k)
	}
	se.requests.Inc()
	se.duration.Observe(elapsed.Seconds())
}

// add resolves k's series and, while there is room, keeps them for the
// next request.
func (m *httpMetrics) add(k seriesKey) series {
	se := series{
		requests: m.requests.WithLabelValues(k.route, k.method, strconv.Itoa(k.code)),
		duration: m.duration.WithLabelValues(k.route, k.method),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.known.Load()
	if _, ok := old[k]; ok || len(old) >= maxCachedSeries {
		return se
	}
	next := make(map[seriesKey]series, len(old)+1)
	for key, v := range old {
		next[key] = v
	}
	next[k] = se
	m.known.Store(&next)
	return se
}
