package servicetest

import (
	"encoding/json"
	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// syncReplyCases cover what a sync reply may carry and how each mode stores it (values PostgreSQL cannot store, late replies for deleted items).
var syncReplyCases = []testCase{
	{"ReplyValueNotStorableRefusedAlone", testReplyUnstorable},
	{"CreateDataNotStorableIsInvalid", testCreateUnstorable},
	{"ResyncPeriodChangeReschedules", testResyncChange},
	{"SyncOfPendingDeleteDropped", testSyncOfPendingDelete},
}

// replyUpstream answers each item of a batch with the entry its id is
// given in replies (raw JSON of the entry, without the id), or leaves it
// out. Its gate can park the calls.
type replyUpstream struct {
	gate
	replies map[string]string

	mu     sync.Mutex
	seen   map[string]int // calls that carried each id
	srvURL string
}

func newReplyUpstream(t *testing.T, replies map[string]string) *replyUpstream {
	u := &replyUpstream{replies: replies, seen: map[string]int{}}
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	t.Cleanup(u.release)
	u.srvURL = srv.URL + "/sync"
	return u
}

func (u *replyUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ids, ok := batchIDs(w, r)
	if !ok {
		return
	}
	u.mu.Lock()
	for _, id := range ids {
		u.seen[id]++
	}
	u.mu.Unlock()
	if !u.pass(r.Context()) {
		return
	}
	var entries []string
	for _, id := range ids {
		if e, ok := u.replies[id]; ok {
			quoted, _ := json.Marshal(id)
			entries = append(entries, `{"id": `+string(quoted)+`, `+e+`}`)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"items": [`+strings.Join(entries, ", ")+`]}`)
}

func (u *replyUpstream) calls(id string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[id]
}

// testReplyUnstorable: a reply entry whose data PostgreSQL's jsonb cannot
// hold (\u0000, an unpaired surrogate, a number out of numeric's range) is
// refused alone, in both modes: the other entries of the same batch are
// applied, the sync is not an error, and the refused items keep their data.
func testReplyUnstorable(t *testing.T, f Factory) {
	up := newReplyUpstream(t, map[string]string{
		"nul":       `"action": "update", "data": {"s": "a\u0000b"}`,
		"surrogate": `"action": "update", "data": {"s": "\ud800"}`,
		"huge":      `"action": "update", "data": {"n": 1e1000000}`,
		"tiny":      `"action": "update", "data": {"n": 1.5e-16383}`,
		"ok":        `"action": "update", "data": {"fine": true}`,
		"terminal":  `"action": "update", "data": {"s": "done"}, "terminal": true`,
	})
	s, _ := open1(t, f, Limits{})
	ctx := ctxT(t)
	// Created without a sync, then synced together: one batch.
	mustPut(t, s, "jobs", cfg(up.srvURL, time.Hour, false), true)
	ids := []string{"huge", "nul", "ok", "surrogate", "terminal", "tiny"}
	for _, id := range ids {
		mustCreate(t, s, "jobs", id, `{"was": "created"}`, false)
	}
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ok", "terminal"} {
		waitFor(t, "the storable entry "+id+" applied", 10*time.Second, func() bool {
			it, err := s.GetItem(ctx, "jobs", id)
			return err == nil && it.Version == 2
		})
	}
	waitFor(t, "the sync done", 10*time.Second, func() bool {
		in, err := s.Info(ctx, "jobs")
		return err == nil && in.Stats.InFlight == 0 && in.Stats.Syncs >= 1
	})
	for _, id := range []string{"huge", "nul", "surrogate", "tiny"} {
		if up.calls(id) == 0 {
			t.Fatalf("%s was never sent to the upstream", id)
		}
		it, err := s.GetItem(ctx, "jobs", id)
		if err != nil {
			t.Fatal(err)
		}
		if it.Version != 1 || !jsonEqual(it.Data, []byte(`{"was": "created"}`)) {
			t.Fatalf("%s: an entry that cannot be stored was applied: %+v", id, *it.Record)
		}
	}
	it, err := s.GetItem(ctx, "jobs", "terminal")
	if err != nil || !it.Terminal || !jsonEqual(it.Data, []byte(`{"s": "done"}`)) {
		t.Fatalf("terminal: %v, %v", it.Record, err)
	}
	in, err := s.Info(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if in.Stats.SyncErrors != 0 {
		t.Fatalf("a refused entry failed the sync: %d sync errors, last %q", in.Stats.SyncErrors, in.Stats.LastError)
	}
}

// testCreateUnstorable: item data that PostgreSQL's jsonb cannot hold is a
// 400 that says why, in both modes, and creates nothing.
func testCreateUnstorable(t *testing.T, f Factory) {
	s, _ := open1(t, f, Limits{})
	ctx := ctxT(t)
	mustPut(t, s, "jobs", cfg(noopUpstream(t), time.Hour, false), true)
	for _, c := range []struct{ data, says string }{
		{`{"s": "a\u0000b"}`, `\u0000`},
		{`{"s\u0000": 1}`, `\u0000`},
		{`["\udc00"]`, "surrogate"},
		{`{"n": 1e1000000}`, "range"},
		{`{"n": 0.` + strings.Repeat("0", 16384) + `1}`, "range"},
	} {
		_, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "x", Data: json.RawMessage(c.data), Terminal: false})
		wantCode(t, "create with data "+c.data[:min(len(c.data), 40)], err, errs.Invalid)
		if msg := errs.MessageOf(err); !strings.Contains(msg, c.says) {
			t.Fatalf("create with data %.40s: %q, want it to say %q", c.data, msg, c.says)
		}
		_, err = s.GetItem(ctx, "jobs", "x")
		wantCode(t, "the refused item", err, errs.NotFound)
	}
	// What can be stored still can.
	mustCreate(t, s, "jobs", "x", `{"s": "\ud83d\ude00 \\u0000", "n": 1e300}`, false)
}

// testResyncChange: a PUT that shortens resyncPeriod applies from the next
// cycle: items scheduled an hour out under the old period are synced soon.
func testResyncChange(t *testing.T, f Factory) {
	_, base := exampleUpstream(t)
	s, _ := open1(t, f, Limits{})
	ctx := ctxT(t)
	url := base + "/sync"
	mustPut(t, s, "jobs", cfg(url, time.Hour, false), true)
	ids := []string{"a", "b", "c"}
	for _, id := range ids {
		mustCreate(t, s, "jobs", id, `{"status": "Not-started"}`, false)
	}
	mustPut(t, s, "jobs", cfg(url, 20*time.Millisecond, false), false)
	for _, id := range ids {
		waitFor(t, id+" synced under the new period", 5*time.Second, func() bool {
			it, err := s.GetItem(ctx, "jobs", id)
			return err == nil && it.Version >= 2 && it.SyncedAt != nil
		})
	}
}

// testSyncOfPendingDelete: an item marked for deletion while its sync is
// under way does not take the sync's result: the README says syncs of an
// item marked for deletion are dropped. Its batch mate, not deleted, does.
func testSyncOfPendingDelete(t *testing.T, f Factory) {
	up := newReplyUpstream(t, map[string]string{
		"doomed": `"action": "update", "data": {"by": "sync"}`,
		"mate":   `"action": "update", "data": {"by": "sync"}`,
	})
	s, _ := open1(t, f, Limits{})
	ctx := ctxT(t)
	// An hour between cycles: the deletion pass does not remove the item
	// during the test.
	mustPut(t, s, "jobs", cfg(up.srvURL, time.Hour, false), true)
	doomed := mustCreate(t, s, "jobs", "doomed", `{"by": "create"}`, false)
	mustCreate(t, s, "jobs", "mate", `{"by": "create"}`, false)
	up.park()
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both items sent", 10*time.Second, func() bool {
		return up.calls("doomed") > 0 && up.calls("mate") > 0
	})
	del, err := s.DeleteItem(ctx, "jobs", "doomed")
	if err != nil || !del.PendingDelete {
		t.Fatalf("DeleteItem: %+v, %v", del, err)
	}
	up.release()
	waitFor(t, "the batch mate updated", 10*time.Second, func() bool {
		it, err := s.GetItem(ctx, "jobs", "mate")
		return err == nil && it.Version == 2
	})
	waitSettled(t, s, "jobs")
	got, err := s.GetItem(ctx, "jobs", "doomed")
	if err != nil {
		t.Fatalf("the pending delete: %v", err)
	}
	want := doomed
	want.PendingDelete = true
	if got.Version != want.Version || !got.PendingDelete || !jsonEqual(got.Data, want.Data) {
		t.Fatalf("a sync result was applied to an item marked for deletion: %+v (pending %v)", *got.Record, got.PendingDelete)
	}
}
