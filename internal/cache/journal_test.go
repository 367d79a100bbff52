package cache

import (
	"math"
	"sync"
	"testing"
	"time"
)

// gateJournal records changes and makes them durable only when told to.
type gateJournal struct {
	mu      sync.Mutex
	changes []Change[Item]
	durable uint64
	cond    *sync.Cond
}

func newGateJournal() *gateJournal {
	g := &gateJournal{}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *gateJournal) Append(c Change[Item]) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.changes = append(g.changes, c)
	return uint64(len(g.changes))
}

func (g *gateJournal) Wait(seq uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.durable < seq {
		g.cond.Wait()
	}
	return nil
}

func (g *gateJournal) Durable() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.durable
}

// release makes everything appended so far durable.
func (g *gateJournal) release() { g.releaseTo(math.MaxUint64) }

// releaseTo makes the changes up to seq durable.
func (g *gateJournal) releaseTo(seq uint64) {
	g.mu.Lock()
	g.durable = max(g.durable, min(seq, uint64(len(g.changes))))
	g.cond.Broadcast()
	g.mu.Unlock()
}

func (g *gateJournal) kinds() []ChangeKind {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []ChangeKind
	for _, c := range g.changes {
		out = append(out, c.Kind)
	}
	return out
}

func TestJournalGatesAcknowledgementsAndReads(t *testing.T) {
	j := newGateJournal()
	rec := newRecorder(advance)
	h := newHarness(t, Options[Item]{Sync: rec.sync, Journal: j, Size: 1})
	h.start()

	created := make(chan error, 1)
	go func() { _, err := h.c.GetOrCreate("a", item("new")); created <- err }()
	eventually(t, "the create appended", func() bool { return len(j.kinds()) >= 1 })
	select {
	case <-created:
		t.Fatal("a create was acknowledged before it was durable")
	case <-time.After(20 * time.Millisecond):
	}
	j.release()
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	// The sync-on-create update is journaled, and a read waits for it to be
	// durable: it never shows a state a crash could take back, nor one that
	// a later change (a DeleteDelayed, say) could be ordered before.
	eventually(t, "the update appended", func() bool { return len(j.kinds()) >= 2 })
	got := make(chan string, 1)
	go func() { got <- mustGet(t, h.c, "a").status }()
	select {
	case s := <-got:
		t.Fatalf("Get answered %q before the update was durable", s)
	case <-time.After(20 * time.Millisecond):
	}
	j.release()
	if s := <-got; s != "running" {
		t.Fatalf("Get after the update was durable = %q, want running", s)
	}

	// Deletion mark, then (size 1) an eviction by the next create.
	go func() { created <- h.c.DeleteDelayed("a") }()
	eventually(t, "mark appended", func() bool { return len(j.kinds()) >= 3 })
	j.release()
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	go func() { _, err := h.c.GetOrCreate("b", item("done")); created <- err }()
	eventually(t, "create and eviction appended", func() bool { return len(j.kinds()) >= 5 })
	j.release()
	<-created
	want := []ChangeKind{ChangePut, ChangePut, ChangeMarkDelete, ChangePut, ChangeDelete}
	if got := j.kinds(); len(got) != len(want) {
		t.Fatalf("journal %v, want %v", got, want)
	} else {
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("journal %v, want %v", got, want)
			}
		}
	}
}

// A deletion mark waits for the journal; if a cycle carries the deletion out
// meanwhile, the caller must still get the item it marked, not NOT_FOUND.
// And the removal itself is shown only once it is durable: until then a
// reader still finds the item, as the pending deletion it durably is (a
// removal shown at once was undone by a crash that took it back).
func TestRemovalIsShownOnlyOnceDurable(t *testing.T) {
	j := newGateJournal()
	h := newHarness(t, Options[Item]{Sync: newRecorder(advance).sync, Journal: j, DisableSyncOnCreate: true})
	h.start()
	created := make(chan error, 1)
	go func() { _, err := h.c.GetOrCreate("a", item("done")); created <- err }()
	eventually(t, "create appended", func() bool { return len(j.kinds()) >= 1 })
	j.release()
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	type result struct {
		e   Entry[Item]
		err error
	}
	marked := make(chan result, 1)
	go func() { e, err := h.c.MarkDelete("a"); marked <- result{e, err} }()
	eventually(t, "mark appended", func() bool { return len(j.kinds()) >= 2 })
	// The cycle journals the removal while the mark still waits; neither
	// is durable, and the cycle waits for the removal.
	h.clock.Step(h.c.opts.ResyncPeriod)
	eventually(t, "removal appended", func() bool { return len(j.kinds()) >= 3 })
	if got := j.kinds(); got[2] != ChangeDelete {
		t.Fatalf("journal %v, want the removal third", got)
	}
	j.releaseTo(2) // the mark, not the removal
	r := <-marked
	if r.err != nil || !r.e.PendingDelete || r.e.ID != "a" {
		t.Fatalf("MarkDelete: %+v, %v", r.e, r.err)
	}
	if it, err := h.c.Get("a"); err != nil || it.(*testItem).status != "done" {
		t.Fatalf("before the removal is durable: Get = %v, %v; want the item", it, err)
	}
	j.release()
	eventually(t, "the durable removal carried out", func() bool {
		_, err := h.c.Get("a")
		return IsNotFound(err)
	})
}
