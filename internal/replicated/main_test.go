package replicated

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// loopback lets webhooks reach the tests' httptest upstreams.
var loopback = &egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

// testOptions are Options for a service on url, with fast loops.
func testOptions(t testing.TB, url string) Options {
	return Options{
		URL: url, Registerer: prometheus.NewRegistry(), Logger: testLogger(t), Egress: loopback,
		ReconcileInterval: 500 * time.Millisecond, StatsInterval: 100 * time.Millisecond,
	}
}

func testLogger(t testing.TB) *zap.Logger {
	if testing.Verbose() {
		return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	return zap.NewNop()
}

// startService builds and starts a service; stop stops it, waits for its
// goroutines and closes its pool. It is also a cleanup.
func startService(t testing.TB, opts Options) (*Service, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := New(ctx, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	if err := s.Start(runCtx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		stopRun()
		s.Wait()
		s.Close()
	}
	t.Cleanup(stop)
	return s, stop
}
