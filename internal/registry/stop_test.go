package registry

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/errs"
)

// Once the run context has ended, a registration still being served (a
// request past the shutdown deadline) is refused instead of starting an
// engine that Wait would not wait for.
func TestPutAfterStopIsRefused(t *testing.T) {
	r, err := New(Options{Registerer: prometheus.NewRegistry(), Logger: zap.NewNop(), Egress: &egress.Policy{AllowPrivate: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, err = r.Put(context.Background(), "late", cfg(nil))
	if errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("Put after stop: %v, want an Unavailable error", err)
	}
	r.Wait()
	if in, err := r.Info(context.Background(), "late"); err == nil && in.Stats.Syncs != 0 {
		t.Fatalf("a refused cache synced: %+v", in)
	}
}
