package cache

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// countingJournal is a gateJournal that counts the Waits that had to wait.
type countingJournal struct {
	*gateJournal
	waits atomic.Int64
}

func (j *countingJournal) Wait(seq uint64) error {
	j.waits.Add(1)
	return j.gateJournal.Wait(seq)
}

func TestCreateAllWaitsForTheJournalOnce(t *testing.T) {
	j := &countingJournal{gateJournal: newGateJournal()}
	h := newHarness(t, Options[Item]{Sync: newAnswering(func(w ItemWrapper) ItemSyncResponse { return ItemSyncResponse{ID: w.GetID()} }).sync,
		Journal: j, Size: 3})
	j.durable = 1 << 62 // everything durable at once, for the first create
	if _, err := h.c.GetOrCreate("old", item("new")); err != nil {
		t.Fatal(err)
	}
	j.durable = 1
	done := make(chan []CreateResult[Item])
	go func() {
		var nilItem Item
		done <- h.c.CreateAll([]ItemID{"a", "old", "b", "nil"}, []Item{item("new"), item("other"), item("done"), nilItem})
	}()
	eventually(t, "CreateAll waiting", func() bool { return j.waits.Load() == 1 })
	select {
	case <-done:
		t.Fatal("acknowledged before durable")
	default:
	}
	j.release()
	res := <-done
	if n := j.waits.Load(); n != 1 {
		t.Fatalf("%d journal waits, want 1", n)
	}
	if !res[0].Created || res[0].Err != nil || res[1].Created || res[1].Entry.Item.(*testItem).status != "new" ||
		!res[2].Created || res[3].Err == nil {
		t.Fatalf("results = %+v", res)
	}
}

func TestClassCountsFollowEveryChange(t *testing.T) {
	classes := []string{"new", "running", "done"}
	a := newAnswering(func(w ItemWrapper) ItemSyncResponse {
		if w.GetID() == "a" {
			return ItemSyncResponse{ID: "a", Item: item("running"), Action: Update}
		}
		return ItemSyncResponse{ID: w.GetID()}
	})
	h := newHarness(t, Options[Item]{Sync: a.sync, Size: 3, DisableSyncOnCreate: true, Classes: len(classes),
		Class: func(it Item) int { return slices.Index(classes, it.(*testItem).status) }})
	h.start()
	want := func(counts ...int) {
		t.Helper()
		if got := h.c.Stats().ByClass; !slices.Equal(got, counts) {
			t.Fatalf("ByClass = %v, want %v", got, counts)
		}
	}
	for _, id := range []ItemID{"a", "b", "c"} {
		if _, err := h.c.GetOrCreate(id, item("new")); err != nil {
			t.Fatal(err)
		}
	}
	want(3, 0, 0)
	h.tick()
	h.settled(a, "a", 1)
	want(2, 1, 0) // a sync's update
	if ok, _ := h.c.Update("b", item("done")); !ok {
		t.Fatal("no b")
	}
	want(1, 1, 1) // a Modify
	if _, err := h.c.GetOrCreate("d", item("odd")); err != nil {
		t.Fatal(err)
	}
	want(1, 0, 1) // d counts in no class; the LRU item (a, running) was evicted
	if err := h.c.DeleteDelayed("b"); err != nil {
		t.Fatal(err)
	}
	h.tick()
	h.idle()
	want(1, 0, 0) // a deletion carried out
}

func TestRestoreKeepsDueTimes(t *testing.T) {
	a := newAnswering(func(w ItemWrapper) ItemSyncResponse { return ItemSyncResponse{ID: w.GetID()} })
	h := newHarness(t, Options[Item]{Sync: a.sync})
	due := h.clock.Now().Add(10 * time.Second)
	h.c.Restore([]Entry[Item]{{ID: "a", Item: item("new"), DueAt: due}, {ID: "b", Item: item("new")}})
	h.start()
	h.armedFor(due)
	h.clock.Step(10 * time.Second)
	h.settled(a, "a", 1)
	if n := a.count("b"); n != 0 {
		t.Fatalf("b, on the regular cadence, synced before the tick")
	}
}

func TestTheCacheIsAnAutoRefreshWithUpdate(t *testing.T) {
	var c AutoRefresh = newHarness(t, Options[Item]{Sync: newAnswering(nil).sync}).c
	if _, ok := c.(AutoRefreshWithUpdate); !ok {
		t.Fatal("*AutoRefreshCache[Item] does not implement AutoRefreshWithUpdate")
	}
}
