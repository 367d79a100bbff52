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

// raceCases pin down issue 15's rules where they meet a sync under way or
// the item cap: whichever order the two land in, both modes end alike.
var raceCases = []testCase{
	{"DeadlinePassingDuringSync", testDeadlineDuringSync},
	{"RetryDuringFailingSync", testRetryDuringSync},
	{"PauseDuringFailingSync", testPauseDuringSync},
	{"PauseDuringSyncPastDeadline", testPauseDuringSyncPastDeadline},
	{"CreateItemsAtCapacity", testCreateItemsCapacity},
	{"CreateItemsSyncOnCreate", testCreateItemsSyncOnCreate},
}

// testDeadlinePassingDuringSync: an item whose deadline passes while its
// sync is under way ends expired, whether the late reply (an update that
// would make it active again) lands before or after the expiry, and is not
// sent again.
func testDeadlineDuringSync(t *testing.T, f Factory) {
	const period = 200 * time.Millisecond
	u := newScriptUpstream(t, map[string]string{
		"x":    `"action": "update", "data": {"by": "sync"}`,
		"tick": `"action": "unchanged"`,
	})
	s, ctx := openJobs(t, f, cfg(u.url, period, false)) // webhook timeout: 1s
	it, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "x", Data: json.RawMessage(`{}`), TTL: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	u.park()
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "x sent", 10*time.Second, func() bool { return u.count("x") > 0 })
	if u.sends("x")[0].After(it.ExpiresAt) {
		t.Skip("the machine is too slow to send x before its deadline; nothing to race")
	}
	// Released past the deadline, and within the webhook's timeout.
	waitFor(t, "x's deadline to pass", 10*time.Second, func() bool { return time.Now().After(it.ExpiresAt.Add(period / 2)) })
	u.release()
	got := waitItem(t, s, "jobs", "x", "state expired", func(it autorefresh.Item) bool { return it.StateOf() == record.StateExpired })
	if !got.Terminal || got.NextSyncAt != nil {
		t.Fatalf("x expired: %s", describe(got, nil))
	}
	n := u.count("x")
	mustCreate(t, s, "jobs", "tick", `{}`, false)
	waitFor(t, "three syncs of a live item", 15*time.Second, func() bool { return u.count("tick") >= 3 })
	if got := getItem(t, s, "jobs", "x"); got.StateOf() != record.StateExpired || u.count("x") != n {
		t.Fatalf("a late reply brought x back: %s, sent %d times, %d at its expiry", describe(got, nil), u.count("x"), n)
	}
	for _, at := range u.sends("x")[1:] {
		if at.After(it.ExpiresAt.Add(clockSlack)) {
			t.Fatalf("x was sent %s after its deadline", at.Sub(it.ExpiresAt))
		}
	}
}

// testRetryDuringSync: a retry of a failed item is a change the failing
// reply of an older sync cannot undo. Here the item is failed, retried
// (due now, and sent); that sync fails again with maxAttempts 1, so the
// item ends failed, with one more attempt, never more than the policy
// allows.
func testRetryDuringSync(t *testing.T, f Factory) {
	u := newScriptUpstream(t, map[string]string{"x": `"action": "error", "error": "bad"`})
	s, ctx := openJobs(t, f, retryCfg(u.url, time.Hour, true, 1, 0))
	mustCreate(t, s, "jobs", "x", `{}`, false)
	waitItem(t, s, "jobs", "x", "failed", func(it autorefresh.Item) bool { return it.StateOf() == record.StateFailed })
	u.park()
	if _, err := s.RetryItem(ctx, "jobs", "x", 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the retry's sync sent", 10*time.Second, func() bool { return u.count("x") >= 2 })
	// A second retry while that sync is under way: the item is active, so
	// it is only made due; the sync's failure still lands on it.
	if it, err := s.RetryItem(ctx, "jobs", "x", 0); err != nil || it.StateOf() != record.StateActive {
		t.Fatalf("RetryItem of an item being synced: %v, %v", it.Record, err)
	}
	u.release()
	waitItem(t, s, "jobs", "x", "failed again", func(it autorefresh.Item) bool { return it.StateOf() == record.StateFailed })
	waitSettled(t, s, "jobs")
	got := getItem(t, s, "jobs", "x")
	if got.Attempts != 1 || !got.Terminal || got.NextSyncAt != nil {
		t.Fatalf("x failed after a retry with maxAttempts 1: %s, want 1 attempt, terminal", describe(got, nil))
	}
}

// testPauseDuringSync: a pause promises that no item is failed while it
// lasts, so a call under way when the cache is paused, failing after, fails
// none of its items, even at maxAttempts 1; resumed, they fail as usual.
func testPauseDuringSync(t *testing.T, f Factory) {
	u := newScriptUpstream(t, map[string]string{"e": `"action": "error", "error": "bad"`})
	s, ctx := openJobs(t, f, retryCfg(u.url, time.Hour, false, 1, 0))
	mustCreate(t, s, "jobs", "e", `{}`, false)
	mustCreate(t, s, "jobs", "b", `{}`, false)
	u.setMode(reply500)
	u.park()
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the items sent", 10*time.Second, func() bool { return u.count("e") > 0 && u.count("b") > 0 })
	if _, err := s.SetPaused(ctx, "jobs", true); err != nil {
		t.Fatal(err)
	}
	u.release()
	waitSettled(t, s, "jobs")
	waitFor(t, "the failed call counted", 10*time.Second, func() bool {
		in, err := s.Info(ctx, "jobs")
		return err == nil && in.Stats.SyncErrors >= 1 && in.Stats.InFlight == 0
	})
	for _, id := range []string{"e", "b"} {
		if it := getItem(t, s, "jobs", id); it.StateOf() != record.StateActive || it.Attempts != 0 || it.LastError != "" {
			t.Fatalf("%s: a call that failed after the pause failed it: %s", id, describe(it, nil))
		}
	}
	// Resumed, the items are due and fail: an error entry for e, a failed
	// call for b.
	u.setMode(replyEntries)
	if _, err := s.SetPaused(ctx, "jobs", false); err != nil {
		t.Fatal(err)
	}
	_ = s.Sync(ctx, "jobs")
	waitItem(t, s, "jobs", "e", "failed once resumed", func(it autorefresh.Item) bool { return it.StateOf() == record.StateFailed })
}

// testPauseDuringSyncPastDeadline: nor is an item expired while its cache
// is paused, though its deadline passes while a sync of it, begun before
// the pause, is under way and answers after it; resumed, it expires
// without being sent again.
func testPauseDuringSyncPastDeadline(t *testing.T, f Factory) {
	const period = 200 * time.Millisecond
	u := newScriptUpstream(t, map[string]string{"x": `"action": "unchanged"`})
	s, ctx := openJobs(t, f, cfg(u.url, period, false)) // webhook timeout: 1s
	it, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "x", Data: json.RawMessage(`{}`), TTL: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	u.park()
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "x sent", 10*time.Second, func() bool { return u.count("x") > 0 })
	if _, err := s.SetPaused(ctx, "jobs", true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "x's deadline to pass", 10*time.Second, func() bool { return time.Now().After(it.ExpiresAt.Add(period)) })
	u.release()
	waitSettled(t, s, "jobs")
	// A live cache's syncs show the service's cycles going on meanwhile.
	mustPut(t, s, "clock", cfg(u.url, period, true), true)
	mustCreate(t, s, "clock", "tick", `{}`, false)
	waitFor(t, "three periods of the clock", 15*time.Second, func() bool { return u.count("tick") >= 3 })
	if got := getItem(t, s, "jobs", "x"); got.StateOf() != record.StateActive || got.Terminal {
		t.Fatalf("x was expired while its cache was paused: %s", describe(got, nil))
	}
	n := u.count("x")
	if _, err := s.SetPaused(ctx, "jobs", false); err != nil {
		t.Fatal(err)
	}
	waitItem(t, s, "jobs", "x", "expired once resumed", func(it autorefresh.Item) bool { return it.StateOf() == record.StateExpired })
	if u.count("x") != n {
		t.Fatalf("x, past its deadline, was sent once resumed")
	}
}

// testCreateItemsCapacity: at the item cap, the entries of a batch that
// would pass it fail alone with CAPACITY; the others are created, and an
// existing item comes back as ever, needing no room.
func testCreateItemsCapacity(t *testing.T, f Factory) {
	s, _ := open1(t, f, Limits{MaxItems: 3})
	ctx := ctxT(t)
	mustPut(t, s, "jobs", cfg(noopUpstream(t), time.Hour, false), true)
	old := mustCreate(t, s, "jobs", "old", `{}`, false)
	in := []autorefresh.NewItem{{ID: "a"}, {ID: "old"}, {ID: "b"}, {ID: "c"}}
	res, err := s.CreateItems(ctx, "jobs", in)
	if err != nil {
		t.Fatalf("CreateItems at the cap: %v", err)
	}
	if len(res) != len(in) {
		t.Fatalf("%d results for %d entries", len(res), len(in))
	}
	if r := res[1]; r.Err != nil || r.Created || r.Item.Record == nil {
		t.Fatalf("the existing item at the cap: %+v", r)
	}
	sameItem(t, "the existing item at the cap", res[1].Item, old)
	created, full := 0, 0
	for _, i := range []int{0, 2, 3} {
		switch r := res[i]; {
		case r.Err == nil && r.Created && r.Item.ID == in[i].ID:
			created++
			getItem(t, s, "jobs", in[i].ID)
		case errs.CodeOf(r.Err) == errs.Capacity:
			full++
			_, err := s.GetItem(ctx, "jobs", in[i].ID)
			wantCode(t, "an entry refused for capacity", err, errs.NotFound)
		default:
			t.Fatalf("entry %d (%s): %+v, want created or CAPACITY", i, in[i].ID, r)
		}
	}
	if created != 2 || full != 1 {
		t.Fatalf("with room for 2: %d created, %d refused for capacity", created, full)
	}
}

// testCreateItemsSyncOnCreate: items created by a batch are synced on
// create like single ones (the period is an hour: nothing else sends them).
func testCreateItemsSyncOnCreate(t *testing.T, f Factory) {
	u := newScriptUpstream(t, nil)
	s, ctx := openJobs(t, f, cfg(u.url, time.Hour, true))
	var in []autorefresh.NewItem
	for i := range 5 {
		in = append(in, autorefresh.NewItem{ID: fmt.Sprint("b", i), Data: json.RawMessage(`{}`)})
	}
	in = append(in, autorefresh.NewItem{ID: "done", Terminal: true})
	if _, err := s.CreateItems(ctx, "jobs", in); err != nil {
		t.Fatal(err)
	}
	for _, n := range in[:5] {
		waitFor(t, n.ID+" synced on create", 10*time.Second, func() bool { return u.count(n.ID) > 0 })
	}
	// The terminal entry is never sent; the others' syncs show the batch
	// was handled.
	waitSettled(t, s, "jobs")
	if n := u.count("done"); n != 0 {
		t.Fatalf("an item created terminal by a batch was sent %d times", n)
	}
}
