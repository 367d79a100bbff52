package syncers

import (
	"context"
	"sync"
)

// DefaultMaxCalls is the default server-wide bound on webhook calls in
// flight (--max-webhook-calls).
const DefaultMaxCalls = 512

// Calls bounds the webhook calls in flight across every cache of a server,
// so that slow upstreams cannot take every file descriptor and shut the API
// out (the audit saw five caches of parallelism 1,000 against a listener
// that never answers exhaust them, and /healthz time out for a minute).
//
// It is fair between the caches whose webhooks share it (each Webhook
// joins when made and leaves when closed): each cache is sure of its share,
// the bound divided by the caches (at least one slot), and may hold more
// only while enough slots stay free for the others (see mayTakeLocked).
// Hung calls cannot be taken back, so what is kept free is what lets a
// cache that becomes busy while another's upstream hangs get calls out. No
// cache holds more than three quarters of the slots, even alone. A freed
// slot is handed straight to one waiter, the waiting caches in turn (no
// herd of waiters waking to race for it).
//
// Locking: mu guards every field.
type Calls struct {
	max int

	mu      sync.Mutex
	inUse   int
	members map[string]int       // webhooks alive, by cache
	held    map[string]int       // slots held, by cache
	queue   map[string][]*waiter // waiters, by cache, oldest first
	turn    []string             // caches with waiters, in the order they are served
}

// waiter is one caller waiting for a slot. granted is set, under mu, when a
// slot is handed to it; ch is closed then.
type waiter struct {
	ch      chan struct{}
	granted bool
}

// NewCalls returns a bound of max calls in flight (DefaultMaxCalls if max
// is not positive).
func NewCalls(max int) *Calls {
	if max <= 0 {
		max = DefaultMaxCalls
	}
	return &Calls{max: max, members: map[string]int{}, held: map[string]int{}, queue: map[string][]*waiter{}}
}

// join counts a webhook of cache among those sharing the bound; leave
// undoes it. A nil Calls ignores both.
func (c *Calls) join(cache string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.members[cache]++
	c.mu.Unlock()
}

func (c *Calls) leave(cache string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if c.members[cache]--; c.members[cache] <= 0 {
		delete(c.members, cache)
	}
	c.grantLocked() // the others' shares grew
	c.mu.Unlock()
}

// Max returns the bound.
func (c *Calls) Max() int { return c.max }

// InFlight returns the slots held now.
func (c *Calls) InFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inUse
}

// Acquire waits for a slot for cache, or for ctx to end (returning its
// error). A nil Calls bounds nothing. Call the returned release exactly once
// when the call is over.
func (c *Calls) Acquire(ctx context.Context, cache string) (release func(), err error) {
	if c == nil {
		return func() {}, nil
	}
	c.mu.Lock()
	if len(c.queue[cache]) == 0 && c.mayTakeLocked(cache, c.demandLocked()) {
		c.takeLocked(cache)
		c.mu.Unlock()
		return c.releaser(cache), nil
	}
	w := &waiter{ch: make(chan struct{})}
	if len(c.queue[cache]) == 0 {
		c.turn = append(c.turn, cache)
	}
	c.queue[cache] = append(c.queue[cache], w)
	c.mu.Unlock()
	select {
	case <-w.ch:
		return c.releaser(cache), nil
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if w.granted { // handed a slot as ctx ended: give it on
		c.giveBackLocked(cache)
		return nil, ctx.Err()
	}
	c.dropWaiterLocked(cache, w)
	return nil, ctx.Err()
}

func (c *Calls) releaser(cache string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.giveBackLocked(cache)
			c.mu.Unlock()
		})
	}
}

// giveBackLocked frees cache's slot and hands out what is free. Callers
// hold mu.
func (c *Calls) giveBackLocked(cache string) {
	c.inUse--
	if c.held[cache]--; c.held[cache] == 0 {
		delete(c.held, cache)
	}
	c.grantLocked()
}

func (c *Calls) takeLocked(cache string) {
	c.inUse++
	c.held[cache]++
}

// shareLocked is each cache's sure share of the slots. Callers hold mu.
func (c *Calls) shareLocked() int {
	return max(1, c.max/max(1, len(c.members)))
}

// mayTakeLocked reports whether cache may take a slot now: one is free,
// the cache holds under three quarters of them, and what stays free is
// enough for the others: one slot each (at most an eighth of the bound in
// all) for the caches that hold and want nothing, so that a cache that
// becomes busy while hung calls hold the rest still gets one; and, once the
// cache holds its share, the shares of the caches that hold or wait for
// slots. Callers hold mu.
func (c *Calls) mayTakeLocked(cache string, d demand) bool {
	free := c.max - c.inUse
	held := c.held[cache]
	if free <= 0 || (c.max >= 4 && held >= c.max-c.max/4) {
		return false
	}
	// d counts every member; take cache's own part out.
	owed, idle := d.owed, d.idle
	if _, member := c.members[cache]; member {
		if c.idleLocked(cache) {
			idle--
		} else {
			owed -= max(0, d.share-held)
		}
	}
	reserve := min(idle, c.max/8)
	if held >= d.share {
		reserve += owed
	}
	return free > reserve
}

// demand is what the members want of the slots: the share each is sure
// of, what the busy ones are still owed of theirs, and how many are idle.
type demand struct{ share, owed, idle int }

// demandLocked sums the members' demand in one pass, so that choosing
// among the waiting caches costs one pass, not one per cache. Callers hold
// mu.
func (c *Calls) demandLocked() demand {
	d := demand{share: c.shareLocked()}
	for name := range c.members {
		if c.idleLocked(name) {
			d.idle++
		} else {
			d.owed += max(0, d.share-c.held[name])
		}
	}
	return d
}

// idleLocked reports whether cache holds and waits for nothing. Callers
// hold mu.
func (c *Calls) idleLocked(cache string) bool {
	return c.held[cache] == 0 && len(c.queue[cache]) == 0
}

// grantLocked hands free slots to waiters, one cache at a time in turn,
// skipping caches at their share. Callers hold mu.
func (c *Calls) grantLocked() {
	for c.inUse < c.max && len(c.turn) > 0 {
		granted := false
		d := c.demandLocked()
		for i := 0; i < len(c.turn); i++ {
			cache := c.turn[i]
			if !c.mayTakeLocked(cache, d) {
				continue
			}
			w := c.queue[cache][0]
			c.queue[cache] = c.queue[cache][1:]
			// This cache was served: it goes to the back of the turn,
			// or leaves it with no one waiting.
			c.turn = append(c.turn[:i], c.turn[i+1:]...)
			if len(c.queue[cache]) > 0 {
				c.turn = append(c.turn, cache)
			} else {
				delete(c.queue, cache)
			}
			c.takeLocked(cache)
			w.granted = true
			close(w.ch)
			granted = true
			break
		}
		if !granted {
			return // every waiting cache is at its share
		}
	}
}

// dropWaiterLocked takes a waiter that gave up out of the queue. Callers
// hold mu.
func (c *Calls) dropWaiterLocked(cache string, w *waiter) {
	q := c.queue[cache]
	for i := range q {
		if q[i] == w {
			q = append(q[:i], q[i+1:]...)
			break
		}
	}
	if len(q) > 0 {
		c.queue[cache] = q
		return
	}
	delete(c.queue, cache)
	for i, name := range c.turn {
		if name == cache {
			c.turn = append(c.turn[:i], c.turn[i+1:]...)
			break
		}
	}
	c.grantLocked()
}
