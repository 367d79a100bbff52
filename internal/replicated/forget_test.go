package replicated

import (
	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/autorefresh/autorefresh/internal/pgtest"
	"github.com/autorefresh/autorefresh/internal/servicetest"
)

// TestDeletedCacheLeavesNoSeries: a webhook call still under way when its
// cache is deleted ends after the cache's series were dropped, and counts
// its outcome; those series go too once the call is over (each deleted
// cache left them behind for good: issue 14, per-cache state after delete).
func TestDeletedCacheLeavesNoSeries(t *testing.T) {
	url := pgtest.NewDB(t)
	started, release := make(chan struct{}, 1), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(up.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	reg := prometheus.NewRegistry()
	opts := testOptions(t, url)
	opts.Registerer, opts.DrainTimeout = reg, 10*time.Second
	s, _ := startService(t, opts)
	ctx := ctxFor(t, 30*time.Second)
	if _, err := s.Put(ctx, "jobs", testCfg(up.URL+"/sync", time.Hour, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "a", Data: nil, Terminal: false}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the created item was never sent to the webhook")
	}
	if len(servicetest.SeriesOf(t, reg, "jobs")) == 0 {
		t.Fatal("the cache has no series to begin with: the test would prove nothing")
	}
	w := s.worker("jobs")
	if err := s.Delete(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	// The deletion reaches the worker, and the series are dropped, while
	// the call is still held.
	waitUntil(t, "the series dropped for the deletion", 10*time.Second, func() bool {
		return s.worker("jobs") == nil && len(servicetest.SeriesOf(t, reg, "jobs")) == 0
	})
	close(release)
	select {
	case <-w.done: // the call is over, and counted
	case <-ctx.Done():
		t.Fatal("the deleted cache's worker did not stop")
	}
	waitUntil(t, "the series the late call brought back gone", 10*time.Second, func() bool {
		return len(servicetest.SeriesOf(t, reg, "jobs")) == 0
	})
}
