package cache

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// stepUntil steps the fake clock by d at each poll until cond holds: a
// timer the refresh loop arms a moment later still fires.
func (h *harness) stepUntil(what string, d time.Duration, cond func() bool) {
	h.t.Helper()
	eventually(h.t, what, func() bool {
		h.clock.Step(d)
		return cond()
	})
}

// Items created within one linger share batches cut by CreateBatches.
func TestSyncOnCreateCoalescesWithinLinger(t *testing.T) {
	rec := newRecorder(advance)
	h := newHarness(t, Options[Item]{Sync: rec.sync, CreateLinger: 10 * time.Millisecond,
		CreateBatches: FixedSizeBatches(100), ResyncPeriod: time.Hour})
	h.start()
	for i := range 250 {
		if _, err := h.c.GetOrCreate(fmt.Sprint(i), item("new")); err != nil {
			t.Fatal(err)
		}
	}
	if n := rec.count(); n != 0 {
		t.Fatalf("%d syncs before the linger ended", n)
	}
	h.stepUntil("every created item synced", time.Millisecond, func() bool {
		for i := range 250 {
			if mustGet(t, h.c, fmt.Sprint(i)).status != "running" {
				return false
			}
		}
		return true
	})
	h.idle()
	if n := rec.count(); n != 3 {
		t.Fatalf("250 creates in one linger made %d calls, want 3 (batches of 100)", n)
	}
}

// gatedSync records each batch's ids and waits for the test to let it
// return.
type gatedSync struct {
	gate    chan struct{}
	mu      sync.Mutex
	batches [][]ItemID
}

func (g *gatedSync) sync(ctx context.Context, b Batch) ([]ItemSyncResponse, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ids := make([]ItemID, 0, len(b))
	for _, w := range b {
		ids = append(ids, w.GetID())
	}
	g.mu.Lock()
	g.batches = append(g.batches, ids)
	g.mu.Unlock()
	return nil, nil
}

func (g *gatedSync) done() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.batches)
}

// A flood of creates cannot push a cycle's batch behind it: at most
// maxCreateBatches create batches wait in the queue, so an item due for its
// periodic refresh is synced within a few batches of the cycle, and every
// created item is still synced in the end.
func TestCreateFloodDoesNotStarveTheRefresh(t *testing.T) {
	g := &gatedSync{gate: make(chan struct{})}
	const parallelism, items, batch = 2, 100, 5
	h := newHarness(t, Options[Item]{Sync: g.sync, Parallelism: parallelism, CreateLinger: 10 * time.Millisecond,
		CreateBatches: FixedSizeBatches(batch), ResyncPeriod: time.Hour})
	// Created before Start: no sync-on-create, so only a cycle syncs it.
	if _, err := h.c.GetOrCreate("periodic", item("new")); err != nil {
		t.Fatal(err)
	}
	h.start()
	for i := range items {
		if _, err := h.c.GetOrCreate(fmt.Sprint(i), item("new")); err != nil {
			t.Fatal(err)
		}
	}
	limit := maxCreateBatches(parallelism)
	h.stepUntil("the workers busy with create batches", time.Millisecond, func() bool {
		return h.c.Stats().InFlight == parallelism && h.c.createQueued.Load() == limit
	})
	if q := (*h.c.queue.Load()).Len(); int64(q) > limit {
		t.Fatalf("%d batches queued, want at most %d", q, limit)
	}
	h.tick() // the cycle queues "periodic" behind the waiting create batches
	// Let batches through one at a time until "periodic" has been synced.
	ahead := -1
	for ahead < 0 {
		before := g.done()
		g.gate <- struct{}{}
		eventually(t, "a batch done", func() bool { return g.done() > before })
		g.mu.Lock()
		for i, b := range g.batches {
			if slices.Contains(b, "periodic") {
				ahead = i
			}
		}
		g.mu.Unlock()
	}
	if max := int(int64(parallelism) + limit); ahead > max {
		t.Fatalf("the cycle's batch ran after %d create batches, want at most %d", ahead, max)
	}
	// The rest of the created items still go, in create batches.
	go func() {
		for {
			select {
			case g.gate <- struct{}{}:
			case <-h.c.Stopped():
				return
			}
		}
	}()
	h.stepUntil("every created item synced", time.Millisecond, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		n := 0
		for _, b := range g.batches {
			n += len(b)
		}
		return n == items+1
	})
}

// An item created, deleted and created again within one linger leaves two
// wrappers for its id in the create buffer. Only the newest may be sent: a
// batch holding both got two answers for one id, and the first, the old
// item's, was applied to the new item (the robustness check saw a deleted
// item's data come back under a re-created id).
func TestRecreateWithinLingerSyncsOnlyTheNewItem(t *testing.T) {
	var mu sync.Mutex
	var sent [][]string
	sync := func(_ context.Context, b Batch) ([]ItemSyncResponse, error) {
		var got []string
		var out []ItemSyncResponse
		for _, w := range b {
			st := w.GetItem().(*testItem).status
			got = append(got, fmt.Sprintf("%s=%s", w.GetID(), st))
			out = append(out, ItemSyncResponse{ID: w.GetID(), Item: item(st + "+synced"), Action: Update})
		}
		mu.Lock()
		sent = append(sent, got)
		mu.Unlock()
		return out, nil
	}
	h := newHarness(t, Options[Item]{Sync: sync, CreateLinger: 10 * time.Millisecond,
		CreateBatches: FixedSizeBatches(10), ResyncPeriod: time.Hour})
	h.start()
	if _, err := h.c.GetOrCreate("x", item("old")); err != nil {
		t.Fatal(err)
	}
	if err := h.c.DeleteDelayed("x"); err != nil {
		t.Fatal(err)
	}
	before := h.c.stats.cycles.Load()
	h.c.SyncNow() // its cycle removes x; the fake clock keeps the linger open
	eventually(t, "the cycle that removes x", func() bool { return h.c.stats.cycles.Load() > before })
	if _, err := h.c.Get("x"); err == nil {
		t.Fatal("x still there after the cycle that carries out its deletion")
	}
	if _, err := h.c.GetOrCreate("x", item("new")); err != nil {
		t.Fatal(err)
	}
	h.stepUntil("the re-created x synced", time.Millisecond, func() bool {
		it, err := h.c.Get("x")
		return err == nil && it.(*testItem).status != "new"
	})
	h.idle()
	if got := mustGet(t, h.c, "x").status; got != "new+synced" {
		t.Fatalf("re-created x is %q, want %q: another item's answer was applied to it", got, "new+synced")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := [][]string{{"x=new"}}; !slices.EqualFunc(sent, want, slices.Equal) {
		t.Fatalf("the upstream was sent %v, want %v", sent, want)
	}
}
