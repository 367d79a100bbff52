package cache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// dlItem is a job with a deadline; "done" and "expired" are terminal.
type dlItem struct {
	status   string
	deadline time.Time
}

func (d *dlItem) IsTerminal() bool { return d.status == "done" || d.status == "expired" }

func deadlineOptions(o Options[Item]) Options[Item] {
	o.Deadline = func(it Item) time.Time {
		if d, ok := it.(*dlItem); ok {
			return d.deadline
		}
		return time.Time{}
	}
	o.Expire = func(it Item, _ time.Time) Item {
		return &dlItem{status: "expired", deadline: it.(*dlItem).deadline}
	}
	return o
}

func statusOf(t *testing.T, c *AutoRefreshCache[Item], id ItemID) string {
	t.Helper()
	it, err := c.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return it.(*dlItem).status
}

func TestDeadlineExpiresBetweenTicksAndNoSyncFollows(t *testing.T) {
	a := newAnswering(func(w ItemWrapper) ItemSyncResponse { return ItemSyncResponse{ID: w.GetID()} })
	var mu sync.Mutex
	var events []Event[Item]
	h := newHarness(t, deadlineOptions(Options[Item]{Sync: a.sync, DisableSyncOnCreate: true,
		OnEvent: func(ev Event[Item]) { mu.Lock(); events = append(events, ev); mu.Unlock() }}))
	h.start()
	deadline := h.clock.Now().Add(90 * time.Second)
	if _, err := h.c.GetOrCreate("a", &dlItem{status: "running", deadline: deadline}); err != nil {
		t.Fatal(err)
	}
	h.tick()
	h.settled(a, "a", 1)
	h.armedFor(deadline)
	h.clock.Step(30 * time.Second)
	eventually(t, "the expiry", func() bool { return statusOf(t, h.c, "a") == "expired" })
	h.tick()
	h.tick()
	h.idle()
	if n := a.count("a"); n != 1 {
		t.Fatalf("synced after its deadline: %d syncs", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[1].Type != Updated || events[1].Item.(*dlItem).status != "expired" {
		t.Fatalf("events = %+v", events)
	}
}

func TestABatchQueuedBeforeTheDeadlineIsNotSentAfterIt(t *testing.T) {
	entered, release := make(chan struct{}, 4), make(chan struct{})
	var mu sync.Mutex
	synced := map[ItemID]int{}
	syncFn := func(_ context.Context, b Batch) ([]ItemSyncResponse, error) {
		mu.Lock()
		for _, w := range b {
			synced[w.GetID()]++
		}
		mu.Unlock()
		if b[0].GetID() == "block" {
			entered <- struct{}{}
			<-release
		}
		return nil, nil
	}
	h := newHarness(t, deadlineOptions(Options[Item]{Sync: syncFn, Parallelism: 1}))
	h.start()
	if _, err := h.c.GetOrCreate("block", &dlItem{status: "running"}); err != nil {
		t.Fatal(err)
	}
	<-entered // the only worker is busy
	deadline := h.clock.Now().Add(time.Second)
	if _, err := h.c.GetOrCreate("late", &dlItem{status: "running", deadline: deadline}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "late's batch queued", func() bool { return h.c.Stats().Enqueued == 1 })
	h.c.Pause() // no due cycle may expire it first: the worker has to
	h.clock.Step(2 * time.Second)
	h.c.paused.Store(false) // resumed without a cycle
	close(release)
	eventually(t, "the expiry", func() bool { return statusOf(t, h.c, "late") == "expired" })
	h.idle()
	mu.Lock()
	defer mu.Unlock()
	if synced["late"] != 0 {
		t.Fatalf("late was synced after its deadline")
	}
}

func TestPausedCacheSendsNothingAndResumeSyncs(t *testing.T) {
	a := newAnswering(func(w ItemWrapper) ItemSyncResponse { return ItemSyncResponse{ID: w.GetID()} })
	h := newHarness(t, deadlineOptions(Options[Item]{Sync: a.sync}))
	h.start()
	h.c.Pause()
	if !h.c.Paused() {
		t.Fatal("not paused")
	}
	if _, err := h.c.GetOrCreate("a", &dlItem{status: "running", deadline: h.clock.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.GetOrCreate("gone", &dlItem{status: "running"}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.DeleteDelayed("gone"); err != nil {
		t.Fatal(err)
	}
	h.tick()
	h.tick()
	h.idle()
	if n := a.count("a") + a.count("gone"); n != 0 {
		t.Fatalf("%d syncs while paused", n)
	}
	if got := statusOf(t, h.c, "a"); got != "running" {
		t.Fatalf("expired while paused: %q", got)
	}
	if _, err := h.c.Get("gone"); !IsNotFound(err) {
		t.Fatalf("a pending deletion was not carried out while paused: %v", err)
	}
	h.c.Resume()
	eventually(t, "the expiry after Resume", func() bool { return statusOf(t, h.c, "a") == "expired" })

	if _, err := h.c.GetOrCreate("b", &dlItem{status: "running"}); err != nil {
		t.Fatal(err)
	}
	h.settled(a, "b", 1)
	if n := a.count("a"); n != 0 {
		t.Fatalf("synced after its deadline: %d", n)
	}
}

func TestAQueuedBatchIsNotSentOncePaused(t *testing.T) {
	entered, release := make(chan struct{}, 4), make(chan struct{})
	a := newAnswering(func(w ItemWrapper) ItemSyncResponse { return ItemSyncResponse{ID: w.GetID()} })
	syncFn := func(ctx context.Context, b Batch) ([]ItemSyncResponse, error) {
		if b[0].GetID() == "block" {
			entered <- struct{}{}
			<-release
		}
		return a.sync(ctx, b)
	}
	h := newHarness(t, Options[Item]{Sync: syncFn, Parallelism: 1})
	h.start()
	if _, err := h.c.GetOrCreate("block", item("new")); err != nil {
		t.Fatal(err)
	}
	<-entered
	if _, err := h.c.GetOrCreate("b", item("new")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b's batch queued", func() bool { return h.c.Stats().Enqueued == 1 })
	h.c.Pause()
	close(release)
	h.idle()
	if n := a.count("b"); n != 0 {
		t.Fatalf("a queued batch was sent while paused")
	}
	h.c.Resume()
	h.settled(a, "b", 1)
}

// TestAFailureThatEndsWhilePausedFailsNoItem: a call under way when the
// cache is paused fails; the failed attempts it reports are not applied.
func TestAFailureThatEndsWhilePausedFailsNoItem(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	syncFn := func(_ context.Context, b Batch) ([]ItemSyncResponse, error) {
		close(entered)
		<-release
		return []ItemSyncResponse{{ID: b[0].GetID(), Item: item("failed"), Action: Update}}, errors.New("down")
	}
	h := newHarness(t, Options[Item]{Sync: syncFn})
	h.start()
	if _, err := h.c.GetOrCreate("a", item("new")); err != nil {
		t.Fatal(err)
	}
	<-entered
	h.c.Pause()
	close(release)
	h.idle()
	if got := mustGet(t, h.c, "a").status; got != "new" {
		t.Fatalf("status = %q: a paused cache failed an item", got)
	}
	if st := h.c.Stats(); st.SyncErrors != 1 {
		t.Fatalf("the failed call is still counted: %+v", st)
	}
}
