package registry

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
)

// TestBackingOffGaugeFollowsFailures: autorefresh_cache_items_backing_off
// counts the active items with failed attempts (what the "stuck in
// backoff" alert watches), and they still count as active; a success
// takes the item out of it.
func TestBackingOffGaugeFollowsFailures(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !failing.Load() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"items": [{"id": "a", "action": "error", "error": "no such job"}]}`))
	}))
	t.Cleanup(up.Close)
	r, reg := newRegistry(t, 0)
	if _, err := r.Put(bg, "jobs", cfg(func(c *autorefresh.Config) { c.Webhook.URL = up.URL })); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if _, _, err := r.CreateItem(bg, "jobs", autorefresh.NewItem{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	value := func(name, state string) float64 { return gaugeValue(t, reg, name, state) }
	if err := r.Sync(bg, "jobs"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a to fail once", func() bool {
		it, _ := r.GetItem(bg, "jobs", "a")
		return it.Attempts == 1
	})
	if v, a := value("autorefresh_cache_items_backing_off", ""), value("autorefresh_cache_items_by_state", "active"); v != 1 || a != 2 {
		t.Fatalf("backing_off = %v, items_by_state{active} = %v; want 1 and 2", v, a)
	}
	failing.Store(false)
	// The item waits out its backoff (one period, an hour here): a sync
	// of the cache asks for every idle item now.
	if err := r.Sync(bg, "jobs"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a to recover", func() bool {
		it, _ := r.GetItem(bg, "jobs", "a")
		return it.Attempts == 0
	})
	if v, a := value("autorefresh_cache_items_backing_off", ""), value("autorefresh_cache_items_by_state", "active"); v != 0 || a != 2 {
		t.Fatalf("after the success: backing_off = %v, items_by_state{active} = %v; want 0 and 2", v, a)
	}
}

// gaugeValue reads one gauge of the cache jobs (state "" for a gauge
// without a state label); it fails the test when the series is missing.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name, state string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["cache"] == "jobs" && labels["state"] == state {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{cache=jobs,state=%q}", name, state)
	return 0
}
