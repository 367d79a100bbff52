package replicated

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/pgtest"
	"github.com/autorefresh/autorefresh/internal/record"
)

// gaugeValue reads a gauge series from a registry; ok is false if there is
// no such series.
func gaugeValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (v float64, ok bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue metrics
				}
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// TestPauseAcrossReplicas: a cache paused on one replica is claimed by
// neither, its items show no next sync and none expires; reads, creates
// and a new config go on and keep the pause; resumed on the other replica,
// its refresh starts again and the overdue item expires.
func TestPauseAcrossReplicas(t *testing.T) {
	url := pgtest.NewDB(t)
	up, hook := newCallLog(t)
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	optsA, optsB := testOptions(t, url), testOptions(t, url)
	optsA.Registerer, optsB.Registerer = regA, regB
	a, _ := startService(t, optsA)
	b, _ := startService(t, optsB)
	ctx := ctxFor(t, 60*time.Second)
	cfg := testCfg(hook, 200*time.Millisecond, time.Second)
	for _, name := range []string{"paused", "running"} {
		if _, err := a.Put(ctx, name, cfg); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := a.CreateItem(ctx, "paused", autorefresh.NewItem{ID: "p1"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.CreateItem(ctx, "running", autorefresh.NewItem{ID: "r1"}); err != nil {
		t.Fatal(err)
	}
	up.progress(t, "p1", 2)

	in, err := a.SetPaused(ctx, "paused", true)
	if err != nil || !in.Paused {
		t.Fatalf("SetPaused: %+v, %v", in, err)
	}
	if in, err := b.Info(ctx, "paused"); err != nil || !in.Paused {
		t.Fatalf("B's view: paused %v, %v", in.Paused, err)
	}
	// A call already under way may still arrive; after two of the other
	// cache's cycles none may.
	up.progress(t, "r1", 2)
	sent := up.count("p1")
	// Reads, creates and PATCHes go on; an item past its deadline does
	// not expire while paused.
	p2, created, err := b.CreateItem(ctx, "paused", autorefresh.NewItem{ID: "p2", TTL: 100 * time.Millisecond})
	if err != nil || !created || p2.NextSyncAt != nil {
		t.Fatalf("create in a paused cache: %+v next %v, %v", p2.Record, p2.NextSyncAt, err)
	}
	done := true
	if it, err := b.PatchItem(ctx, "paused", "p1", autorefresh.Patch{Terminal: &done}); err != nil || !it.Terminal {
		t.Fatalf("PATCH in a paused cache: %v", err)
	}
	reopen := false
	if it, err := a.PatchItem(ctx, "paused", "p1", autorefresh.Patch{Terminal: &reopen}); err != nil || it.NextSyncAt != nil {
		t.Fatalf("reopened in a paused cache: next %v, %v", it.NextSyncAt, err)
	}
	// A new config keeps the pause.
	if _, err := b.Put(ctx, "paused", testCfg(hook, 300*time.Millisecond, time.Second)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "p2's deadline", 10*time.Second, func() bool { return time.Now().After(p2.ExpiresAt.Add(50 * time.Millisecond)) })
	up.progress(t, "r1", 3)
	if n := up.count("p1") + up.count("p2"); n != sent {
		t.Fatalf("the paused cache's items were sent %d more times", n-sent)
	}
	it, err := a.GetItem(ctx, "paused", "p2")
	if err != nil || it.StateOf() != record.StateActive || it.NextSyncAt != nil {
		t.Fatalf("p2 while paused: %+v next %v, %v", it.Record, it.NextSyncAt, err)
	}
	for _, s := range []*Service{a, b} {
		in, err := s.Info(ctx, "paused")
		if err != nil || !in.Paused || in.Config.ResyncPeriod != autorefresh.Duration(300*time.Millisecond) {
			t.Fatalf("after the PUT: paused %v, resync %v, %v", in.Paused, in.Config.ResyncPeriod, err)
		}
	}
	for _, reg := range []*prometheus.Registry{regA, regB} {
		if v, ok := gaugeValue(t, reg, "autorefresh_cache_paused", map[string]string{"cache": "paused"}); !ok || v != 1 {
			t.Fatalf("paused gauge: %v, %v", v, ok)
		}
		if v, ok := gaugeValue(t, reg, "autorefresh_cache_paused", map[string]string{"cache": "running"}); !ok || v != 0 {
			t.Fatalf("running cache's paused gauge: %v, %v", v, ok)
		}
	}

	// Resumed on B: A's loop takes the cache up again too.
	in, err = b.SetPaused(ctx, "paused", false)
	if err != nil || in.Paused {
		t.Fatalf("resume: %+v, %v", in, err)
	}
	up.progress(t, "p1", 2)
	waitUntil(t, "p2 expired", 10*time.Second, func() bool {
		it, err := a.GetItem(ctx, "paused", "p2")
		return err == nil && it.StateOf() == record.StateExpired
	})
	if n := up.count("p2"); n != 0 {
		t.Fatalf("p2 was sent %d times past its deadline", n)
	}
	waitUntil(t, "the gauges", 10*time.Second, func() bool {
		p, _ := gaugeValue(t, regA, "autorefresh_cache_paused", map[string]string{"cache": "paused"})
		exp, _ := gaugeValue(t, regA, "autorefresh_cache_items_by_state", map[string]string{"cache": "paused", "state": "expired"})
		act, _ := gaugeValue(t, regA, "autorefresh_cache_items_by_state", map[string]string{"cache": "paused", "state": "active"})
		return p == 0 && exp == 1 && act == 1
	})
	if _, err := a.SetPaused(ctx, "nope", true); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("pause of an unknown cache: %v", err)
	}
}
