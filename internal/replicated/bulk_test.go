package replicated

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/pgtest"
	"github.com/autorefresh/autorefresh/internal/record"
)

// TestCreateItemsWithBadEntries: one bulk create makes the new items, returns
// the existing ones, answers each bad entry with its own error and the
// entries past the item cap with Capacity, and emits a created event for
// each new item only.
func TestCreateItemsWithBadEntries(t *testing.T) {
	url := pgtest.NewDB(t)
	var evs itemEvents
	reg := prometheus.NewRegistry()
	opts := testOptions(t, url)
	opts.OnEvent, opts.MaxItems, opts.Registerer = evs.onEvent, 5, reg
	s, _ := startService(t, opts)
	ctx := ctxFor(t, 30*time.Second)
	// No sync in the test's time: no event but the creates'.
	cfg := testCfg("http://127.0.0.1:1/sync", time.Hour, time.Second)
	off := false
	cfg.SyncOnCreate = &off
	if _, err := s.Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "old", Data: json.RawMessage(`{"v": "old"}`)}); err != nil {
		t.Fatal(err)
	}
	in := []autorefresh.NewItem{
		{ID: "a", Data: json.RawMessage(`{"v": "a"}`)},
		{ID: "bad/id"},
		{ID: "b", TTL: -time.Second},
		{ID: "old", Data: json.RawMessage(`{"v": "new"}`)},
		{ID: "c", TTL: time.Hour},
		{ID: "a", Data: json.RawMessage(`{"v": "a again"}`)},
		{ID: "d", Terminal: true},
		{ID: "e"},
		{ID: "f"},
		{ID: "g"},
	}
	before := time.Now()
	out, err := s.CreateItems(ctx, "jobs", in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d results for %d entries", len(out), len(in))
	}
	want := []struct {
		created bool
		code    errs.Code
	}{{true, ""}, {false, errs.Invalid}, {false, errs.Invalid}, {false, ""}, {true, ""}, {false, ""},
		{true, ""}, {true, ""}, {false, errs.Capacity}, {false, errs.Capacity}}
	for i, w := range want {
		if out[i].Created != w.created || errs.CodeOf(out[i].Err) != w.code {
			t.Errorf("entry %d (%s): created %v, err %v; want %v, %q", i, in[i].ID, out[i].Created, out[i].Err, w.created, w.code)
		}
		if w.code == "" && (out[i].Item.Record == nil || out[i].Item.ID != in[i].ID) {
			t.Errorf("entry %d (%s): item %+v", i, in[i].ID, out[i].Item.Record)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if !jsonIs(out[3].Item.Data, `{"v": "old"}`) || !jsonIs(out[5].Item.Data, `{"v": "a"}`) {
		t.Fatalf("existing items changed: %s, %s", out[3].Item.Data, out[5].Item.Data)
	}
	if c := out[4].Item; c.ExpiresAt.Before(before.Add(time.Hour)) || c.ExpiresAt.After(time.Now().Add(time.Hour)) || c.NextSyncAt == nil || c.NextSyncAt.After(c.ExpiresAt) {
		t.Fatalf("c's deadline %v, next sync %v", c.ExpiresAt, c.NextSyncAt)
	}
	if d := out[6].Item; !d.Terminal || d.StateOf() != record.StateCompleted || !d.ExpiresAt.IsZero() || d.NextSyncAt != nil {
		t.Fatalf("d: %+v next %v", *d.Record, d.NextSyncAt)
	}
	waitUntil(t, "the created events", 10*time.Second, func() bool { return evs.count(autorefresh.EventCreated) >= 5 })
	for _, id := range []string{"a", "c", "d", "e"} {
		if _, ok := evs.find(id, func(ev autorefresh.Event) bool { return ev.Type == autorefresh.EventCreated }); !ok {
			t.Errorf("no created event for %s", id)
		}
	}
	// "old" at the start, and the four new ones: nothing for the rest.
	if n := evs.count(autorefresh.EventCreated); n != 5 {
		t.Fatalf("%d created events, want 5", n)
	}

	// The request as a whole.
	if _, err := s.CreateItems(ctx, "jobs", nil); errs.CodeOf(err) != errs.Invalid {
		t.Fatalf("empty: %v", err)
	}
	if _, err := s.CreateItems(ctx, "jobs", make([]autorefresh.NewItem, autorefresh.MaxBatchCreate+1)); errs.CodeOf(err) != errs.Invalid {
		t.Fatalf("too many: %v", err)
	}
	if _, err := s.CreateItems(ctx, "nope", in[:1]); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("unknown cache: %v", err)
	}

	// The states as reads, lists, stats and gauges see them.
	page, _, err := s.ListItems(ctx, "jobs", "", 10, autorefresh.Filter{State: record.StateCompleted})
	if err != nil || len(page) != 1 || page[0].ID != "d" {
		t.Fatalf("completed items: %v, %v", page, err)
	}
	page, _, err = s.ListItems(ctx, "jobs", "", 10, autorefresh.Filter{State: record.StateActive})
	if err != nil || len(page) != 4 || page[0].NextSyncAt == nil {
		t.Fatalf("active items: %d, %v", len(page), err)
	}
	info, err := s.Info(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Stats.ByState; got[record.StateActive] != 4 || got[record.StateCompleted] != 1 || info.Stats.Size != 5 {
		t.Fatalf("by state %v, size %d", got, info.Stats.Size)
	}
	if v, ok := gaugeValue(t, reg, "autorefresh_cache_items_by_state", map[string]string{"cache": "jobs", "state": "completed"}); !ok || v != 1 {
		t.Fatalf("completed gauge: %v, %v", v, ok)
	}
	if v, ok := gaugeValue(t, reg, "autorefresh_cache_items_by_state", map[string]string{"cache": "jobs", "state": "failed"}); !ok || v != 0 {
		t.Fatalf("failed gauge: %v, %v", v, ok)
	}
}

// TestCreateItemsAfterAConfigChange: a create after a PUT on another
// replica, which this one has not heard of yet, takes the new itemTTL.
func TestCreateItemsAfterAConfigChange(t *testing.T) {
	url := pgtest.NewDB(t)
	a, b := newService(t, url), newService(t, url)
	ctx := ctxFor(t, 30*time.Second)
	cfg := testCfg("http://127.0.0.1:1/sync", time.Hour, time.Second)
	if _, err := a.Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "before"}); err != nil {
		t.Fatal(err)
	}
	for i, ttl := range []time.Duration{time.Hour, 2 * time.Hour} {
		cfg.ItemTTL = autorefresh.Duration(ttl)
		if _, err := a.Put(ctx, "jobs", cfg); err != nil {
			t.Fatal(err)
		}
		it, _, err := b.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: fmt.Sprint("after", i)})
		if err != nil || it.ExpiresAt.Sub(it.CreatedAt) != ttl {
			t.Fatalf("deadline %v after the create (%v), want %s", it.ExpiresAt.Sub(it.CreatedAt), err, ttl)
		}
	}
	// Deleted and registered again: a new registration, whatever its
	// generation.
	if err := a.Delete(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	cfg.ItemTTL = 0
	if _, err := a.Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	it, _, err := b.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "again"})
	if err != nil || !it.ExpiresAt.IsZero() {
		t.Fatalf("deadline %v in the new registration (%v), want none", it.ExpiresAt, err)
	}
}

// TestItemControlSurvivesARestart: state, attempts, last error, deadline
// and the pause are in the database, not in a replica.
func TestItemControlSurvivesARestart(t *testing.T) {
	url := pgtest.NewDB(t)
	ctx := ctxFor(t, 30*time.Second)
	// Not started: the test claims by hand.
	s := newService(t, url)
	cfg := testCfg("http://127.0.0.1:1/sync", time.Hour, time.Second)
	if _, err := s.Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "x", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	w, batch := claimN(t, ctx, s, 1, cfg, 1)
	failed, _ := batch[0].rec.Fail("upstream down", record.Policy{ResyncPeriod: time.Hour}, time.Now(), 0)
	w.writeBack(ctx, batch, []cache.ItemSyncResponseOf[*record.Record]{{ID: "x", Action: cache.Update, Item: failed}}, false, false, time.Now())
	if _, err := s.SetPaused(ctx, "jobs", true); err != nil {
		t.Fatal(err)
	}
	before, err := s.GetItem(ctx, "jobs", "x")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s2, _ := startService(t, testOptions(t, url))
	after, err := s2.GetItem(ctx, "jobs", "x")
	if err != nil {
		t.Fatal(err)
	}
	if after.Version != 2 || after.Attempts != 1 || after.LastError != "upstream down" || after.StateOf() != record.StateActive ||
		!after.ExpiresAt.Equal(before.ExpiresAt) || after.ExpiresAt.IsZero() || after.NextSyncAt != nil {
		t.Fatalf("after the restart: %+v next %v (before %+v)", *after.Record, after.NextSyncAt, *before.Record)
	}
	if in, err := s2.Info(ctx, "jobs"); err != nil || !in.Paused {
		t.Fatalf("pause lost in the restart: %v, %v", in.Paused, err)
	}
}
