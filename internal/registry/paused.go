package registry

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/record"
)

// SetPaused pauses or resumes a cache's refresh. The flag is durable
// before it takes effect and is answered (it is kept beside the config,
// so a restart and a PUT of a new config keep it). While paused, the
// engine sends no webhook call and fails or expires no item; reads and
// writes go on. Resuming syncs at once whatever came due meanwhile.
func (r *Registry) SetPaused(_ context.Context, name string, paused bool) (autorefresh.Info, error) {
	r.mu.RLock()
	m, ok := r.caches[name]
	r.mu.RUnlock()
	if !ok {
		return autorefresh.Info{}, cacheNotFound(name)
	}
	// Exclusively: the flag and the engine it applies to change together,
	// ordered with a Put (which builds the next engine from the flag) and
	// a Delete (whose removal takes the flag with it).
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.engine == nil {
		return autorefresh.Info{}, cacheNotFound(name)
	}
	if m.paused != paused {
		if j := r.opts.Journal; j != nil {
			if err := j.Wait(j.AppendPaused(name, paused)); err != nil {
				// Not acknowledged; the journal may still write it once
				// the store recovers, so the old flag follows it (as
				// undoLater does for a config).
				j.AppendPaused(name, m.paused)
				return autorefresh.Info{}, err
			}
		}
		m.paused = paused
		if paused {
			m.engine.Pause()
		} else {
			m.engine.Resume()
		}
	}
	return m.info(), nil
}

// stateMetrics exports every cache's items per state and its pause flag.
// It reads the caches at scrape time, so a deleted cache's series leave
// with it and nothing is forgotten by hand; the engine keeps the counts
// per state as items change, so a scrape does not scan the items.
type stateMetrics struct {
	r       *Registry
	byState *prometheus.Desc
	paused  *prometheus.Desc
}

func newStateMetrics(r *Registry) *stateMetrics {
	return &stateMetrics{
		r: r,
		byState: prometheus.NewDesc("autorefresh_cache_items_by_state",
			"Items held by the cache, by state (active, completed, failed, expired).", []string{"cache", "state"}, nil),
		paused: prometheus.NewDesc("autorefresh_cache_paused",
			"1 while the cache's refresh is paused, else 0.", []string{"cache"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (s *stateMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.byState
	ch <- s.paused
}

// Collect implements prometheus.Collector. It takes each cache's lock on
// its own, after r.mu is released: a Delete holds a cache's lock while it
// takes r.mu.
func (s *stateMetrics) Collect(ch chan<- prometheus.Metric) {
	s.r.mu.RLock()
	ms := make([]*managed, 0, len(s.r.caches))
	for _, m := range s.r.caches {
		ms = append(ms, m)
	}
	s.r.mu.RUnlock()
	for _, m := range ms {
		m.mu.RLock()
		if m.engine == nil {
			m.mu.RUnlock()
			continue
		}
		counts, paused := m.engine.ByClass(), m.paused
		m.mu.RUnlock()
		for _, st := range record.States {
			n := 0
			if int(st) < len(counts) {
				n = counts[st]
			}
			ch <- prometheus.MustNewConstMetric(s.byState, prometheus.GaugeValue, float64(n), m.name, st.String())
		}
		p := 0.0
		if paused {
			p = 1
		}
		ch <- prometheus.MustNewConstMetric(s.paused, prometheus.GaugeValue, p, m.name)
	}
}
