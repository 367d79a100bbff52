package registry_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/registry"
	"github.com/autorefresh/autorefresh/internal/servicetest"
	"github.com/autorefresh/autorefresh/internal/store"
)

// TestConformance runs the service suite that the PostgreSQL mode runs too
// (internal/replicated), against the embedded registry with its bbolt
// journal, wired as cmd/server does.
func TestConformance(t *testing.T) {
	servicetest.Run(t, func(t *testing.T, l servicetest.Limits) servicetest.Open {
		dir := t.TempDir()
		return func(t *testing.T) (servicetest.Service, func()) {
			db, err := store.OpenBolt(dir)
			if err != nil {
				t.Fatal(err)
			}
			log := zap.NewNop()
			journal := store.NewJournal(db, log)
			journalCtx, stopJournal := context.WithCancel(context.Background())
			go journal.Run(journalCtx)
			policy := &egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
			r, err := registry.New(registry.Options{Registerer: prometheus.NewRegistry(), Logger: log, Egress: policy,
				Journal: journal, MaxCaches: l.MaxCaches, MaxItems: l.MaxItems,
				// As cmd/server sets it: webhook calls under way may finish
				// when a cache stops, which a reconfiguration must not wait for.
				DrainTimeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			states, err := db.Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Restore(states); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			if err := r.Start(ctx); err != nil {
				t.Fatal(err)
			}
			stopped := false
			return r, func() {
				if stopped {
					return
				}
				stopped = true
				cancel()
				r.Wait()
				stopJournal()
				<-journal.Done()
				_ = db.Close()
			}
		}
	})
}
