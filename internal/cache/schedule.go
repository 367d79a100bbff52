package cache

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// Scheduling by due time. Every entry has a due time (entry.due): zero is
// the regular cadence, the next resync tick, as in Flyte; a sync answer's
// NextSyncAfter or Modify's dueNow sets an explicit one. A tick skips the
// entries whose explicit due time is still ahead. An entry's wake time is
// the earlier of its explicit due time and its deadline (Options.Deadline):
// entries that have one are in the due heap (dueheap.go), and the refresh
// loop runs a due cycle when the earliest passes, between ticks if need be.
// A due cycle looks at the popped entries only.

// wake returns e's wake time in Unix nanoseconds, 0 for none. Callers
// hold the lock of e's shard.
func (c *AutoRefreshCache[T]) wake(e *entry[T]) int64 {
	if c.opts.Deadline == nil && e.due() == 0 {
		return 0 // the common case, without a call to IsTerminal
	}
	if e.item.IsTerminal() {
		return 0
	}
	w := e.due()
	if c.opts.Deadline != nil {
		if d := nanos(c.opts.Deadline(e.item)); d != 0 && (w == 0 || d < w) {
			w = d
		}
	}
	return w
}

// reschedule puts e in the due heap after a change, if its wake time
// differs from old (its wake time before the change). A wake time that has
// passed is pushed again even when unchanged, since its node may have been
// popped while e could not be acted on (in flight); a stale duplicate
// costs a look, never a second sync. Callers hold the lock of e's shard.
func (c *AutoRefreshCache[T]) reschedule(e *entry[T], old, now int64) {
	if w := c.wake(e); w != 0 && (w != old || w <= now) {
		c.due.push(w, e)
	}
}

// rescheduleSince is reschedule for an entry coming out of flight, given
// a reading of the clock taken before its shard's lock. A wake time after
// that reading was set by a Modify between the reading and the lock, and
// its node may have been popped while e was in flight (and skipped): it
// must count as passed if it has, so only then is the clock read again,
// under the lock. Items on the regular cadence (no wake time) and wake
// times before the reading cost no clock read, which keeps it off the
// sync loop's per-item path. Callers hold the lock of e's shard.
func (c *AutoRefreshCache[T]) rescheduleSince(e *entry[T], old, before int64) {
	now := before
	if w := c.wake(e); w > before {
		now = c.opts.Clock.Now().UnixNano()
	}
	c.reschedule(e, old, now)
}

// pastDeadline reports whether e is a non-terminal item whose deadline
// has come. Callers hold the lock of e's shard.
func (c *AutoRefreshCache[T]) pastDeadline(e *entry[T], now int64) bool {
	if c.opts.Deadline == nil || e.item.IsTerminal() {
		return false
	}
	d := nanos(c.opts.Deadline(e.item))
	return d != 0 && d <= now
}

// expireLocked replaces e's item with Expire's result as a change:
// journaled, its Updated event queued, its change counter bumped, and e
// marked in flight until settleChanges finds it durable (as a sync's
// update is). It returns the change's sequence. Callers hold s.mu, the
// lock of e's shard, and have checked pastDeadline.
func (c *AutoRefreshCache[T]) expireLocked(s *shard[T], e *entry[T], now time.Time) uint64 {
	n := c.opts.Expire(e.item, now)
	if isNil(n) {
		return e.seq()
	}
	c.setItem(s, e, n)
	e.ver++
	e.setDue(0)
	e.inFlight = true
	e.setSeq(c.change(s, Change[T]{Kind: ChangePut, ID: e.id, Item: n, SyncedAt: unixNano(e.syncedAt)},
		Event[T]{Type: Updated, ID: e.id, Item: n}))
	c.reschedule(e, 0, 0) // Expire's result may still have a (later) deadline
	return e.seq()
}

// settleChanges waits for changes made by a background goroutine
// (expiries) to be durable, then clears their entries' in-flight marks and
// delivers their events.
func (c *AutoRefreshCache[T]) settleChanges(changed []*entry[T], lastSeq uint64) {
	if len(changed) == 0 {
		return
	}
	err := c.awaitDurable(lastSeq)
	if err != nil {
		c.opts.Logger.Error("changes not durable: " + err.Error())
	}
	var last *shard[T]
	before := c.opts.Clock.Now().UnixNano()
	for _, e := range changed {
		s := c.sh.of(e.id)
		s.mu.Lock()
		e.inFlight = false
		// A due cycle that popped e's wake time while e was in flight
		// left it to whoever held e (see reschedule). The change set e's
		// next wake time in the future, so one that has passed is a
		// Modify's since (made due now while the change waited to be
		// durable): pushed again, or e would wait for the next full cycle.
		if !e.removed {
			c.rescheduleSince(e, c.wake(e), before)
		}
		s.mu.Unlock()
		if err == nil && s != last {
			c.deliver(s)
			last = s
		}
	}
}

// dueCycle syncs or expires the entries whose wake time has passed. It
// runs on the refresh loop, like a cycle, and cuts its snapshot into
// batches the same way.
func (c *AutoRefreshCache[T]) dueCycle(ctx context.Context, q workQueue[T], cycle uint64) {
	if c.paused.Load() {
		return
	}
	now := c.opts.Clock.Now()
	nowN := now.UnixNano()
	nodes := c.due.popDue(nowN)
	if len(nodes) == 0 {
		return
	}
	var out []ItemWrapperOf[T]
	var expired []*entry[T]
	var last uint64
	for _, n := range nodes {
		e := n.e
		s := c.sh.of(e.id)
		s.mu.Lock()
		switch {
		case e.removed, e.inFlight, e.pendingDelete, c.retired.Load(), n.at != c.wake(e):
			// Stale, or not ours to act on now: whoever holds it
			// reschedules it (see reschedule).
		case c.pastDeadline(e, nowN):
			last = max(last, c.expireLocked(s, e, now))
			expired = append(expired, e)
		case e.due() != 0 && e.due() <= nowN:
			e.inFlight = true
			w := wrap(s, e, cycle)
			out = append(out, &w)
		}
		s.mu.Unlock()
	}
	c.stats.dueCycles.Add(1)
	c.settleChanges(expired, last)
	c.cut(ctx, q, out, cycle)
}

// dueTimer is the refresh loop's alarm for the earliest wake time.
type dueTimer struct {
	t  clock.Timer
	C  <-chan time.Time
	at int64 // the wake time it is set for; 0 when unset
}

func (d *dueTimer) stop() {
	if d.t != nil {
		d.t.Stop()
	}
	d.C, d.at = nil, 0
}

// runDue runs a due cycle if the earliest wake time has passed, and sets
// the loop's timer for the next one. While paused nothing is due: Resume
// runs a full cycle, which takes whatever came due meanwhile.
func (c *AutoRefreshCache[T]) runDue(ctx context.Context, q workQueue[T], timer *dueTimer, cycle *uint64) {
	if c.paused.Load() || ctx.Err() != nil {
		timer.stop()
		return
	}
	at := c.due.peek()
	if at == 0 {
		timer.stop()
		return
	}
	now := c.opts.Clock.Now().UnixNano()
	if at <= now {
		*cycle++
		c.dueCycle(ctx, q, *cycle)
		c.maybeCompact()
		if at = c.due.peek(); at == 0 {
			timer.stop()
			return
		}
		if now = c.opts.Clock.Now().UnixNano(); at <= now {
			// Came due while this cycle ran: come round again once the
			// loop has seen to anything else waiting.
			timer.stop()
			c.due.signal()
			return
		}
	}
	if timer.at == at && timer.C != nil {
		return
	}
	timer.stop()
	timer.t = c.opts.Clock.NewTimer(time.Duration(at - now))
	timer.C, timer.at = timer.t.C(), at
	c.dueArmed.Store(at)
	if c.opts.Clock.Now().UnixNano() >= at {
		// The clock passed it between the read above and the timer's
		// start (a fake clock stepped meanwhile): the timer would be
		// late, so look again now.
		c.due.signal()
	}
}

// signal wakes the refresh loop to look at the heap again.
func (h *dueHeap[T]) signal() {
	select {
	case h.ready <- struct{}{}:
	default:
	}
}

// maybeCompact drops the stale nodes of the due heap once they are more
// than the live ones could need, so that wake times changed over and over
// (retries of an item due far ahead) do not pile up. Stale means the node's
// time is no longer its entry's wake time.
func (c *AutoRefreshCache[T]) maybeCompact() {
	if c.due.n.Load() <= 2*c.n.Load()+1024 {
		return
	}
	nodes := c.due.take()
	for _, n := range nodes {
		s := c.sh.of(n.e.id)
		s.mu.Lock()
		keep := !n.e.removed && n.at == c.wake(n.e)
		s.mu.Unlock()
		if keep {
			c.due.push(n.at, n.e)
		}
	}
}

// NextTick returns when the next regular resync tick is due: the time an
// entry with no DueAt is next synced, if the cache runs and is not paused.
// It is zero before Start.
func (c *AutoRefreshCache[T]) NextTick() time.Time {
	base := c.tickBase.Load()
	if base == 0 {
		return time.Time{}
	}
	p := int64(c.opts.ResyncPeriod)
	now := c.opts.Clock.Now().UnixNano()
	k := (now-base)/p + 1
	return unixNano(base + k*p)
}
