package servicetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
)

// controlCases pin down the cache-wide controls of issue 15: batch creates
// and pausing.
var controlCases = []testCase{
	{"CreateItemsPerEntry", testCreateItems},
	{"CreateItemsBounds", testCreateItemsBounds},
	{"PauseStopsRefreshOnly", testPause},
}

// testCreateItems: one result per entry, in order; a bad entry fails alone;
// an existing item comes back unchanged with created false, as does the
// second entry of an id given twice; each entry's ttl and terminal flag
// apply to it.
func testCreateItems(t *testing.T, f Factory) {
	s, ctx := openJobs(t, f, cfg(noopUpstream(t), time.Hour, false))
	old := mustCreate(t, s, "jobs", "old", `{"was": "here"}`, false)
	before := time.Now()
	in := []autorefresh.NewItem{
		{ID: "n1", Data: json.RawMessage(`{"n": 1}`)},
		{ID: "a b", Data: json.RawMessage(`{}`)},
		{ID: "old", Data: json.RawMessage(`{"was": "replaced"}`)},
		{ID: "n2", Data: json.RawMessage(`{"n": 2}`), Terminal: true},
		{ID: "n3", TTL: time.Hour},
		{ID: "n1", Data: json.RawMessage(`{"n": "again"}`)},
		{ID: "n4", Data: json.RawMessage(`{"s": "a\u0000b"}`)},
		{ID: "n5", TTL: -time.Second},
	}
	res, err := s.CreateItems(ctx, "jobs", in)
	if err != nil {
		t.Fatalf("CreateItems: %v", err)
	}
	after := time.Now()
	if len(res) != len(in) {
		t.Fatalf("%d results for %d entries", len(res), len(in))
	}
	ok := func(i int, created bool) autorefresh.Item {
		t.Helper()
		r := res[i]
		if r.Err != nil || r.Item.Record == nil || r.Item.ID != in[i].ID || r.Created != created {
			t.Fatalf("entry %d (%s): %+v, want item %s created %v", i, in[i].ID, r, in[i].ID, created)
		}
		return r.Item
	}
	n1 := ok(0, true)
	if n1.Version != 1 || !jsonEqual(n1.Data, []byte(`{"n": 1}`)) || n1.StateOf() != record.StateActive || !n1.ExpiresAt.IsZero() {
		t.Fatalf("n1: %s", describe(n1, nil))
	}
	for _, i := range []int{1, 6, 7} {
		if res[i].Err == nil {
			t.Fatalf("entry %d (%s) was accepted: %+v", i, in[i].ID, res[i])
		}
		wantCode(t, fmt.Sprintf("entry %d (%s)", i, in[i].ID), res[i].Err, errs.Invalid)
		_, err := s.GetItem(ctx, "jobs", in[i].ID)
		wantCode(t, "GetItem of refused entry "+in[i].ID, err, errs.NotFound)
	}
	sameItem(t, "the existing item", ok(2, false), old)
	if n2 := ok(3, true); !n2.Terminal || n2.StateOf() != record.StateCompleted {
		t.Fatalf("n2, created terminal: %s", describe(n2, nil))
	}
	n3 := ok(4, true)
	if n3.ExpiresAt.Before(before.Add(time.Hour-clockSlack)) || n3.ExpiresAt.After(after.Add(time.Hour+clockSlack)) || !jsonEqual(n3.Data, []byte("null")) {
		t.Fatalf("n3 with ttl 1h: %s", describe(n3, nil))
	}
	sameItem(t, "an id given twice, second entry", ok(5, false), n1)
	for _, i := range []int{0, 3, 4} {
		sameItem(t, "GetItem of created "+in[i].ID, getItem(t, s, "jobs", in[i].ID), res[i].Item)
	}
	if got := getItem(t, s, "jobs", "old"); !jsonEqual(got.Data, []byte(`{"was": "here"}`)) {
		t.Fatalf("a batch create replaced an existing item: %s", got.Data)
	}
	waitFor(t, "the size to count the created items", 10*time.Second, func() bool {
		in, err := s.Info(ctx, "jobs")
		return err == nil && in.Stats.Size == 4
	})
}

// testCreateItemsBounds: 1 to MaxBatchCreate entries; an empty or oversized
// request, or one for a missing cache, fails as a whole and creates
// nothing; a full batch of MaxBatchCreate is created.
func testCreateItemsBounds(t *testing.T, f Factory) {
	s, ctx := openJobs(t, f, cfg(noopUpstream(t), time.Hour, false))
	batch := func(n int) []autorefresh.NewItem {
		out := make([]autorefresh.NewItem, n)
		for i := range out {
			out[i] = autorefresh.NewItem{ID: fmt.Sprintf("item-%04d", i), Data: json.RawMessage(fmt.Sprintf(`{"i": %d}`, i))}
		}
		return out
	}
	_, err := s.CreateItems(ctx, "jobs", nil)
	wantCode(t, "CreateItems of no items", err, errs.Invalid)
	_, err = s.CreateItems(ctx, "jobs", batch(autorefresh.MaxBatchCreate+1))
	if c := errs.CodeOf(err); c != errs.Invalid && c != errs.TooLarge {
		t.Fatalf("CreateItems of %d items: %v (code %q), want INVALID or TOO_LARGE", autorefresh.MaxBatchCreate+1, err, c)
	}
	_, err = s.GetItem(ctx, "jobs", "item-0000")
	wantCode(t, "an item of the refused batch", err, errs.NotFound)
	_, err = s.CreateItems(ctx, "nocache", batch(1))
	wantCode(t, "CreateItems in a missing cache", err, errs.NotFound)

	res, err := s.CreateItems(ctx, "jobs", batch(autorefresh.MaxBatchCreate))
	if err != nil {
		t.Fatalf("CreateItems of %d items: %v", autorefresh.MaxBatchCreate, err)
	}
	if len(res) != autorefresh.MaxBatchCreate {
		t.Fatalf("%d results", len(res))
	}
	for i, r := range res {
		if r.Err != nil || !r.Created || r.Item.Record == nil || r.Item.ID != fmt.Sprintf("item-%04d", i) {
			t.Fatalf("entry %d: %+v", i, r)
		}
	}
	in, err := s.Info(ctx, "jobs")
	if err != nil || in.Stats.Size != autorefresh.MaxBatchCreate {
		t.Fatalf("size after a full batch: %+v, %v", in.Stats, err)
	}
	it := getItem(t, s, "jobs", "item-0999")
	if !jsonEqual(it.Data, []byte(`{"i": 999}`)) {
		t.Fatalf("item-0999: %s", it.Data)
	}
}

// testPause: a paused cache makes no webhook call, by its schedule, on a
// create or on Sync, and fails or expires nothing; its items show no next
// sync; reads, creates, PATCHes and deletes go on; the pause survives a
// PUT of a new config and a restart. Resumed, it syncs again, and an item whose deadline passed
// while paused expires without being sent. An unpaused cache on the same
// upstream is the clock that shows time passing.
func testPause(t *testing.T, f Factory) {
	const period = 200 * time.Millisecond
	u := newScriptUpstream(t, map[string]string{
		"tick": `"action": "unchanged"`,
		"p":    `"action": "unchanged"`,
		"f":    `"action": "error", "error": "bad"`,
		"e":    `"action": "unchanged"`,
		"new":  `"action": "unchanged"`,
	})
	o := f(t, Limits{})
	s, stop := o(t)
	ctx := ctxT(t)
	mustPut(t, s, "paused", retryCfg(u.url, period, true, 1, 0), true)
	in, err := s.SetPaused(ctx, "paused", true)
	if err != nil || !in.Paused || in.Name != "paused" {
		t.Fatalf("SetPaused(true): %+v, %v", in, err)
	}
	if in, err := s.Info(ctx, "paused"); err != nil || !in.Paused {
		t.Fatalf("Info of a paused cache: paused %v, %v", in.Paused, err)
	}
	mustCreate(t, s, "paused", "p", `{"v": 1}`, false)
	mustCreate(t, s, "paused", "f", `{}`, false)
	e, _, err := s.CreateItem(ctx, "paused", autorefresh.NewItem{ID: "e", Data: json.RawMessage(`{}`), TTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p", "f", "e"} {
		if it := getItem(t, s, "paused", id); it.NextSyncAt != nil {
			t.Fatalf("%s in a paused cache has a next sync: %s", id, describe(it, nil))
		}
	}
	mustPut(t, s, "clock", cfg(u.url, period, true), true)
	mustCreate(t, s, "clock", "tick", `{}`, false)
	// ticks waits for n more syncs of the clock's item, and past at.
	ticks := func(what string, n int, at time.Time) {
		t.Helper()
		base := u.count("tick")
		waitFor(t, what, 15*time.Second, func() bool { return u.count("tick") >= base+n && time.Now().After(at) })
	}
	ticks("the clock past e's deadline and three periods", 3, e.ExpiresAt.Add(3*period))
	_ = s.Sync(ctx, "paused") // may refuse; must not call the webhook either way
	ticks("two more periods after a Sync", 2, time.Time{})
	quiet := func(when string) {
		t.Helper()
		for _, id := range []string{"p", "f", "e", "new"} {
			if n := u.count(id); n != 0 {
				t.Fatalf("%s: %s of a paused cache was sent %d times", when, id, n)
			}
			it, err := s.GetItem(ctx, "paused", id)
			if errs.CodeOf(err) == errs.NotFound && id == "new" {
				continue
			}
			if err != nil || it.StateOf() != record.StateActive || it.Attempts != 0 || it.NextSyncAt != nil {
				t.Fatalf("%s: %s in a paused cache: %s, want active, untouched, no next sync", when, id, describe(it, err))
			}
		}
	}
	quiet("while paused")

	// Writes go on while paused.
	mustCreate(t, s, "paused", "new", `{}`, false)
	if _, err := s.PatchItem(ctx, "paused", "p", autorefresh.Patch{Data: json.RawMessage(`{"v": 2}`)}); err != nil {
		t.Fatalf("PATCH in a paused cache: %v", err)
	}
	mustCreate(t, s, "paused", "gone", `{}`, false)
	if _, err := s.DeleteItem(ctx, "paused", "gone"); err != nil {
		t.Fatalf("DeleteItem in a paused cache: %v", err)
	}
	if items, _, err := s.ListItems(ctx, "paused", "", 100, autorefresh.Filter{State: record.StateActive}); err != nil || len(items) < 4 {
		t.Fatalf("ListItems in a paused cache: %d items, %v", len(items), err)
	}
	in, err = s.Info(ctx, "paused")
	if err != nil || in.Stats.ByState[record.StateActive] < 4 || in.Stats.ByState[record.StateFailed] != 0 || in.Stats.ByState[record.StateExpired] != 0 {
		t.Fatalf("stats of a paused cache: by state %v, %v", in.Stats.ByState, err)
	}
	// A new config keeps the pause: pausing is not part of the config.
	mustPut(t, s, "paused", retryCfg(u.url, period/2, true, 1, 0), false)
	if in, err := s.Info(ctx, "paused"); err != nil || !in.Paused {
		t.Fatalf("after a PUT of a new config: paused %v, %v; want still paused", in.Paused, err)
	}
	ticks("two periods after the writes and the PUT", 2, time.Time{})
	quiet("after writes while paused")

	stop()
	s, stop = o(t)
	t.Cleanup(stop)
	if in, err := s.Info(ctx, "paused"); err != nil || !in.Paused {
		t.Fatalf("after a restart: paused %v, %v; want still paused", in.Paused, err)
	}
	ticks("three periods after the restart", 3, time.Time{})
	quiet("after a restart")

	in, err = s.SetPaused(ctx, "paused", false)
	if err != nil || in.Paused {
		t.Fatalf("SetPaused(false): paused %v, %v", in.Paused, err)
	}
	waitItem(t, s, "paused", "e", "expired once resumed", func(it autorefresh.Item) bool { return it.StateOf() == record.StateExpired })
	waitItem(t, s, "paused", "f", "failed once resumed", func(it autorefresh.Item) bool { return it.StateOf() == record.StateFailed })
	waitItem(t, s, "paused", "p", "synced once resumed", func(it autorefresh.Item) bool { return it.SyncedAt != nil && it.NextSyncAt != nil })
	waitFor(t, "new synced once resumed", 10*time.Second, func() bool { return u.count("new") > 0 })
	if n := u.count("e"); n != 0 {
		t.Fatalf("an item past its deadline was sent %d times once resumed, want expired unsent", n)
	}
	if p := getItem(t, s, "paused", "p"); !jsonEqual(p.Data, []byte(`{"v": 2}`)) {
		t.Fatalf("the PATCH made while paused was lost: %s", describe(p, nil))
	}

	_, err = s.SetPaused(ctx, "nocache", true)
	wantCode(t, "SetPaused of a missing cache", err, errs.NotFound)
}
