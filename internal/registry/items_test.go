package registry

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/internal/servicetest"
	"github.com/autorefresh/autorefresh/internal/store"
)

// startClocked runs a registry on a fake clock, in memory or with a
// journal on db (restored from it), until the test ends or stop is called.
func startClocked(t *testing.T, clk *testingclock.FakeClock, db store.Store) (*Registry, *prometheus.Registry, func()) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts := Options{Registerer: reg, Logger: zap.NewNop(), Egress: &egress.Policy{AllowPrivate: true}, Clock: clk}
	stopJournal := func() {}
	if db != nil {
		journal := store.NewJournal(db, zap.NewNop())
		jctx, cancel := context.WithCancel(context.Background())
		go journal.Run(jctx)
		stopJournal = func() { cancel(); <-journal.Done() }
		opts.Journal = journal
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if db != nil {
		states, err := db.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Restore(states); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			r.Wait()
			stopJournal()
		}
	}
	t.Cleanup(stop)
	return r, reg, stop
}

func fakeClock() *testingclock.FakeClock {
	return testingclock.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCreateItemsAnswersEachEntry(t *testing.T) {
	r, _ := newRegistry(t, 0)
	if _, err := r.Put(bg, "jobs", cfg(nil)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.CreateItem(bg, "jobs", autorefresh.NewItem{ID: "old", Data: json.RawMessage(`1`)}); err != nil {
		t.Fatal(err)
	}
	res, err := r.CreateItems(bg, "jobs", []autorefresh.NewItem{
		{ID: "a", Data: json.RawMessage(`{"x":1}`)},
		{ID: "bad id"},
		{ID: "old", Data: json.RawMessage(`2`)},
		{ID: "ttl", TTL: -time.Second},
		{ID: "done", Terminal: true},
		{ID: "a", Data: json.RawMessage(`{"x":2}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 6 {
		t.Fatalf("%d results", len(res))
	}
	if !res[0].Created || res[0].Err != nil || string(res[0].Item.Data) != `{"x":1}` || res[0].Item.Version != 1 {
		t.Fatalf("a: %+v", res[0])
	}
	if errs.CodeOf(res[1].Err) != errs.Invalid || errs.CodeOf(res[3].Err) != errs.Invalid {
		t.Fatalf("invalid entries: %v, %v", res[1].Err, res[3].Err)
	}
	if res[2].Created || string(res[2].Item.Data) != `1` {
		t.Fatalf("old: %+v", res[2])
	}
	if !res[4].Created || res[4].Item.StateOf() != record.StateCompleted {
		t.Fatalf("done: %+v", res[4])
	}
	if res[5].Created || string(res[5].Item.Data) != `{"x":1}` {
		t.Fatalf("a again: %+v", res[5])
	}
	for _, n := range []int{0, autorefresh.MaxBatchCreate + 1} {
		if _, err := r.CreateItems(bg, "jobs", make([]autorefresh.NewItem, n)); errs.CodeOf(err) != errs.Invalid {
			t.Fatalf("%d items: %v", n, err)
		}
	}
	if _, err := r.CreateItems(bg, "nope", []autorefresh.NewItem{{ID: "a"}}); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("unknown cache: %v", err)
	}
	info, _ := r.Info(bg, "jobs")
	if info.Stats.ByState[record.StateActive] != 2 || info.Stats.ByState[record.StateCompleted] != 1 {
		t.Fatalf("by state: %v", info.Stats.ByState)
	}
}

func TestCreateItemsFailsEntriesPastTheCapacity(t *testing.T) {
	r := startRegistry(t, Options{Registerer: prometheus.NewRegistry(), Logger: zap.NewNop(), MaxItems: 2})
	if _, err := r.Put(bg, "jobs", cfg(nil)); err != nil {
		t.Fatal(err)
	}
	res, err := r.CreateItems(bg, "jobs", []autorefresh.NewItem{{ID: "a"}, {ID: "b"}, {ID: "c"}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[1].Err != nil || errs.CodeOf(res[2].Err) != errs.Capacity {
		t.Fatalf("results: %+v", res)
	}
}

func TestPatchItem(t *testing.T) {
	r, _ := newRegistry(t, 0)
	if _, err := r.Put(bg, "jobs", cfg(nil)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.CreateItem(bg, "jobs", autorefresh.NewItem{ID: "a", Data: json.RawMessage(`1`)}); err != nil {
		t.Fatal(err)
	}
	_, err := r.PatchItem(bg, "jobs", "a", autorefresh.Patch{Data: json.RawMessage(`2`), IfMatch: 7})
	if errs.CodeOf(err) != errs.PreconditionFailed || !strings.Contains(err.Error(), "version 1") {
		t.Fatalf("stale If-Match: %v", err)
	}
	done := true
	it, err := r.PatchItem(bg, "jobs", "a", autorefresh.Patch{Data: json.RawMessage(`2`), Terminal: &done, IfMatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if it.Version != 2 || string(it.Data) != `2` || it.StateOf() != record.StateCompleted || it.NextSyncAt != nil {
		t.Fatalf("patched: %+v", it)
	}
	if got, _ := r.GetItem(bg, "jobs", "a"); got.Version != 2 {
		t.Fatalf("GET after PATCH: %+v", got)
	}
	if _, err := r.PatchItem(bg, "jobs", "zz", autorefresh.Patch{}); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("unknown item: %v", err)
	}
	if _, err := r.PatchItem(bg, "jobs", "a", autorefresh.Patch{Data: json.RawMessage(`{`)}); errs.CodeOf(err) != errs.Invalid {
		t.Fatalf("bad data: %v", err)
	}
	info, _ := r.Info(bg, "jobs")
	if info.Stats.ByState[record.StateCompleted] != 1 || info.Stats.ByState[record.StateActive] != 0 {
		t.Fatalf("by state: %v", info.Stats.ByState)
	}
}

func TestItemsExpireAtTheirDeadlineAndRetryRevivesThem(t *testing.T) {
	clk := fakeClock()
	r, reg, _ := startClocked(t, clk, nil)
	if _, err := r.Put(bg, "jobs", cfg(func(c *autorefresh.Config) { c.ItemTTL = autorefresh.Duration(time.Minute) })); err != nil {
		t.Fatal(err)
	}
	it, _, err := r.CreateItem(bg, "jobs", autorefresh.NewItem{ID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.Now().Add(time.Minute); !it.ExpiresAt.Equal(want) {
		t.Fatalf("ExpiresAt = %v, want %v", it.ExpiresAt, want)
	}
	if it.NextSyncAt == nil || !it.NextSyncAt.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("NextSyncAt = %v, want the next tick", it.NextSyncAt)
	}
	if _, _, err := r.CreateItem(bg, "jobs", autorefresh.NewItem{ID: "done", Terminal: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RetryItem(bg, "jobs", "done", 0); errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("retry of a completed item: %v", err)
	}
	clk.Step(time.Minute)
	waitUntil(t, "the expiry", func() bool {
		got, _ := r.GetItem(bg, "jobs", "a")
		return got.StateOf() == record.StateExpired
	})
	got, _ := r.GetItem(bg, "jobs", "a")
	if got.Version != 2 || !got.Terminal || got.NextSyncAt != nil {
		t.Fatalf("expired: %+v", got)
	}
	if v := testutil.ToFloat64(gaugeOf(t, reg, "expired")); v != 1 {
		t.Fatalf("items_by_state{expired} = %v", v)
	}
	it, err = r.RetryItem(bg, "jobs", "a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if it.StateOf() != record.StateActive || it.Version != 3 || !it.ExpiresAt.Equal(clk.Now().Add(time.Hour)) ||
		it.NextSyncAt == nil || !it.NextSyncAt.Equal(clk.Now()) {
		t.Fatalf("retried: %+v (next %v)", it, it.NextSyncAt)
	}
	if _, err := r.RetryItem(bg, "jobs", "a", -1); errs.CodeOf(err) != errs.Invalid {
		t.Fatalf("negative ttl: %v", err)
	}
}

// gaugeOf is the collector of one autorefresh_cache_items_by_state series
// of the cache jobs.
func gaugeOf(t *testing.T, reg *prometheus.Registry, state string) prometheus.Collector {
	t.Helper()
	return collectorFunc(func(ch chan<- prometheus.Metric) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "autorefresh_cache_items_by_state" {
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["cache"] == "jobs" && labels["state"] == state {
					ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("g", "g", nil, nil), prometheus.GaugeValue, m.GetGauge().GetValue())
				}
			}
		}
	})
}

type collectorFunc func(chan<- prometheus.Metric)

func (f collectorFunc) Describe(chan<- *prometheus.Desc)    {}
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

func TestPauseIsDurableAndKeptByAPut(t *testing.T) {
	dir := t.TempDir()
	db, err := store.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	clk := fakeClock()
	r, reg, stop := startClocked(t, clk, db)
	if _, err := r.Put(bg, "jobs", cfg(nil)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.CreateItem(bg, "jobs", autorefresh.NewItem{ID: "a", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	info, err := r.SetPaused(bg, "jobs", true)
	if err != nil || !info.Paused {
		t.Fatalf("SetPaused: %+v, %v", info, err)
	}
	if it, _ := r.GetItem(bg, "jobs", "a"); it.NextSyncAt != nil {
		t.Fatalf("NextSyncAt while paused: %v", it.NextSyncAt)
	}
	if v := testutil.ToFloat64(pausedGauge(t, reg)); v != 1 {
		t.Fatalf("autorefresh_cache_paused = %v", v)
	}
	if _, err := r.Put(bg, "jobs", cfg(func(c *autorefresh.Config) { c.Size = 10 })); err != nil {
		t.Fatal(err)
	}
	if info, _ := r.Info(bg, "jobs"); !info.Paused || info.Config.Size != 10 {
		t.Fatalf("after a PUT: %+v", info)
	}
	if _, err := r.SetPaused(bg, "nope", true); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("unknown cache: %v", err)
	}
	stop()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = store.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r, reg, _ = startClocked(t, clk, db)
	info, err = r.Info(bg, "jobs")
	if err != nil || !info.Paused || info.Stats.ByState[record.StateActive] != 1 {
		t.Fatalf("after a restart: %+v, %v", info, err)
	}
	it, _ := r.GetItem(bg, "jobs", "a")
	if !it.ExpiresAt.Equal(clk.Now().Add(time.Hour)) || it.NextSyncAt != nil {
		t.Fatalf("item after a restart: %+v", it)
	}
	if info, err = r.SetPaused(bg, "jobs", false); err != nil || info.Paused {
		t.Fatalf("resume: %+v, %v", info, err)
	}
	if it, _ := r.GetItem(bg, "jobs", "a"); it.NextSyncAt == nil {
		t.Fatal("no NextSyncAt once resumed")
	}
	if err := r.Delete(bg, "jobs"); err != nil {
		t.Fatal(err)
	}
	if s := servicetest.SeriesOf(t, reg, "jobs"); len(s) > 0 {
		t.Fatalf("the deleted cache left series behind: %v", s)
	}
}

func pausedGauge(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	return collectorFunc(func(ch chan<- prometheus.Metric) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "autorefresh_cache_paused" {
				for _, m := range mf.GetMetric() {
					ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("g", "g", nil, nil), prometheus.GaugeValue, m.GetGauge().GetValue())
				}
			}
		}
	})
}

func TestListItemsByState(t *testing.T) {
	r, _ := newRegistry(t, 0)
	if _, err := r.Put(bg, "jobs", cfg(nil)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []autorefresh.NewItem{{ID: "a"}, {ID: "b", Terminal: true}, {ID: "c"}} {
		if _, _, err := r.CreateItem(bg, "jobs", n); err != nil {
			t.Fatal(err)
		}
	}
	page, _, err := r.ListItems(bg, "jobs", "", 10, autorefresh.Filter{State: record.StateActive})
	if err != nil || len(page) != 2 || page[0].ID != "a" || page[1].ID != "c" {
		t.Fatalf("active: %v, %v", page, err)
	}
	page, _, _ = r.ListItems(bg, "jobs", "", 10, autorefresh.Filter{State: record.StateCompleted})
	if len(page) != 1 || page[0].ID != "b" {
		t.Fatalf("completed: %v", page)
	}
}

// TestADeadlinePassedWhileStoppedExpiresAtTheStart: a restart brings the
// deadline back with the record, and an item past it is expired at once
// rather than synced.
func TestADeadlinePassedWhileStoppedExpiresAtTheStart(t *testing.T) {
	dir := t.TempDir()
	db, err := store.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	clk := fakeClock()
	r, _, stop := startClocked(t, clk, db)
	if _, err := r.Put(bg, "jobs", cfg(nil)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.CreateItem(bg, "jobs", autorefresh.NewItem{ID: "a", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.CreateItem(bg, "jobs", autorefresh.NewItem{ID: "b", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	clk.Step(2 * time.Minute)
	db, err = store.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r, _, _ = startClocked(t, clk, db)
	waitUntil(t, "the expiry", func() bool {
		it, _ := r.GetItem(bg, "jobs", "a")
		return it.StateOf() == record.StateExpired
	})
	b, _ := r.GetItem(bg, "jobs", "b")
	if b.StateOf() != record.StateActive || b.NextSyncAt == nil || !b.NextSyncAt.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("b: %+v, next %v", b.Record, b.NextSyncAt)
	}
}

// TestPatchRetryAndExpiryAreUpdatedEvents: each change raises an Updated
// event that carries the new record.
func TestPatchRetryAndExpiryAreUpdatedEvents(t *testing.T) {
	clk := fakeClock()
	events := make(chan autorefresh.Event, 16)
	r := startRegistry(t, Options{Registerer: prometheus.NewRegistry(), Logger: zap.NewNop(), Clock: clk,
		OnEvent: func(_ string, ev autorefresh.Event) { events <- ev }})
	if _, err := r.Put(bg, "jobs", cfg(nil)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.CreateItem(bg, "jobs", autorefresh.NewItem{ID: "a", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	next := func(want record.State, version int64) {
		t.Helper()
		select {
		case ev := <-events:
			if ev.Type != autorefresh.EventUpdated || ev.Item.StateOf() != want || ev.Item.Version != version {
				t.Fatalf("event %v %+v, want updated %v v%d", ev.Type, ev.Item, want, version)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event for %v", want)
		}
	}
	<-events // created
	if _, err := r.PatchItem(bg, "jobs", "a", autorefresh.Patch{Data: json.RawMessage(`2`)}); err != nil {
		t.Fatal(err)
	}
	next(record.StateActive, 2)
	clk.Step(time.Minute)
	next(record.StateExpired, 3)
	if _, err := r.RetryItem(bg, "jobs", "a", 0); err != nil {
		t.Fatal(err)
	}
	next(record.StateActive, 4)
}
