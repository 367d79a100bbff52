package cache

// These tests port the cases of Flyte's own auto_refresh_test.go to this
// engine, with a fake clock instead of sleeps.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func TestNormalOperationReachesTerminal(t *testing.T) {
	rec := newRecorder(advance)
	h := newHarness(t, Options[Item]{Sync: rec.sync, Parallelism: 10})
	h.start()
	for i := range 50 {
		if _, err := h.c.GetOrCreate(fmt.Sprint(i), item("new")); err != nil {
			t.Fatal(err)
		}
	}
	// Sync-on-create moves each item to "running"; one resync finishes them.
	eventually(t, "all items running", func() bool {
		for i := range 50 {
			if mustGet(t, h.c, fmt.Sprint(i)).status != "running" {
				return false
			}
		}
		return true
	})
	h.idle()
	h.tick()
	eventually(t, "all items done", func() bool {
		for i := range 50 {
			if !mustGet(t, h.c, fmt.Sprint(i)).IsTerminal() {
				return false
			}
		}
		return true
	})
	h.idle()
	calls := rec.count()
	h.tick()
	h.tick()
	h.idle()
	if got := rec.count(); got != calls {
		t.Fatalf("terminal items were synced again: %d calls, then %d", calls, got)
	}
	if calls != 100 {
		t.Fatalf("want 100 single-item syncs (2 per item), got %d", calls)
	}
}

func TestSyncOnCreateDisabled(t *testing.T) {
	rec := newRecorder(advance)
	h := newHarness(t, Options[Item]{Sync: rec.sync, DisableSyncOnCreate: true})
	h.start()
	h.idle() // the start-up cycle found nothing
	if _, err := h.c.GetOrCreate("a", item("new")); err != nil {
		t.Fatal(err)
	}
	h.idle()
	if got := rec.count(); got != 0 {
		t.Fatalf("item synced on create although disabled: %d calls", got)
	}
	if s := mustGet(t, h.c, "a").status; s != "new" {
		t.Fatalf("status %q before the first resync", s)
	}
	h.tick()
	eventually(t, "first resync", func() bool { return mustGet(t, h.c, "a").status == "running" })
}

func TestSyncOnCreateEnabledByDefault(t *testing.T) {
	rec := newRecorder(advance)
	h := newHarness(t, Options[Item]{Sync: rec.sync})
	h.start()
	h.idle()
	if _, err := h.c.GetOrCreate("a", item("new")); err != nil {
		t.Fatal(err)
	}
	// No tick: only sync-on-create can move it.
	eventually(t, "sync on create", func() bool { return mustGet(t, h.c, "a").status == "running" })
}

func TestNotFoundWithSize2(t *testing.T) {
	h := newHarness(t, Options[Item]{Sync: newRecorder(advance).sync, Size: 2})
	h.start()
	for i := range 10 {
		if _, err := h.c.GetOrCreate(fmt.Sprint(i), item("done")); err != nil {
			t.Fatal(err)
		}
	}
	notFound := 0
	for i := range 10 {
		_, err := h.c.Get(fmt.Sprint(i))
		if IsNotFound(err) {
			notFound++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if notFound != 8 {
		t.Fatalf("want exactly 8 NOT_FOUND, got %d", notFound)
	}
	st := h.c.Stats()
	if st.Evictions != 8 || st.Deletions != 0 || st.Size != 2 {
		t.Fatalf("stats %+v: want 8 evictions, 0 deletions, size 2", st)
	}
}

func TestTerminalItemsEnqueueNothing(t *testing.T) {
	rec := newRecorder(advance)
	h := newHarness(t, Options[Item]{Sync: rec.sync})
	h.start()
	for i := range 20 {
		if _, err := h.c.GetOrCreate(fmt.Sprint(i), item("done")); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		h.tick()
		h.idle()
	}
	if st := h.c.Stats(); st.EnqueuedTotal != 0 || rec.count() != 0 {
		t.Fatalf("terminal items were queued: enqueued=%d calls=%d", st.EnqueuedTotal, rec.count())
	}
}

func TestUpdateThenDelete(t *testing.T) {
	rec := newRecorder(advance)
	h := newHarness(t, Options[Item]{Sync: rec.sync})
	h.start()
	if _, err := h.c.GetOrCreate("a", item("new")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "update", func() bool { return mustGet(t, h.c, "a").status == "running" })
	h.idle()
	if err := h.c.DeleteDelayed("a"); err != nil {
		t.Fatal(err)
	}
	// Until the next cycle the item is returned as it was, flagged.
	en, err := h.c.Lookup("a")
	if err != nil || !en.PendingDelete || en.Item.(*testItem).status != "running" {
		t.Fatalf("before the cycle: %+v, %v", en, err)
	}
	if got, _ := h.c.GetOrCreate("a", item("new")); got.(*testItem).status != "running" {
		t.Fatalf("GetOrCreate replaced a pending-delete item: %v", got)
	}
	calls := rec.count()
	h.tick()
	eventually(t, "deletion", func() bool { _, err := h.c.Get("a"); return IsNotFound(err) })
	h.idle()
	if rec.count() != calls {
		t.Fatal("an item pending deletion was synced")
	}
	st := h.c.Stats()
	if st.Deletions != 1 || st.Evictions != 0 {
		t.Fatalf("want 1 deletion and 0 evictions, got %+v", st)
	}
	if err := h.c.DeleteDelayed("a"); !IsNotFound(err) {
		t.Fatalf("DeleteDelayed of a gone item: %v", err)
	}
}

func TestPanickingSyncerKeepsWorkers(t *testing.T) {
	const workers = 3
	var panics atomic.Int32
	var gate sync.WaitGroup
	gate.Add(workers)
	var mode atomic.Bool // false: panic, true: rendezvous
	sync := func(ctx context.Context, b Batch) ([]ItemSyncResponse, error) {
		if !mode.Load() {
			panics.Add(1)
			panic("boom")
		}
		// Each call waits until all workers are inside a call at once,
		// which can only happen if none of them died.
		gate.Done()
		gate.Wait()
		return nil, nil
	}
	h := newHarness(t, Options[Item]{Sync: sync, Parallelism: workers})
	h.start()
	for i := range 10 {
		if _, err := h.c.GetOrCreate(fmt.Sprintf("p%d", i), item("new")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "10 panics", func() bool { return panics.Load() == 10 })
	h.idle()
	if st := h.c.Stats(); st.SyncErrors != 10 || st.InFlight != 0 {
		t.Fatalf("after panics: %+v", st)
	}
	mode.Store(true)
	for i := range workers {
		if _, err := h.c.GetOrCreate(fmt.Sprintf("r%d", i), item("new")); err != nil {
			t.Fatal(err)
		}
	}
	// If a worker had died, fewer than 3 calls could run at once and the
	// rendezvous would never complete.
	eventually(t, "all workers alive", func() bool {
		en, err := h.c.Lookup("r0")
		return err == nil && !en.SyncedAt.IsZero()
	})
	h.idle()
	// The panicked items are tried again at the next resync.
	if en, _ := h.c.Lookup("p0"); en.SyncedAt.IsZero() == false {
		t.Fatal("a panicked batch was marked synced")
	}
}

func TestQueueBuildUp(t *testing.T) {
	// A sync that never finishes while the clock keeps ticking must not
	// queue the same items again and again.
	release := make(chan struct{})
	var calls atomic.Int32
	sync := func(ctx context.Context, b Batch) ([]ItemSyncResponse, error) {
		calls.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, nil
	}
	h := newHarness(t, Options[Item]{Sync: sync, Parallelism: 1, DisableSyncOnCreate: true})
	h.start()
	for i := range 100 {
		if _, err := h.c.GetOrCreate(fmt.Sprint(i), item("new")); err != nil {
			t.Fatal(err)
		}
	}
	h.tick()
	eventually(t, "first call", func() bool { return calls.Load() == 1 })
	for range 10 {
		h.tick()
	}
	if st := h.c.Stats(); st.EnqueuedTotal != 100 {
		t.Fatalf("10 cycles with all items in flight queued %d, want the first 100 only", st.EnqueuedTotal)
	}
	q := *h.c.queue.Load()
	if d := q.Len(); d > 99 {
		t.Fatalf("queue depth %d for 100 items with one in flight", d)
	}
	close(release)
	h.idle()
	if st := h.c.Stats(); st.EnqueuedTotal != 100 {
		t.Fatalf("items queued twice: enqueued=%d", st.EnqueuedTotal)
	}
}
