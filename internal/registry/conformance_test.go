package registry_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/servicetest"
)

// TestConformance runs the service suite that the PostgreSQL mode runs too
// (internal/replicated), against the embedded registry with its bbolt
// journal, opened by internal/backend as cmd/server opens it.
func TestConformance(t *testing.T) {
	servicetest.Run(t, func(t *testing.T, l servicetest.Limits) servicetest.Open {
		dir := t.TempDir()
		return func(t *testing.T) (servicetest.Service, func()) {
			b, err := backend.Open(context.Background(), backend.Options{DataDir: dir,
				Registerer: prometheus.NewRegistry(), Logger: zap.NewNop(),
				Egress:    &egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
				MaxCaches: l.MaxCaches, MaxItems: l.MaxItems,
				// As cmd/server sets it: webhook calls under way may finish
				// when a cache stops, which a reconfiguration must not wait for.
				DrainTimeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Start(context.Background()); err != nil {
				b.Close()
				t.Fatal(err)
			}
			return b.Service(), b.Close
		}
	})
}
