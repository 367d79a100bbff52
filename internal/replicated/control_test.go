package replicated

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/pgtest"
	"github.com/autorefresh/autorefresh/internal/record"
)

// itemEvents keeps the item events one replica reports, records included.
type itemEvents struct {
	mu  sync.Mutex
	evs []autorefresh.Event
}

func (e *itemEvents) onEvent(_ string, ev autorefresh.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
}

// find returns the first event of id that passes ok.
func (e *itemEvents) find(id string, ok func(autorefresh.Event) bool) (autorefresh.Event, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.evs {
		if ev.ID == id && ok(ev) {
			return ev, true
		}
	}
	return autorefresh.Event{}, false
}

func (e *itemEvents) count(typ autorefresh.EventType) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// itemError is an upstream's item-level error, as the webhook syncer labels
// it.
type itemError struct{}

func (itemError) Error() string           { return "the upstream could not answer for the item" }
func (itemError) SyncErrorReason() string { return "item_error" }

// rowOf reads what the write-back and the controls keep of an item that the
// API does not show.
func rowOf(t *testing.T, ctx context.Context, s *Service, id string) (epoch int64, next time.Time, owner *string) {
	t.Helper()
	if err := s.pool.QueryRow(ctx, "SELECT epoch, next_sync_at, lease_owner FROM items WHERE id = $1", id).Scan(&epoch, &next, &owner); err != nil {
		t.Fatal(err)
	}
	return epoch, next, owner
}

// TestWriteBackWritesTheSyncersRecords: the records the syncer returns are
// written as they are (version, data, state, attempts, last error), for a
// failed call too; each item's next sync is its own wait, else the resync
// period, never past its deadline; item errors are counted under their
// reason.
func TestWriteBackWritesTheSyncersRecords(t *testing.T) {
	url := pgtest.NewDB(t)
	s := newService(t, url)
	ctx := ctxFor(t, 30*time.Second)
	cfg := testCfg("http://127.0.0.1:1/sync", time.Hour, time.Second)
	if _, err := s.Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	for _, in := range []autorefresh.NewItem{{ID: "failing"}, {ID: "paced"}, {ID: "plain"}, {ID: "short", TTL: time.Minute}} {
		if _, _, err := s.CreateItem(ctx, "jobs", in); err != nil {
			t.Fatal(err)
		}
	}
	w, batch := claimN(t, ctx, s, 1, cfg, 4)
	pol := record.Policy{ResyncPeriod: time.Hour, MaxAttempts: 2}
	now := time.Now().UTC()
	byID := map[string]*claimed{}
	for _, c := range batch {
		byID[c.rec.ID] = c
	}
	failed, wait := byID["failing"].rec.Fail("upstream said 500", pol, now, 0)
	// The upstream answers a failed batch; the syncer returns the failed
	// attempts with its error, and an item error for one of them.
	w.sync = func(context.Context, cache.BatchOf[*record.Record]) ([]cache.ItemSyncResponseOf[*record.Record], error) {
		return []cache.ItemSyncResponseOf[*record.Record]{
			{ID: "failing", Action: cache.Update, Item: failed, NextSyncAfter: wait, Err: itemError{}},
			{ID: "paced", Action: cache.Unchanged, NextSyncAfter: 10 * time.Minute},
			{ID: "short", Action: cache.Unchanged, NextSyncAfter: 2 * time.Hour},
		}, errors.New("the batch failed")
	}
	before := time.Now()
	w.syncBatch(ctx, batch, time.Now())
	it, err := s.GetItem(ctx, "jobs", "failing")
	if err != nil {
		t.Fatal(err)
	}
	if it.Version != 2 || it.StateOf() != record.StateActive || it.Attempts != 1 || it.LastError != "upstream said 500" || it.SyncedAt != nil {
		t.Fatalf("failed attempt written as %+v (synced %v)", *it.Record, it.SyncedAt)
	}
	if it.NextSyncAt == nil || it.NextSyncAt.Before(before.Add(wait-time.Second)) || it.NextSyncAt.After(time.Now().Add(wait)) {
		t.Fatalf("next sync %v, want the backoff %s from now", it.NextSyncAt, wait)
	}
	if n := testutil.ToFloat64(s.metrics.syncErrors.WithLabelValues("jobs", "item_error")); n != 1 {
		t.Fatalf("item errors counted: %v", n)
	}
	if it, _ := s.GetItem(ctx, "jobs", "paced"); it.Version != 1 || it.NextSyncAt == nil ||
		it.NextSyncAt.Sub(before) < 9*time.Minute || it.NextSyncAt.Sub(before) > 11*time.Minute {
		t.Fatalf("paced item: %+v next %v, want its own 10m", *it.Record, it.NextSyncAt)
	}
	if it, _ := s.GetItem(ctx, "jobs", "short"); it.NextSyncAt == nil || it.NextSyncAt.After(it.ExpiresAt) {
		t.Fatalf("next sync %v past the deadline %v", it.NextSyncAt, it.ExpiresAt)
	}
	if it, _ := s.GetItem(ctx, "jobs", "plain"); it.NextSyncAt == nil || it.NextSyncAt.Sub(before) < 50*time.Minute {
		t.Fatalf("plain item next %v, want a resync period away", it.NextSyncAt)
	}

	// The second failure in a row gives the item up: terminal, failed, and
	// never claimed again. A successful call marks the others synced.
	if err := pgtest.Exec(ctx, url, "UPDATE items SET next_sync_at = now()"); err != nil {
		t.Fatal(err)
	}
	batch, _, err = w.claim(ctx)
	if err != nil || len(batch) != 4 {
		t.Fatalf("claim: %d, %v", len(batch), err)
	}
	w.sync = func(_ context.Context, b cache.BatchOf[*record.Record]) ([]cache.ItemSyncResponseOf[*record.Record], error) {
		var out []cache.ItemSyncResponseOf[*record.Record]
		for _, c := range b {
			if c.GetID() == "failing" {
				gaveUp, wait := c.GetItem().Fail("still 500", pol, time.Now(), 0)
				out = append(out, cache.ItemSyncResponseOf[*record.Record]{ID: "failing", Action: cache.Update, Item: gaveUp, NextSyncAfter: wait})
			}
		}
		return out, nil
	}
	w.syncBatch(ctx, batch, time.Now())
	it, err = s.GetItem(ctx, "jobs", "failing")
	if err != nil {
		t.Fatal(err)
	}
	if it.Version != 3 || !it.Terminal || it.StateOf() != record.StateFailed || it.Attempts != 2 || it.NextSyncAt != nil {
		t.Fatalf("given up as %+v (next %v)", *it.Record, it.NextSyncAt)
	}
	if it, _ := s.GetItem(ctx, "jobs", "plain"); it.SyncedAt == nil {
		t.Fatal("a successful call did not mark its items synced")
	}
	if err := pgtest.Exec(ctx, url, "UPDATE items SET next_sync_at = now()"); err != nil {
		t.Fatal(err)
	}
	if batch, _, err = w.claim(ctx); err != nil || len(batch) != 3 {
		t.Fatalf("claim after giving up: %d items (%v), want the 3 others", len(batch), err)
	}
}

// TestPatchWinsOverASyncUnderWay: a PATCH of an item whose sync is under
// way takes a new epoch, so that the sync's answer, computed from the
// state before, is fenced off; the PATCH's version is the one every
// replica's watchers see.
func TestPatchWinsOverASyncUnderWay(t *testing.T) {
	url := pgtest.NewDB(t)
	// A watches; its address policy refuses the loopback webhook, so it
	// runs no refresh of the cache, and the test claims by hand on s.
	var evs itemEvents
	opts := testOptions(t, url)
	opts.OnEvent, opts.Egress = evs.onEvent, nil
	startService(t, opts)
	s := newService(t, url)
	ctx := ctxFor(t, 30*time.Second)
	cfg := testCfg("http://127.0.0.1:1/sync", time.Hour, time.Second)
	if _, err := s.Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "x", Data: json.RawMessage(`{"by": "create"}`)}); err != nil {
		t.Fatal(err)
	}
	w, batch := claimN(t, ctx, s, 99, cfg, 1)
	epoch, leaseEnd, _ := rowOf(t, ctx, s, "x")

	// The PATCH lands while the call is under way.
	if _, err := s.PatchItem(ctx, "jobs", "x", autorefresh.Patch{Data: json.RawMessage(`{"by": "patch"}`), IfMatch: 2}); errs.CodeOf(err) != errs.PreconditionFailed {
		t.Fatalf("PATCH at the wrong version: %v", err)
	}
	done := true
	it, err := s.PatchItem(ctx, "jobs", "x", autorefresh.Patch{Data: json.RawMessage(`{"by": "patch"}`), Terminal: &done, IfMatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if it.Version != 2 || !it.Terminal || it.StateOf() != record.StateCompleted || !jsonIs(it.Data, `{"by": "patch"}`) || it.NextSyncAt != nil {
		t.Fatalf("patched: %+v next %v", *it.Record, it.NextSyncAt)
	}
	newEpoch, next, owner := rowOf(t, ctx, s, "x")
	if newEpoch == epoch || owner != nil || !next.Equal(leaseEnd) {
		t.Fatalf("after the PATCH: epoch %d (was %d), owner %v, next %v (lease end %v)", newEpoch, epoch, owner, next, leaseEnd)
	}

	// The sync's answer, about version 1, comes back and is rejected.
	w.writeBack(ctx, batch, update(batch[0], `{"by": "sync"}`), true, false, time.Now())
	it, err = s.GetItem(ctx, "jobs", "x")
	if err != nil {
		t.Fatal(err)
	}
	if it.Version != 2 || !jsonIs(it.Data, `{"by": "patch"}`) || it.SyncedAt != nil {
		t.Fatalf("the sync answer undid the PATCH: %+v", *it.Record)
	}
	if n := testutil.ToFloat64(s.metrics.staleWrites.WithLabelValues("jobs")); n != 1 {
		t.Fatalf("stale writes: %v", n)
	}
	waitUntil(t, "the PATCH's event", 10*time.Second, func() bool {
		_, ok := evs.find("x", func(ev autorefresh.Event) bool {
			return ev.Type == autorefresh.EventUpdated && ev.Item.Version == 2 && ev.Item.StateOf() == record.StateCompleted
		})
		return ok
	})

	// PATCH of an unknown item, or cache.
	if _, err := s.PatchItem(ctx, "jobs", "nope", autorefresh.Patch{Terminal: &done}); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("PATCH of an unknown item: %v", err)
	}
	if _, err := s.PatchItem(ctx, "nope", "x", autorefresh.Patch{Terminal: &done}); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("PATCH in an unknown cache: %v", err)
	}
	// Reopened by a PATCH, the item is due at once.
	reopen := false
	it, err = s.PatchItem(ctx, "jobs", "x", autorefresh.Patch{Terminal: &reopen})
	if err != nil || it.Version != 3 || it.Terminal || it.StateOf() != record.StateActive || it.NextSyncAt == nil || it.NextSyncAt.After(time.Now()) {
		t.Fatalf("reopened: %+v next %v, %v", it.Record, it.NextSyncAt, err)
	}
}

// TestRetry: a failed item is made active again with its failures cleared,
// a deadline ttl from now, and due now; a completed one is a conflict; an
// active one only becomes due.
func TestRetry(t *testing.T) {
	url := pgtest.NewDB(t)
	s := newService(t, url)
	ctx := ctxFor(t, 30*time.Second)
	cfg := testCfg("http://127.0.0.1:1/sync", time.Hour, time.Second)
	if _, err := s.Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "done", Terminal: true}); err != nil {
		t.Fatal(err)
	}
	w, batch := claimN(t, ctx, s, 1, cfg, 1)
	gaveUp, _ := batch[0].rec.Fail("no", record.Policy{ResyncPeriod: time.Hour, MaxAttempts: 1}, time.Now(), 0)
	w.writeBack(ctx, batch, []cache.ItemSyncResponseOf[*record.Record]{{ID: "x", Action: cache.Update, Item: gaveUp}}, true, false, time.Now())
	if it, _ := s.GetItem(ctx, "jobs", "x"); it.StateOf() != record.StateFailed {
		t.Fatalf("not failed: %+v", it.Record)
	}
	if _, err := s.RetryItem(ctx, "jobs", "done", 0); errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("retry of a completed item: %v", err)
	}
	if _, err := s.RetryItem(ctx, "jobs", "x", -time.Second); errs.CodeOf(err) != errs.Invalid {
		t.Fatalf("retry with a negative ttl: %v", err)
	}
	before := time.Now()
	it, err := s.RetryItem(ctx, "jobs", "x", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if it.Version != 3 || it.Terminal || it.StateOf() != record.StateActive || it.Attempts != 0 || it.LastError != "" ||
		it.ExpiresAt.Before(before.Add(time.Hour-time.Second)) || it.ExpiresAt.After(time.Now().Add(time.Hour)) {
		t.Fatalf("retried: %+v", *it.Record)
	}
	if it.NextSyncAt == nil || it.NextSyncAt.After(time.Now()) {
		t.Fatalf("retried item due at %v, want now", it.NextSyncAt)
	}
	// Active: only due now, with no new version.
	if err := pgtest.Exec(ctx, url, "UPDATE items SET next_sync_at = now() + interval '1 hour'"); err != nil {
		t.Fatal(err)
	}
	it, err = s.RetryItem(ctx, "jobs", "x", 0)
	if err != nil || it.Version != 3 || it.NextSyncAt == nil || it.NextSyncAt.After(time.Now()) {
		t.Fatalf("retry of an active item: %+v next %v, %v", it.Record, it.NextSyncAt, err)
	}
	if _, err := s.RetryItem(ctx, "jobs", "nope", 0); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("retry of an unknown item: %v", err)
	}
}
