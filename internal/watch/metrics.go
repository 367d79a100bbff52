package watch

import "github.com/prometheus/client_golang/prometheus"

// collector reports the hub's state at scrape time, by cache. Reading the
// numbers from the topics (rather than keeping metric vectors beside them)
// means a deleted cache's series disappear with it.
type collector struct {
	h                       *Hub
	streams, waits, dropped *prometheus.Desc
}

func newCollector(h *Hub) *collector {
	label := []string{"cache"}
	return &collector{
		h: h,
		streams: prometheus.NewDesc("autorefresh_watch_streams",
			"Event streams open now, by cache.", label, nil),
		waits: prometheus.NewDesc("autorefresh_watch_waiting_requests",
			"Long-poll GETs waiting for a change now, by cache.", label, nil),
		dropped: prometheus.NewDesc("autorefresh_watch_dropped_events_total",
			"Events dropped for event streams that read too slowly (each was told with a lagged event), by cache.", label, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.streams
	ch <- c.waits
	ch <- c.dropped
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.h.mu.RLock()
	ts := make([]*topic, 0, len(c.h.topics))
	for _, t := range c.h.topics {
		ts = append(ts, t)
	}
	c.h.mu.RUnlock()
	for _, t := range ts {
		t.mu.Lock()
		subs, waits, dropped := len(t.subs), t.nWait, t.dropped
		t.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(c.streams, prometheus.GaugeValue, float64(subs), t.name)
		ch <- prometheus.MustNewConstMetric(c.waits, prometheus.GaugeValue, float64(waits), t.name)
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(dropped), t.name)
	}
}
