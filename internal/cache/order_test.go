package cache

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// lagJournal makes its changes durable from a goroutine of its own, a
// little after they are appended, as a group-committing disk journal does.
// That widens the windows in which a change is made but not yet durable.
type lagJournal struct {
	mu      sync.Mutex
	cond    *sync.Cond
	next    uint64
	durable uint64
	stop    chan struct{}
	done    chan struct{}
}

func newLagJournal(t *testing.T) *lagJournal {
	j := &lagJournal{stop: make(chan struct{}), done: make(chan struct{})}
	j.cond = sync.NewCond(&j.mu)
	go func() {
		defer close(j.done)
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			select {
			case <-j.stop:
				return
			case <-tick.C:
			}
			j.mu.Lock()
			j.durable = j.next
			j.cond.Broadcast()
			j.mu.Unlock()
		}
	}()
	// Registered before the harness's cleanup, so it runs after it: the
	// cache stops while its journal still commits.
	t.Cleanup(func() { close(j.stop); <-j.done })
	return j
}

func (j *lagJournal) Append(Change[Item]) uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.next++
	return j.next
}

func (j *lagJournal) Wait(seq uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.durable < seq {
		j.cond.Wait()
	}
	return nil
}

func (j *lagJournal) Durable() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.durable
}

// eventLog records events per item.
type eventLog struct {
	mu   sync.Mutex
	byID map[ItemID][]EventType
}

func (l *eventLog) add(ev Event[Item]) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byID == nil {
		l.byID = map[ItemID][]EventType{}
	}
	l.byID[ev.ID] = append(l.byID[ev.ID], ev.Type)
}

// check fails the test if any item's events do not follow the life of an
// item: created, then updates, then at most one deleted or evicted, and
// again from created for an id that came back.
func (l *eventLog) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, evs := range l.byID {
		exists := false
		for i, ev := range evs {
			ok := false
			switch ev {
			case Created:
				ok, exists = !exists, true
			case Updated:
				ok = exists
			case Deleted, Evicted:
				ok, exists = exists, false
			}
			if !ok {
				t.Fatalf("item %s: event %d (%v) out of order in %v", id, i, ev, evs)
			}
		}
	}
}

// alive returns the ids whose last event leaves them in the cache.
func (l *eventLog) alive() map[ItemID]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[ItemID]bool{}
	for id, evs := range l.byID {
		if last := evs[len(evs)-1]; last == Created || last == Updated {
			out[id] = true
		}
	}
	return out
}

// With sync-on-create off, a cycle can sync an item whose create is still
// waiting for the journal. Its "updated" must still come after "created".
func TestUpdatedNeverPrecedesCreated(t *testing.T) {
	var log eventLog
	h := newHarness(t, Options[Item]{Sync: newRecorder(advance).sync, Journal: newLagJournal(t),
		DisableSyncOnCreate: true, Parallelism: 4, OnEvent: log.add})
	h.start()
	stop := make(chan struct{})
	var ticker sync.WaitGroup
	ticker.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			h.clock.Step(h.c.opts.ResyncPeriod)
			time.Sleep(50 * time.Microsecond) // pace the cycles; correctness does not depend on it
		}
	})
	var creators sync.WaitGroup
	for g := range 4 {
		creators.Go(func() {
			for i := range 200 {
				if _, err := h.c.GetOrCreate(fmt.Sprintf("g%d-%d", g, i), item("new")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	creators.Wait()
	close(stop)
	ticker.Wait()
	h.idle()
	log.check(t)
}

// In a cache of size 1, concurrent creates evict each other. No item's
// "evicted" may come before its "created", and the events must leave a
// watcher believing exactly what the cache holds.
func TestEvictedNeverPrecedesCreated(t *testing.T) {
	for _, journaled := range []bool{false, true} {
		t.Run(fmt.Sprintf("journal=%v", journaled), func(t *testing.T) {
			var log eventLog
			o := Options[Item]{Sync: newRecorder(advance).sync, Size: 1, DisableSyncOnCreate: true, OnEvent: log.add}
			if journaled {
				o.Journal = newLagJournal(t)
			}
			h := newHarness(t, o)
			h.start()
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 100 {
						if _, err := h.c.GetOrCreate(fmt.Sprintf("%d-%d", g, i%10), item("new")); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			log.check(t)
			alive := log.alive()
			page, _, err := h.c.List("", 10, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) != 1 || len(alive) != 1 || !alive[page[0].ID] {
				t.Fatalf("the cache holds %v, the events say %v", page, alive)
			}
		})
	}
}

// Eviction follows last use exactly, to the resolution of creates: an item
// created after x was last used outlives x, wherever the two are sharded.
func TestEvictionFollowsLastUseAcrossShards(t *testing.T) {
	const size = 1000
	var mu sync.Mutex
	var evicted []ItemID
	h := newHarness(t, Options[Item]{Sync: newRecorder(advance).sync, Size: size, OnEvent: func(ev Event[Item]) {
		if ev.Type == Evicted {
			mu.Lock()
			evicted = append(evicted, ev.ID)
			mu.Unlock()
		}
	}})
	for i := range size {
		if _, err := h.c.GetOrCreate(fmt.Sprint("old", i), item("new")); err != nil {
			t.Fatal(err)
		}
	}
	mustGet(t, h.c, "old500") // x: used after every old item was created
	if _, err := h.c.GetOrCreate("b", item("new")); err != nil {
		t.Fatal(err)
	}
	// Push out every item: x must go before b, and b last.
	for i := range size {
		if _, err := h.c.GetOrCreate(fmt.Sprint("new", i), item("new")); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(evicted) != size+1 {
		t.Fatalf("%d evictions, want %d", len(evicted), size+1)
	}
	// old999 was created at the same cache clock as x's last use, so the
	// two may go in either order; b must go after both.
	last := evicted[size-2:]
	if last[2] != "b" || (last[0] != "old500" && last[1] != "old500") {
		t.Fatalf("the last evictions were %v, want old500 among the two before b: b was created after x's last use", last)
	}
}

// List shows nothing that is not durable yet.
func TestListWaitsForDurability(t *testing.T) {
	j := newGateJournal()
	h := newHarness(t, Options[Item]{Sync: newRecorder(advance).sync, Journal: j, DisableSyncOnCreate: true})
	h.start()
	created := make(chan error, 1)
	go func() { _, err := h.c.GetOrCreate("a", item("new")); created <- err }()
	eventually(t, "the create appended", func() bool { return len(j.kinds()) >= 1 })
	listed := make(chan int, 1)
	go func() {
		page, _, err := h.c.List("", 10, nil)
		if err != nil {
			t.Error(err)
		}
		listed <- len(page)
	}()
	select {
	case n := <-listed:
		t.Fatalf("List answered with %d items before the create was durable", n)
	case <-time.After(20 * time.Millisecond):
	}
	j.release()
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	if n := <-listed; n != 1 {
		t.Fatalf("List after the create was durable: %d items, want 1", n)
	}
}

// A cycle's deletions are reported, with or without a journal.
func TestDeletionEventsDelivered(t *testing.T) {
	for _, journaled := range []bool{false, true} {
		t.Run(fmt.Sprintf("journal=%v", journaled), func(t *testing.T) {
			var log eventLog
			o := Options[Item]{Sync: newRecorder(advance).sync, DisableSyncOnCreate: true, OnEvent: log.add}
			if journaled {
				o.Journal = newLagJournal(t)
			}
			h := newHarness(t, o)
			h.start()
			if _, err := h.c.GetOrCreate("a", item("done")); err != nil {
				t.Fatal(err)
			}
			if err := h.c.DeleteDelayed("a"); err != nil {
				t.Fatal(err)
			}
			h.tick()
			eventually(t, "the deleted event", func() bool {
				log.mu.Lock()
				defer log.mu.Unlock()
				evs := log.byID["a"]
				return len(evs) == 2 && evs[1] == Deleted
			})
			log.check(t)
		})
	}
}
