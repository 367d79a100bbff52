package syncers

import (
	"context"
	"errors"
	"testing"
	"time"
)

// holdSlots takes n slots for cache and returns their releases.
func holdSlots(t *testing.T, c *Calls, cache string, n int) []func() {
	t.Helper()
	var out []func()
	for range n {
		r, err := c.Acquire(context.Background(), cache)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// acquireAsync starts an Acquire and returns a channel that gets its
// release once granted, or nil if it gave up.
func acquireAsync(ctx context.Context, c *Calls, cache string) <-chan func() {
	ch := make(chan func(), 1)
	go func() {
		r, err := c.Acquire(ctx, cache)
		if err != nil {
			r = nil
		}
		ch <- r
	}()
	return ch
}

func TestCallsBoundAndHandOff(t *testing.T) {
	c := NewCalls(4)
	rs := holdSlots(t, c, "a", 3) // three quarters: a's limit alone
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Acquire(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a took more than three quarters of the slots: %v", err)
	}
	// b gets the slot a may not take.
	rb := holdSlots(t, c, "b", 1)
	if c.InFlight() != 4 {
		t.Fatalf("in flight %d, want 4", c.InFlight())
	}
	// A waiter of b is handed a's slot when a releases one? No: b is at
	// its share (4/2 = 2 each, b holds 1), so yes.
	got := acquireAsync(context.Background(), c, "b")
	rs[0]()
	select {
	case r := <-got:
		if r == nil {
			t.Fatal("the waiter gave up")
		}
		r()
	case <-time.After(5 * time.Second):
		t.Fatal("a freed slot was not handed to the waiting cache")
	}
	for _, r := range append(rs[1:], rb...) {
		r()
	}
	if c.InFlight() != 0 {
		t.Fatalf("in flight %d after every release, want 0", c.InFlight())
	}
}

// Waiting caches are served in turn, so one with many waiters does not
// starve another.
func TestCallsFairBetweenCaches(t *testing.T) {
	c := NewCalls(4)
	c.join("a")
	c.join("b") // shares of 2 each
	rs := holdSlots(t, c, "b", 1)
	rs = append(rs, holdSlots(t, c, "a", 2)...)
	queued := func(cache string, n int) {
		eventuallyTrue(t, func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return len(c.queue[cache]) == n
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var aWaits []<-chan func()
	for range 10 {
		aWaits = append(aWaits, acquireAsync(ctx, c, "a"))
	}
	queued("a", 10) // a at its share, one slot free and owed to b
	bWait := acquireAsync(ctx, c, "b")
	// Free a's slots: b (holding 1, share 2) must get one before a's
	// waiters take them all back.
	rs[1]()
	rs[2]()
	select {
	case r := <-bWait:
		if r == nil {
			t.Fatal("b gave up")
		}
		r()
	case <-time.After(5 * time.Second):
		t.Fatal("cache b was starved by cache a's waiters")
	}
	cancel()
	rs[0]()
	for _, w := range aWaits {
		if r := <-w; r != nil {
			r()
		}
	}
	if n := c.InFlight(); n != 0 {
		t.Fatalf("%d slots still held", n)
	}
}

// A busy cache leaves the others' shares free: with three caches and eight
// slots, the first takes five and stops, and the others still get theirs.
func TestCallsLeaveSharesForTheOthers(t *testing.T) {
	c := NewCalls(8)
	for _, name := range []string{"a", "b", "c"} {
		c.join(name)
	}
	holdSlots(t, c, "b", 1) // b is busy: owed its share of 2
	holdSlots(t, c, "a", 5) // its share, then what b and idle c leave
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Acquire(ctx, "a"); err == nil {
		t.Fatal("a took the slots owed to b and c")
	}
	holdSlots(t, c, "b", 1)
	holdSlots(t, c, "c", 1)
	if n := c.InFlight(); n != 8 {
		t.Fatalf("in flight %d, want 8", n)
	}
}

// A waiter that gives up leaves no trace: its slot is not lost.
func TestCallsGivingUpLosesNoSlot(t *testing.T) {
	c := NewCalls(1)
	r := holdSlots(t, c, "a", 1)
	ctx, cancel := context.WithCancel(context.Background())
	w := acquireAsync(ctx, c, "b")
	cancel()
	r[0]()
	if r := <-w; r != nil {
		r() // granted as it gave up: it still gives the slot back
	}
	if n := c.InFlight(); n != 0 {
		t.Fatalf("%d slots still held", n)
	}
	holdSlots(t, c, "c", 1)[0]()
}

func eventuallyTrue(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
