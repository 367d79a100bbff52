package replicated

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/autorefresh/autorefresh/internal/record"
)

// gauges exports what the database holds of every cache, as the embedded
// mode names it: autorefresh_cache_items_by_state{cache,state} and
// autorefresh_cache_paused{cache}. They are read from the tables when
// scraped, so every replica reports the same, shared values (do not sum
// them over replicas), and a deleted cache's series go with its rows.
//
// A read counts every item, so it is kept for gaugesTTL: scrapes closer
// together than that (several scrapers, or a test polling) cost one read.
type gauges struct {
	s       *Service
	byState *prometheus.Desc
	paused  *prometheus.Desc

	mu   sync.Mutex
	at   time.Time
	last []prometheus.Metric
}

// gaugesTTL is how long a read of the gauges serves scrapes.
const gaugesTTL = time.Second

// gaugesTimeout bounds a read at scrape time: a database that does not
// answer gives a scrape without these series, not a hung one.
const gaugesTimeout = 5 * time.Second

func newGauges(s *Service) *gauges {
	return &gauges{s: s,
		byState: prometheus.NewDesc("autorefresh_cache_items_by_state",
			"Items held by the cache, by state (active, completed, failed, expired).", []string{"cache", "state"}, nil),
		paused: prometheus.NewDesc("autorefresh_cache_paused",
			"1 while the cache's refresh is paused, else 0.", []string{"cache"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.byState
	ch <- g.paused
}

// Collect implements prometheus.Collector.
func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.last == nil || time.Since(g.at) >= gaugesTTL {
		ms, err := g.read()
		if err != nil {
			g.s.log.Debug("cache gauges not read", zapErr(err))
			return
		}
		g.at, g.last = time.Now(), ms
	}
	for _, m := range g.last {
		ch <- m
	}
}

// forget drops the kept read, so that a deleted cache's series are not
// served from it.
func (g *gauges) forget() {
	g.mu.Lock()
	g.last = nil
	g.mu.Unlock()
}

func (g *gauges) read() ([]prometheus.Metric, error) {
	ctx, cancel := context.WithTimeout(context.Background(), gaugesTimeout)
	defer cancel()
	rows, err := g.s.pool.Query(ctx, `SELECT c.name, c.paused, coalesce(n.counts, '{}')
		FROM caches c LEFT JOIN LATERAL (
			SELECT array_agg(ARRAY[state, cnt]) AS counts FROM (
				SELECT i.state::bigint AS state, count(*) AS cnt FROM items i WHERE i.cache = c.name GROUP BY i.state) s) n ON true`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []prometheus.Metric
	for rows.Next() {
		var (
			name   string
			paused bool
			counts [][]int64
		)
		if err := rows.Scan(&name, &paused, &counts); err != nil {
			return nil, err
		}
		var by [record.NumStates]float64
		for _, c := range counts {
			if len(c) == 2 && c[0] > 0 && c[0] < int64(record.NumStates) {
				by[c[0]] = float64(c[1])
			}
		}
		for _, st := range record.States {
			out = append(out, prometheus.MustNewConstMetric(g.byState, prometheus.GaugeValue, by[st], name, st.String()))
		}
		p := 0.0
		if paused {
			p = 1
		}
		out = append(out, prometheus.MustNewConstMetric(g.paused, prometheus.GaugeValue, p, name))
	}
	return out, rows.Err()
}
