package servicetest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
)

// lifecycleCases pin down how an item leaves and re-enters the refresh
// (issue 15): deadlines, retries, PATCH and its race with a sync, the
// state filter and counts, and what a restart keeps of all that.
var lifecycleCases = []testCase{
	{"DeadlineExpiresItem", testDeadline},
	{"RetryItem", testRetryItem},
	{"PatchItem", testPatchItem},
	{"PatchWinsOverRacingSync", testPatchRacingSync},
	{"StatesCountedAndFiltered", testStatesFiltered},
	{"RestartKeepsItemState", testRestartKeepsItemState},
}

// testDeadline: an item's deadline is its own ttl, else the cache's
// itemTTL; past it an active item becomes terminal in state "expired"
// within about a period (even one whose upstream asked to be looked at
// long after), and no sync of it starts after it. An item that
// completed first stays completed; one created terminal has no deadline. A
// retry of an expired item with no ttl clears its deadline and syncs it.
func testDeadline(t *testing.T, f Factory) {
	const period = 300 * time.Millisecond
	u := newScriptUpstream(t, map[string]string{
		"own":      `"action": "unchanged"`,
		"cache":    `"action": "unchanged"`,
		"finishes": `"action": "update", "data": {"done": true}, "terminal": true`,
		// Asks to be looked at again long after its deadline: the deadline
		// still wins.
		"far": `"action": "unchanged", "nextSyncAfter": "30s"`,
	})
	c := cfg(u.url, period, true)
	c.ItemTTL = autorefresh.Duration(1500 * time.Millisecond)
	s, ctx := openJobs(t, f, c)
	created := time.Now()
	mk := func(id string, ttl time.Duration, terminal bool) autorefresh.Item {
		it, ok, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: id, Data: json.RawMessage(`{}`), Terminal: terminal, TTL: ttl})
		if err != nil || !ok {
			t.Fatalf("CreateItem %s: created %v, %v", id, ok, err)
		}
		return it
	}
	own := mk("own", 800*time.Millisecond, false)
	cache := mk("cache", 0, false)
	done := mk("done", time.Hour, true)
	mk("finishes", 800*time.Millisecond, false)
	far := mk("far", 800*time.Millisecond, false)
	after := time.Now()
	for _, x := range []struct {
		it  autorefresh.Item
		ttl time.Duration
	}{{own, 800 * time.Millisecond}, {cache, 1500 * time.Millisecond}} {
		if x.it.ExpiresAt.Before(created.Add(x.ttl-clockSlack)) || x.it.ExpiresAt.After(after.Add(x.ttl+clockSlack)) {
			t.Fatalf("%s: expiresAt %s, want %s after its create", x.it.ID, describe(x.it, nil), x.ttl)
		}
	}
	if !done.ExpiresAt.IsZero() || done.StateOf() != record.StateCompleted {
		t.Fatalf("an item created terminal: %s, want completed without a deadline", describe(done, nil))
	}
	waitItem(t, s, "jobs", "finishes", "completed by its sync", func(it autorefresh.Item) bool {
		return it.StateOf() == record.StateCompleted
	})

	deadlines := map[string]time.Time{"own": own.ExpiresAt, "cache": cache.ExpiresAt, "far": far.ExpiresAt}
	for _, id := range []string{"own", "far", "cache"} {
		it := waitItem(t, s, "jobs", id, "state expired", func(it autorefresh.Item) bool {
			return it.StateOf() == record.StateExpired
		})
		seen := time.Now()
		// Within one period of the deadline; a second more for a loaded
		// machine, far below what an item left active would take.
		if late := seen.Sub(it.ExpiresAt); late > period+time.Second {
			t.Fatalf("%s expired %s after its deadline, want within about %s", id, late, period)
		}
		if !it.Terminal || it.NextSyncAt != nil || !near(it.ExpiresAt, deadlines[id], time.Millisecond) {
			t.Fatalf("%s expired: %s, want terminal, no next sync, the deadline kept", id, describe(it, nil))
		}
		snd := u.sends(id)
		if len(snd) == 0 {
			t.Fatalf("%s was never synced before its deadline", id)
		}
		// A sync started before the deadline may arrive a moment after it.
		if last := snd[len(snd)-1]; last.After(it.ExpiresAt.Add(clockSlack)) {
			t.Fatalf("%s was sent %s after its deadline", id, last.Sub(it.ExpiresAt))
		}
	}
	if it := getItem(t, s, "jobs", "finishes"); it.StateOf() != record.StateCompleted {
		t.Fatalf("an item completed before its deadline: %s", describe(it, nil))
	}
	// The expired items are not sent again: "finishes" is done, so watch a
	// live item in the same cache for the cycles.
	ownN, cacheN := u.count("own"), u.count("cache")
	u.set("live", `"action": "unchanged"`)
	mk("live", time.Hour, false)
	waitFor(t, "three syncs of a live item", 15*time.Second, func() bool { return u.count("live") >= 3 })
	if u.count("own") != ownN || u.count("cache") != cacheN {
		t.Fatalf("an expired item was sent again: own %d→%d, cache %d→%d", ownN, u.count("own"), cacheN, u.count("cache"))
	}
	// far asked for 30 s: sent on create only, and expired all the same.
	if n := u.count("far"); n != 1 {
		t.Fatalf("far was sent %d times, want once (on create)", n)
	}

	// A retry without a ttl: active, no deadline (not even the cache's),
	// due now.
	n := u.count("own")
	it, err := s.RetryItem(ctx, "jobs", "own", 0)
	if err != nil {
		t.Fatalf("RetryItem of an expired item: %v", err)
	}
	if it.StateOf() != record.StateActive || it.Terminal || !it.ExpiresAt.IsZero() || it.NextSyncAt == nil || it.NextSyncAt.After(time.Now().Add(clockSlack)) {
		t.Fatalf("retried expired item: %s, want active, no deadline, due now", describe(it, nil))
	}
	waitFor(t, "the retried item synced", 10*time.Second, func() bool { return u.count("own") > n })
}

// testRetryItem: a failed item retried is active with its failures cleared
// and synced at once (the period is an hour: nothing else would send it);
// its deadline is the retry's ttl. An active item retried is only made due
// now. A completed item cannot be retried.
func testRetryItem(t *testing.T, f Factory) {
	u := newScriptUpstream(t, map[string]string{"x": `"action": "error", "error": "bad"`})
	s, ctx := openJobs(t, f, retryCfg(u.url, time.Hour, true, 1, 0))
	mustCreate(t, s, "jobs", "x", `{}`, false)
	failed := waitItem(t, s, "jobs", "x", "failed at its first attempt", func(it autorefresh.Item) bool {
		return it.StateOf() == record.StateFailed
	})
	u.set("x", `"action": "unchanged"`)
	it, err := s.RetryItem(ctx, "jobs", "x", 0)
	if err != nil {
		t.Fatalf("RetryItem of a failed item: %v", err)
	}
	if it.StateOf() != record.StateActive || it.Terminal || it.Attempts != 0 || it.LastError != "" ||
		!it.ExpiresAt.IsZero() || it.Version != failed.Version+1 {
		t.Fatalf("retried failed item: %s, want active, 0 attempts, no error, version %d", describe(it, nil), failed.Version+1)
	}
	if it.NextSyncAt == nil || it.NextSyncAt.After(time.Now().Add(clockSlack)) {
		t.Fatalf("retried failed item is not due now: %s", describe(it, nil))
	}
	waitFor(t, "the retried item synced", 10*time.Second, func() bool { return u.count("x") >= 2 })
	waitItem(t, s, "jobs", "x", "the retry's answer", func(it autorefresh.Item) bool { return it.SyncedAt != nil })
	waitSettled(t, s, "jobs")

	// Active: due now, nothing else changes.
	active := getItem(t, s, "jobs", "x")
	it, err = s.RetryItem(ctx, "jobs", "x", time.Hour)
	if err != nil {
		t.Fatalf("RetryItem of an active item: %v", err)
	}
	if it.Version != active.Version || it.StateOf() != record.StateActive || !it.ExpiresAt.Equal(active.ExpiresAt) {
		t.Fatalf("retry of an active item changed it: %s, was %s", describe(it, nil), describe(active, nil))
	}
	waitFor(t, "the active item synced on retry", 10*time.Second, func() bool { return u.count("x") >= 3 })

	// Failed again, then retried with a ttl.
	waitSettled(t, s, "jobs")
	u.set("x", `"action": "error", "error": "bad again"`)
	if _, err := s.RetryItem(ctx, "jobs", "x", 0); err != nil {
		t.Fatal(err)
	}
	waitItem(t, s, "jobs", "x", "failed again", func(it autorefresh.Item) bool { return it.StateOf() == record.StateFailed })
	before := time.Now()
	it, err = s.RetryItem(ctx, "jobs", "x", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if it.StateOf() != record.StateActive || it.ExpiresAt.Before(before.Add(2*time.Hour-clockSlack)) || it.ExpiresAt.After(time.Now().Add(2*time.Hour+clockSlack)) {
		t.Fatalf("retry with ttl 2h: %s", describe(it, nil))
	}

	mustCreate(t, s, "jobs", "done", `{}`, true)
	_, err = s.RetryItem(ctx, "jobs", "done", 0)
	wantCode(t, "RetryItem of a completed item", err, errs.Conflict)
	if it := getItem(t, s, "jobs", "done"); it.Version != 1 || it.StateOf() != record.StateCompleted {
		t.Fatalf("a refused retry changed the item: %s", describe(it, nil))
	}
	_, err = s.RetryItem(ctx, "jobs", "missing", 0)
	wantCode(t, "RetryItem of a missing item", err, errs.NotFound)
	_, err = s.RetryItem(ctx, "nocache", "x", 0)
	wantCode(t, "RetryItem in a missing cache", err, errs.NotFound)
	_, err = s.RetryItem(ctx, "jobs", "x", -time.Second)
	wantCode(t, "RetryItem with a negative ttl", err, errs.Invalid)
}

// testPatchItem: a PATCH changes data and terminal flag as an update does,
// bumps the version, and honours If-Match; one that leaves the flag alone
// keeps a failed item failed.
func testPatchItem(t *testing.T, f Factory) {
	u := newScriptUpstream(t, map[string]string{"f": `"action": "error", "error": "bad"`})
	s, ctx := openJobs(t, f, retryCfg(u.url, time.Hour, false, 1, 0))
	mustCreate(t, s, "jobs", "a", `{"v": 1}`, false)
	it, err := s.PatchItem(ctx, "jobs", "a", autorefresh.Patch{Data: json.RawMessage(`{"v": 2}`)})
	if err != nil {
		t.Fatalf("PatchItem: %v", err)
	}
	if it.Version != 2 || it.Terminal || it.StateOf() != record.StateActive || !jsonEqual(it.Data, []byte(`{"v": 2}`)) {
		t.Fatalf("patched data: %s", describe(it, nil))
	}
	got := getItem(t, s, "jobs", "a")
	if got.Version != 2 || !jsonEqual(got.Data, []byte(`{"v": 2}`)) {
		t.Fatalf("GetItem after PATCH: %s", describe(got, nil))
	}
	_, err = s.PatchItem(ctx, "jobs", "a", autorefresh.Patch{Data: json.RawMessage(`{"v": 3}`), IfMatch: 1})
	wantCode(t, "PATCH with a stale If-Match", err, errs.PreconditionFailed)
	if got := getItem(t, s, "jobs", "a"); got.Version != 2 || !jsonEqual(got.Data, []byte(`{"v": 2}`)) {
		t.Fatalf("a refused PATCH changed the item: %s", describe(got, nil))
	}
	yes := true
	it, err = s.PatchItem(ctx, "jobs", "a", autorefresh.Patch{Terminal: &yes, IfMatch: 2})
	if err != nil {
		t.Fatalf("PATCH with the right If-Match: %v", err)
	}
	if it.Version != 3 || !it.Terminal || it.StateOf() != record.StateCompleted || it.NextSyncAt != nil || !jsonEqual(it.Data, []byte(`{"v": 2}`)) {
		t.Fatalf("patched terminal: %s, want version 3, completed, no next sync, data kept", describe(it, nil))
	}
	_, err = s.PatchItem(ctx, "jobs", "missing", autorefresh.Patch{Data: json.RawMessage(`{}`)})
	wantCode(t, "PATCH of a missing item", err, errs.NotFound)
	_, err = s.PatchItem(ctx, "nocache", "a", autorefresh.Patch{Data: json.RawMessage(`{}`)})
	wantCode(t, "PATCH in a missing cache", err, errs.NotFound)

	mustCreate(t, s, "jobs", "f", `{"v": 1}`, false)
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	failed := waitItem(t, s, "jobs", "f", "failed", func(it autorefresh.Item) bool { return it.StateOf() == record.StateFailed })
	it, err = s.PatchItem(ctx, "jobs", "f", autorefresh.Patch{Data: json.RawMessage(`{"v": "edited"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if it.StateOf() != record.StateFailed || !it.Terminal || it.Version != failed.Version+1 || !jsonEqual(it.Data, []byte(`{"v": "edited"}`)) {
		t.Fatalf("a PATCH of a failed item's data: %s, want it still failed at version %d", describe(it, nil), failed.Version+1)
	}
}

// testPatchRacingSync: a PATCH that lands while a sync of the item is
// under way wins over that sync's reply, which was computed from the state
// before: neither its data nor its terminal flag is undone, and an error
// reply for the state before is no failure of the patched item.
func testPatchRacingSync(t *testing.T, f Factory) {
	u := newScriptUpstream(t, map[string]string{
		"data": `"action": "update", "data": {"by": "sync"}`,
		"term": `"action": "update", "data": {"by": "sync"}`,
		"err":  `"action": "error", "error": "stale"`,
		"mate": `"action": "update", "data": {"by": "sync"}`,
	})
	s, ctx := openJobs(t, f, cfg(u.url, time.Hour, false))
	for _, id := range []string{"data", "term", "err", "mate"} {
		mustCreate(t, s, "jobs", id, `{"by": "create"}`, false)
	}
	u.park()
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the items sent", 10*time.Second, func() bool {
		return u.count("data") > 0 && u.count("term") > 0 && u.count("err") > 0 && u.count("mate") > 0
	})
	if _, err := s.PatchItem(ctx, "jobs", "data", autorefresh.Patch{Data: json.RawMessage(`{"by": "patch"}`)}); err != nil {
		t.Fatal(err)
	}
	yes := true
	if _, err := s.PatchItem(ctx, "jobs", "term", autorefresh.Patch{Terminal: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PatchItem(ctx, "jobs", "err", autorefresh.Patch{Data: json.RawMessage(`{"by": "patch"}`)}); err != nil {
		t.Fatal(err)
	}
	u.release()
	waitItem(t, s, "jobs", "mate", "the batch mate updated", func(it autorefresh.Item) bool { return it.Version == 2 })
	waitSettled(t, s, "jobs")
	if it := getItem(t, s, "jobs", "data"); !jsonEqual(it.Data, []byte(`{"by": "patch"}`)) {
		t.Fatalf("a sync reply computed before a PATCH undid it: %s", describe(it, nil))
	}
	if it := getItem(t, s, "jobs", "term"); !it.Terminal || it.StateOf() != record.StateCompleted || !jsonEqual(it.Data, []byte(`{"by": "create"}`)) {
		t.Fatalf("a sync reply computed before a terminal PATCH undid it: %s", describe(it, nil))
	}
	if it := getItem(t, s, "jobs", "err"); it.Version != 2 || it.Attempts != 0 || it.LastError != "" || !jsonEqual(it.Data, []byte(`{"by": "patch"}`)) {
		t.Fatalf("an error reply for the state before a PATCH was charged to the patched item: %s", describe(it, nil))
	}
}

// testStatesFiltered: Stats.ByState counts the items in each state, and
// Filter{State} lists exactly the items in that state, with Terminal too.
func testStatesFiltered(t *testing.T, f Factory) {
	const period = 200 * time.Millisecond
	u := newScriptUpstream(t, map[string]string{
		"live": `"action": "unchanged"`,
		"fail": `"action": "error", "error": "bad"`,
		"exp":  `"action": "unchanged"`,
		"fin":  `"action": "update", "data": {}, "terminal": true`,
	})
	s, ctx := openJobs(t, f, retryCfg(u.url, period, true, 1, 0))
	mustCreate(t, s, "jobs", "live", `{}`, false)
	mustCreate(t, s, "jobs", "live2", `{}`, false)
	mustCreate(t, s, "jobs", "done", `{}`, true)
	mustCreate(t, s, "jobs", "fail", `{}`, false)
	mustCreate(t, s, "jobs", "fin", `{}`, false)
	if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "exp", Data: json.RawMessage(`{}`), TTL: 400 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	want := map[record.State][]string{
		record.StateActive:    {"live", "live2"},
		record.StateCompleted: {"done", "fin"},
		record.StateFailed:    {"fail"},
		record.StateExpired:   {"exp"},
	}
	for st, ids := range want {
		for _, id := range ids {
			waitItem(t, s, "jobs", id, "state "+st.String(), func(it autorefresh.Item) bool { return it.StateOf() == st })
		}
	}
	waitFor(t, "the stats to count every state", 10*time.Second, func() bool {
		in, err := s.Info(ctx, "jobs")
		if err != nil {
			return false
		}
		for st, ids := range want {
			if in.Stats.ByState[st] != len(ids) {
				return false
			}
		}
		return true
	})
	list := func(fl autorefresh.Filter) []string {
		t.Helper()
		items, next, err := s.ListItems(ctx, "jobs", "", 100, fl)
		if err != nil || next != "" {
			t.Fatalf("ListItems(%+v): next %q, %v", fl, next, err)
		}
		ids := []string{}
		for _, it := range items {
			ids = append(ids, it.ID)
		}
		return ids
	}
	for st, ids := range want {
		if got := list(autorefresh.Filter{State: st}); !reflect.DeepEqual(got, ids) {
			t.Fatalf("state %s lists %v, want %v", st, got, ids)
		}
	}
	yes, no := true, false
	if got := list(autorefresh.Filter{State: record.StateFailed, Terminal: &yes}); !reflect.DeepEqual(got, []string{"fail"}) {
		t.Fatalf("failed and terminal: %v", got)
	}
	if got := list(autorefresh.Filter{State: record.StateFailed, Terminal: &no}); len(got) != 0 {
		t.Fatalf("failed and not terminal: %v, want none", got)
	}
	if got := list(autorefresh.Filter{Terminal: &no}); !reflect.DeepEqual(got, want[record.StateActive]) {
		t.Fatalf("not terminal: %v, want only the active items", got)
	}
	// Pages of one, filtered by state: the cursor goes on past the items
	// of other states between them.
	var paged []string
	cursor := ""
	for range 10 {
		items, next, err := s.ListItems(ctx, "jobs", cursor, 1, autorefresh.Filter{State: record.StateCompleted})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			paged = append(paged, it.ID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if !reflect.DeepEqual(paged, want[record.StateCompleted]) {
		t.Fatalf("completed in pages of one: %v, want %v", paged, want[record.StateCompleted])
	}
}

// testRestartKeepsItemState: attempts, lastError, state and deadline are
// stored: a restart shows them as they were, and does not bring a failed
// or expired item back into the refresh.
func testRestartKeepsItemState(t *testing.T, f Factory) {
	u := newScriptUpstream(t, map[string]string{
		"err":  `"action": "error", "error": "kaput"`,
		"fail": `"action": "error", "error": "gave up"`,
		"exp":  `"action": "unchanged"`,
		"live": `"action": "unchanged"`,
	})
	o := f(t, Limits{})
	s, stop := o(t)
	ctx := ctxT(t)
	mustPut(t, s, "slow", retryCfg(u.url, time.Hour, false, 5, 0), true)
	mustPut(t, s, "fast", retryCfg(u.url, 200*time.Millisecond, true, 1, 0), true)
	mustCreate(t, s, "slow", "err", `{}`, false)
	if err := s.Sync(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "fast", "fail", `{}`, false)
	for id, ttl := range map[string]time.Duration{"exp": 300 * time.Millisecond, "live": time.Hour} {
		if _, _, err := s.CreateItem(ctx, "fast", autorefresh.NewItem{ID: id, Data: json.RawMessage(`{}`), TTL: ttl}); err != nil {
			t.Fatal(err)
		}
	}
	type kept struct {
		cache, id string
		was       autorefresh.Item
	}
	before := []kept{
		{"slow", "err", waitItem(t, s, "slow", "err", "one failed attempt", func(it autorefresh.Item) bool { return it.Attempts == 1 })},
		{"fast", "fail", waitItem(t, s, "fast", "fail", "failed", func(it autorefresh.Item) bool { return it.StateOf() == record.StateFailed })},
		{"fast", "exp", waitItem(t, s, "fast", "exp", "expired", func(it autorefresh.Item) bool { return it.StateOf() == record.StateExpired })},
	}
	waitSettled(t, s, "fast")
	waitSettled(t, s, "slow")
	stop()

	s, stop = o(t)
	t.Cleanup(stop)
	for _, k := range before {
		id, was := k.id, k.was
		got := getItem(t, s, k.cache, id)
		if got.StateOf() != was.StateOf() || got.Attempts != was.Attempts || got.LastError != was.LastError ||
			got.Terminal != was.Terminal || got.Version != was.Version || !near(got.ExpiresAt, was.ExpiresAt, time.Millisecond) {
			t.Fatalf("%s after a restart: %s, was %s", id, describe(got, nil), describe(was, nil))
		}
		if was.Terminal && got.NextSyncAt != nil {
			t.Fatalf("%s, terminal, has a next sync after a restart: %s", id, describe(got, nil))
		}
	}
	live := getItem(t, s, "fast", "live")
	if live.ExpiresAt.IsZero() || time.Until(live.ExpiresAt) < 50*time.Minute {
		t.Fatalf("live lost its deadline in the restart: %s", describe(live, nil))
	}
	fail, exp := u.count("fail"), u.count("exp")
	base := u.count("live")
	waitFor(t, "three syncs of the live item after the restart", 15*time.Second, func() bool { return u.count("live") >= base+3 })
	if u.count("fail") != fail || u.count("exp") != exp {
		t.Fatalf("a restart brought a terminal item back: fail sent %d→%d, exp %d→%d", fail, u.count("fail"), exp, u.count("exp"))
	}
}
