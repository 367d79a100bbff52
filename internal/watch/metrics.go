package watch

import "github.com/prometheus/client_golang/prometheus"

// collector reports the hub's state at scrape time, by cache. Reading the
// numbers from the topics (rather than keeping metric vectors beside them)
// means a deleted cache's series disappear with it. The refusals are the
// hub's own, by reason, and are always reported (zero included) so that
// rate() sees the first one.
type collector struct {
	h                                *Hub
	streams, waits, dropped, refused *prometheus.Desc
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
		refused: prometheus.NewDesc("autorefresh_watch_refused_total",
			"Event streams and long-polls refused with 503 because a cap was full, by reason: streams and long_polls (the server's caps), client_streams and client_long_polls (one client's).",
			[]string{"reason"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.streams
	ch <- c.waits
	ch <- c.dropped
	ch <- c.refused
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for r := range numRefusals {
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(c.h.refused[r].Load()), r.String())
	}
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
