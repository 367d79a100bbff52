package cache

import (
	"testing"
	"time"
)

// TestModifiedDueWhileAnUpdateSettles: a Modify that makes an item due now
// while a sync's update of it waits to be durable (the item still in
// flight) must still get it synced. The due cycle that pops the item's wake
// time finds it in flight and leaves it to whoever holds it; the update's
// settle, which clears the mark, must then put the passed wake time back,
// or the item waits for the next full cycle (an hour here). It is the
// conformance case RetryItem's rare timeout, made certain by holding the
// journal.
func TestModifiedDueWhileAnUpdateSettles(t *testing.T) {
	j := newGateJournal()
	rec := newRecorder(advance)
	h := newHarness(t, Options[Item]{Sync: rec.sync, Journal: j, ResyncPeriod: time.Hour})
	h.start()

	created := make(chan error, 1)
	go func() { _, err := h.c.GetOrCreate("a", item("running")); created <- err }()
	eventually(t, "the create appended", func() bool { return len(j.kinds()) >= 1 })
	j.releaseTo(1)
	if err := <-created; err != nil {
		t.Fatal(err)
	}

	// Sync-on-create takes a: running → done (terminal), and the update
	// waits for the journal, the item in flight.
	eventually(t, "the sync's update appended", func() bool { return len(j.kinds()) >= 2 })

	// A Modify makes it active again and due now; it waits for the journal
	// too. The due cycle its wake time starts finds the item in flight.
	modified := make(chan error, 1)
	go func() {
		_, err := h.c.Modify("a", func(Item) (Item, error) { return item("running"), nil }, true)
		modified <- err
	}()
	eventually(t, "the Modify appended", func() bool { return len(j.kinds()) >= 3 })
	eventually(t, "the due cycle popped the wake time", func() bool { return h.c.due.peek() == 0 })

	j.release()
	if err := <-modified; err != nil {
		t.Fatal(err)
	}
	eventually(t, "a synced again after the Modify made it due", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.items["a"] >= 2
	})
	// That sync's update (done) is the journal's fourth change: let it
	// through, so that the cache can stop.
	eventually(t, "the second sync's update appended", func() bool { return len(j.kinds()) >= 4 })
	j.release()
}
