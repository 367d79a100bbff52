package replicated

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// metrics are this replica's counters of the shared refresh work. Every
// replica exports its own; sum them over replicas.
type metrics struct {
	staleWrites *prometheus.CounterVec
	claims      *prometheus.CounterVec
	expiries    *prometheus.CounterVec
	batches     *prometheus.CounterVec
	syncErrors  *prometheus.CounterVec
	items       *prometheus.CounterVec
	reconnects  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		staleWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "autorefresh_stale_writes_total",
			Help: "Sync results this replica could not write back because the items had been claimed again since (their lease had lapsed) or changed by a PATCH, a retry or their expiry (fencing at work).",
		}, []string{"cache"}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "autorefresh_lease_claims_total",
			Help: "Items this replica claimed (leased) for a sync.",
		}, []string{"cache"}),
		expiries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "autorefresh_lease_expiries_total",
			Help: "Items this replica claimed whose previous lease had lapsed without a write-back (its holder died, hung or lost the database).",
		}, []string{"cache"}),
		// The sync families have the embedded engine's names and labels
		// (internal/cache/metrics.go), so that dashboards and alerts read
		// both modes alike; each replica counts its own share.
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "autorefresh_sync_batches_total",
			Help: "Batches this replica claimed, by outcome: ok, error (the webhook call failed), lease_lapsed (not sent: the lease ran out before the call could start).",
		}, []string{"cache", "outcome"}),
		syncErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "autorefresh_sync_errors_total",
			Help: "Failed webhook calls of this replica, by reason (as the webhook metrics name them).",
		}, []string{"cache", "reason"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "autorefresh_synced_items_total",
			Help: "Items this replica synced successfully, by action (update, unchanged).",
		}, []string{"cache", "action"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "autorefresh_pg_listen_reconnects_total",
			Help: "Times this replica's LISTEN connection was lost and made again.",
		}),
	}
	for _, c := range []prometheus.Collector{m.staleWrites, m.claims, m.expiries, m.batches, m.syncErrors, m.items, m.reconnects} {
		if err := reg.Register(c); err != nil {
			return nil, errs.Wrap(errs.Internal, err, "replicated: register metrics")
		}
	}
	return m, nil
}

// forget drops a deleted cache's series.
func (m *metrics) forget(cache string) {
	l := prometheus.Labels{"cache": cache}
	m.staleWrites.DeletePartialMatch(l)
	m.claims.DeletePartialMatch(l)
	m.expiries.DeletePartialMatch(l)
	m.batches.DeletePartialMatch(l)
	m.syncErrors.DeletePartialMatch(l)
	m.items.DeletePartialMatch(l)
}
