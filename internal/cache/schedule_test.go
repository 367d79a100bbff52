package cache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// answering is a SyncFunc whose answer for each item a test sets.
type answering struct {
	mu     sync.Mutex
	calls  map[ItemID]int
	answer func(w ItemWrapper) ItemSyncResponse
	err    error
}

func newAnswering(answer func(w ItemWrapper) ItemSyncResponse) *answering {
	return &answering{calls: map[ItemID]int{}, answer: answer}
}

func (a *answering) sync(_ context.Context, b Batch) ([]ItemSyncResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]ItemSyncResponse, 0, len(b))
	for _, w := range b {
		a.calls[w.GetID()]++
		if a.answer != nil {
			out = append(out, a.answer(w))
		}
	}
	if a.answer == nil {
		out = nil // as Flyte's SyncFuncs answer with an error
	}
	return out, a.err
}

func (a *answering) count(id ItemID) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[id]
}

// settled waits until id has been synced n times and the cache is idle.
func (h *harness) settled(a *answering, id ItemID, n int) {
	h.t.Helper()
	eventually(h.t, "the sync", func() bool { return a.count(id) >= n })
	h.idle()
	if got := a.count(id); got != n {
		h.t.Fatalf("%s synced %d times, want %d", id, got, n)
	}
}

// armedFor waits until the refresh loop's due timer is set for at.
func (h *harness) armedFor(at time.Time) {
	h.t.Helper()
	eventually(h.t, "the due timer", func() bool { return h.c.dueArmed.Load() == at.UnixNano() })
}

func TestNextSyncAfterSyncsBetweenTicks(t *testing.T) {
	a := newAnswering(func(w ItemWrapper) ItemSyncResponse {
		return ItemSyncResponse{ID: w.GetID(), Action: Unchanged, NextSyncAfter: 10 * time.Second}
	})
	h := newHarness(t, Options[Item]{Sync: a.sync})
	h.start()
	if _, err := h.c.GetOrCreate("a", item("new")); err != nil {
		t.Fatal(err)
	}
	h.settled(a, "a", 1) // sync-on-create
	due := h.clock.Now().Add(10 * time.Second)
	if e, _ := h.c.Lookup("a"); !e.DueAt.Equal(due) {
		t.Fatalf("DueAt = %v, want %v", e.DueAt, due)
	}
	h.armedFor(due)
	h.clock.Step(9 * time.Second)
	h.idle()
	if n := a.count("a"); n != 1 {
		t.Fatalf("synced before its due time: %d", n)
	}
	h.clock.Step(time.Second)
	h.settled(a, "a", 2)
	if got := h.c.stats.cycles.Load(); got != 0 {
		t.Fatalf("a tick ran: %d cycles", got)
	}
}

func TestLongNextSyncAfterSkipsTicks(t *testing.T) {
	a := newAnswering(func(w ItemWrapper) ItemSyncResponse {
		return ItemSyncResponse{ID: w.GetID(), Action: Unchanged, NextSyncAfter: 3 * time.Minute}
	})
	h := newHarness(t, Options[Item]{Sync: a.sync})
	h.start()
	if _, err := h.c.GetOrCreate("a", item("new")); err != nil {
		t.Fatal(err)
	}
	h.settled(a, "a", 1)
	h.tick()
	h.idle()
	h.tick()
	h.idle()
	if n := a.count("a"); n != 1 {
		t.Fatalf("a tick synced an item due later: %d syncs", n)
	}
	h.tick() // 3 minutes: due now
	h.settled(a, "a", 2)
}

func TestTickSyncsItemsOnTheRegularCadence(t *testing.T) {
	// Zero NextSyncAfter is the regular cadence, as in Flyte.
	a := newAnswering(func(w ItemWrapper) ItemSyncResponse { return ItemSyncResponse{ID: w.GetID()} })
	h := newHarness(t, Options[Item]{Sync: a.sync, DisableSyncOnCreate: true})
	h.start()
	if _, err := h.c.GetOrCreate("a", item("new")); err != nil {
		t.Fatal(err)
	}
	h.tick()
	h.settled(a, "a", 1)
	if e, _ := h.c.Lookup("a"); !e.DueAt.IsZero() {
		t.Fatalf("DueAt = %v, want zero", e.DueAt)
	}
	if n := h.c.due.n.Load(); n != 0 {
		t.Fatalf("due heap holds %d nodes for an item on the regular cadence", n)
	}
}

func TestModifyDueNowSyncsWithoutATick(t *testing.T) {
	a := newAnswering(func(w ItemWrapper) ItemSyncResponse {
		return ItemSyncResponse{ID: w.GetID(), NextSyncAfter: time.Hour}
	})
	h := newHarness(t, Options[Item]{Sync: a.sync})
	h.start()
	if _, err := h.c.GetOrCreate("a", item("new")); err != nil {
		t.Fatal(err)
	}
	h.settled(a, "a", 1)
	e, err := h.c.Modify("a", func(old Item) (Item, error) { return old, nil }, true)
	if err != nil {
		t.Fatal(err)
	}
	if !e.DueAt.Equal(h.clock.Now()) {
		t.Fatalf("DueAt = %v, want now", e.DueAt)
	}
	h.settled(a, "a", 2)
}

func TestModifyReturnsFnErrorAndChangesNothing(t *testing.T) {
	h := newHarness(t, Options[Item]{Sync: newAnswering(func(w ItemWrapper) ItemSyncResponse { return ItemSyncResponse{ID: w.GetID()} }).sync})
	if _, err := h.c.GetOrCreate("a", item("new")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if _, err := h.c.Modify("a", func(Item) (Item, error) { return item("x"), boom }, false); err != boom {
		t.Fatalf("err = %v, want fn's own", err)
	}
	if got := mustGet(t, h.c, "a").status; got != "new" {
		t.Fatalf("status = %q", got)
	}
	if _, err := h.c.Modify("zz", func(o Item) (Item, error) { return o, nil }, false); !IsNotFound(err) {
		t.Fatalf("unknown id: %v", err)
	}
	if ok, err := h.c.Update("zz", item("x")); ok || err != nil {
		t.Fatalf("Update of an unknown id = %v, %v", ok, err)
	}
	if ok, err := h.c.Update("a", item("running")); !ok || err != nil {
		t.Fatalf("Update = %v, %v", ok, err)
	}
	if got := mustGet(t, h.c, "a").status; got != "running" {
		t.Fatalf("status after Update = %q", got)
	}
}

func TestLaterChangeWinsOverASyncUnderWay(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	syncFn := func(_ context.Context, b Batch) ([]ItemSyncResponse, error) {
		close(entered)
		<-release
		return []ItemSyncResponse{{ID: b[0].GetID(), Item: item("synced"), Action: Update}}, nil
	}
	var events []Event[Item]
	var mu sync.Mutex
	h := newHarness(t, Options[Item]{Sync: syncFn, OnEvent: func(ev Event[Item]) { mu.Lock(); events = append(events, ev); mu.Unlock() }})
	h.start()
	if _, err := h.c.GetOrCreate("a", item("new")); err != nil {
		t.Fatal(err)
	}
	<-entered
	if ok, err := h.c.Update("a", item("patched")); !ok || err != nil {
		t.Fatal(ok, err)
	}
	close(release)
	h.idle()
	if got := mustGet(t, h.c, "a").status; got != "patched" {
		t.Fatalf("status = %q: the sync answer undid a later change", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[1].Type != Updated || events[1].Item.(*testItem).status != "patched" {
		t.Fatalf("events = %+v", events)
	}
}

func TestAnswersReturnedWithAnErrorAreApplied(t *testing.T) {
	a := newAnswering(func(w ItemWrapper) ItemSyncResponse {
		return ItemSyncResponse{ID: w.GetID(), Item: item("failed-once"), Action: Update, NextSyncAfter: 5 * time.Second}
	})
	a.err = errors.New("upstream down")
	h := newHarness(t, Options[Item]{Sync: a.sync})
	h.start()
	if _, err := h.c.GetOrCreate("a", item("new")); err != nil {
		t.Fatal(err)
	}
	h.settled(a, "a", 1)
	if got := mustGet(t, h.c, "a").status; got != "failed-once" {
		t.Fatalf("status = %q", got)
	}
	st := h.c.Stats()
	if st.SyncErrors != 1 || st.Syncs != 0 {
		t.Fatalf("stats = %+v: the batch is still a failed one", st)
	}
	h.armedFor(h.clock.Now().Add(5 * time.Second))
	h.clock.Step(5 * time.Second)
	h.settled(a, "a", 2)
}

func TestAFailedBatchWithoutAnswersKeepsItemsAsTheyWere(t *testing.T) {
	a := newAnswering(func(w ItemWrapper) ItemSyncResponse {
		return ItemSyncResponse{ID: w.GetID(), NextSyncAfter: time.Second}
	})
	h := newHarness(t, Options[Item]{Sync: a.sync})
	h.start()
	if _, err := h.c.GetOrCreate("a", item("new")); err != nil {
		t.Fatal(err)
	}
	h.settled(a, "a", 1)
	a.mu.Lock()
	a.err = errors.New("down")
	a.answer = nil
	a.mu.Unlock()
	// Flyte's SyncFuncs return nil with an error: no answer applied, and
	// no retry before the next tick.
	h.clock.Step(time.Second)
	h.settled(a, "a", 2)
	h.clock.Step(time.Second)
	h.idle()
	if n := a.count("a"); n != 2 {
		t.Fatalf("a failed item was retried before the next tick: %d syncs", n)
	}
}

func TestItemErrorsAreCountedUnderItemError(t *testing.T) {
	a := newAnswering(func(w ItemWrapper) ItemSyncResponse {
		return ItemSyncResponse{ID: w.GetID(), Err: errors.New("no such job")}
	})
	h := newHarness(t, Options[Item]{Sync: a.sync})
	h.start()
	for _, id := range []ItemID{"a", "b"} {
		if _, err := h.c.GetOrCreate(id, item("new")); err != nil {
			t.Fatal(err)
		}
	}
	h.settled(a, "b", 1)
	st := h.c.Stats()
	if st.SyncErrors != 2 || st.LastError != "no such job" {
		t.Fatalf("stats = %+v", st)
	}
	if got := testutil.ToFloat64(h.c.m.syncErrors.WithLabelValues("item_error")); got != 2 {
		t.Fatalf("item_error count = %v", got)
	}
}

// TestEachItemIsSyncedAtItsOwnDueTime: items answered with different waits
// are each synced when theirs is up, between ticks, and no earlier.
func TestEachItemIsSyncedAtItsOwnDueTime(t *testing.T) {
	wait := func(id ItemID) time.Duration { return time.Duration(id[0]-'a'+1) * 10 * time.Second }
	a := newAnswering(func(w ItemWrapper) ItemSyncResponse {
		return ItemSyncResponse{ID: w.GetID(), NextSyncAfter: wait(w.GetID())}
	})
	h := newHarness(t, Options[Item]{Sync: a.sync, ResyncPeriod: time.Hour, CreateBatches: FixedSizeBatches(3)})
	h.start()
	ids := []ItemID{"a", "b", "c", "d"}
	for _, id := range ids {
		if _, err := h.c.GetOrCreate(id, item("new")); err != nil {
			t.Fatal(err)
		}
		h.settled(a, id, 1)
	}
	start := h.clock.Now()
	want := map[ItemID]int{"a": 1, "b": 1, "c": 1, "d": 1}
	for step := 1; step <= 12; step++ {
		// The loop's timer is set for the earliest due time of all.
		var next time.Time
		for _, id := range ids {
			e, _ := h.c.Lookup(id)
			if next.IsZero() || e.DueAt.Before(next) {
				next = e.DueAt
			}
		}
		if next.After(start.Add(time.Duration(step) * 10 * time.Second)) {
			h.clock.Step(10 * time.Second)
			h.idle()
		} else {
			h.armedFor(next)
			h.clock.Step(10 * time.Second)
		}
		now := h.clock.Now().Sub(start)
		for _, id := range ids {
			if now%wait(id) == 0 {
				want[id]++
			}
		}
		for _, id := range ids {
			eventually(t, "the syncs due", func() bool { return a.count(id) >= want[id] })
		}
		h.idle()
		for _, id := range ids {
			if got := a.count(id); got != want[id] {
				t.Fatalf("at +%v: %s synced %d times, want %d", now, id, got, want[id])
			}
		}
	}
}
