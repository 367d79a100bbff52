package cache

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// maxErrorReasons caps the distinct sync error reasons recorded per cache so a
// misbehaving SyncFunc cannot blow up label cardinality.
const maxErrorReasons = 16

// metrics holds one cache's collectors. Every series carries a constant
// "cache" label, so several caches can share one registry, and a cache's
// series disappear when it is unregistered. Counters that the hot path bumps
// (hits, misses, size) are read from the cache's own counters at scrape time
// instead of being incremented twice.
type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	syncDuration prometheus.Histogram
	syncErrors   *prometheus.CounterVec
	batches      *prometheus.CounterVec
	items        *prometheus.CounterVec

	mu      sync.Mutex
	reasons map[string]struct{}

	queue queueMetrics
}

func newMetrics[T Item](c *AutoRefreshCache[T], reg prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"cache": c.opts.Name}
	m := &metrics{reg: reg, reasons: make(map[string]struct{})}
	counterFunc := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "autorefresh", Name: name, Help: help, ConstLabels: labels,
		}, f)
	}
	m.syncDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "autorefresh", Name: "sync_duration_seconds", ConstLabels: labels,
		Help:    "Time one SyncFunc call (one batch) took.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
	})
	m.syncErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "autorefresh", Name: "sync_errors_total", ConstLabels: labels,
		Help: "Batches whose sync failed, by reason.",
	}, []string{"reason"})
	m.batches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "autorefresh", Name: "sync_batches_total", ConstLabels: labels,
		Help: "Batches synced, by outcome (ok, error).",
	}, []string{"outcome"})
	m.items = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "autorefresh", Name: "synced_items_total", ConstLabels: labels,
		Help: "Items of successful batches, by action (update, unchanged, dropped).",
	}, []string{"action"})
	m.queue = newQueueMetrics(labels)

	m.collectors = []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "autorefresh", Name: "cache_items", ConstLabels: labels,
			Help: "Items held by the cache.",
		}, func() float64 { return float64(c.Len()) }),
		counterFunc("cache_hits_total", "Get calls that found the item.", func() float64 {
			h, _ := c.hitsMisses()
			return float64(h)
		}),
		counterFunc("cache_misses_total", "Get calls that did not find the item.", func() float64 {
			_, ms := c.hitsMisses()
			return float64(ms)
		}),
		counterFunc("cache_evictions_total", "Items evicted to respect the size bound.", func() float64 {
			return float64(c.stats.evictions.Load())
		}),
		counterFunc("cache_deletions_total", "Items removed by DeleteDelayed.", func() float64 {
			return float64(c.stats.deletions.Load())
		}),
		m.syncDuration, m.syncErrors, m.batches, m.items,
	}
	m.collectors = append(m.collectors, m.queue.collectors()...)
	if reg == nil {
		return m, nil
	}
	for i, col := range m.collectors {
		if err := reg.Register(col); err != nil {
			for _, done := range m.collectors[:i] {
				reg.Unregister(done)
			}
			return nil, errs.Wrap(errs.Conflict, err, "metrics for cache "+c.opts.Name+" are already registered")
		}
	}
	return m, nil
}

// unregister removes every series of the cache from the registry.
func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, col := range m.collectors {
		m.reg.Unregister(col)
	}
}

// syncError counts one failed batch under reason, folding reasons past the
// cap into "other".
func (m *metrics) syncError(reason string) { m.syncErrorN(reason, 1) }

// syncErrorN counts n failures under reason, as syncError does.
func (m *metrics) syncErrorN(reason string, n float64) {
	m.mu.Lock()
	if _, ok := m.reasons[reason]; !ok {
		if len(m.reasons) >= maxErrorReasons {
			reason = "other"
		}
		m.reasons[reason] = struct{}{}
	}
	m.mu.Unlock()
	m.syncErrors.WithLabelValues(reason).Add(n)
}

// queueMetrics implements workqueue.MetricsProvider for the cache's single
// queue; the queue name client-go passes in is ignored because the constant
// cache label already identifies it.
type queueMetrics struct {
	depth, longest, unfinished prometheus.Gauge
	adds, retries              prometheus.Counter
	latency, work              prometheus.Histogram
}

func newQueueMetrics(labels prometheus.Labels) queueMetrics {
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "autorefresh", Subsystem: "workqueue", Name: name, Help: help, ConstLabels: labels})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "autorefresh", Subsystem: "workqueue", Name: name, Help: help, ConstLabels: labels})
	}
	hist := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "autorefresh", Subsystem: "workqueue", Name: name, Help: help, ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(10e-9, 10, 12)})
	}
	return queueMetrics{
		depth:      gauge("depth", "Batches waiting in the work queue."),
		longest:    gauge("longest_running_processor_seconds", "How long the longest running worker has been processing its batch."),
		unfinished: gauge("unfinished_work_seconds", "Seconds of work in progress that has not been observed by work_duration."),
		adds:       counter("adds_total", "Batches added to the work queue."),
		retries:    counter("retries_total", "Rate-limited adds to the work queue."),
		latency:    hist("queue_duration_seconds", "How long a batch waits in the queue before a worker takes it."),
		work:       hist("work_duration_seconds", "How long a worker takes to process a batch."),
	}
}

func (q queueMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{q.depth, q.longest, q.unfinished, q.adds, q.retries, q.latency, q.work}
}

func (q queueMetrics) NewDepthMetric(string) workqueue.GaugeMetric     { return q.depth }
func (q queueMetrics) NewAddsMetric(string) workqueue.CounterMetric    { return q.adds }
func (q queueMetrics) NewRetriesMetric(string) workqueue.CounterMetric { return q.retries }
func (q queueMetrics) NewLatencyMetric(string) workqueue.HistogramMetric {
	return q.latency
}
func (q queueMetrics) NewWorkDurationMetric(string) workqueue.HistogramMetric {
	return q.work
}
func (q queueMetrics) NewUnfinishedWorkSecondsMetric(string) workqueue.SettableGaugeMetric {
	return q.unfinished
}
func (q queueMetrics) NewLongestRunningProcessorSecondsMetric(string) workqueue.SettableGaugeMetric {
	return q.longest
}
