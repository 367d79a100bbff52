package cache

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"
)

// dispatch takes batches until the queue is shut down and drained, and
// syncs each on a goroutine of its own, at most Parallelism at a time.
// Workers exist only while they have a batch: an idle cache holds the
// dispatcher and no worker, whatever its parallelism (a thousand caches of
// parallelism 1,000 once meant a million goroutines doing nothing). ctx is
// the cache's: once it ends, queued batches are abandoned. syncCtx is passed
// to the SyncFunc and may outlive ctx by the drain timeout. workers counts
// the dispatcher (which is in it already, so adding to it is allowed while
// Start waits on it) and every worker.
func (c *AutoRefreshCache[T]) dispatch(ctx, syncCtx context.Context, q workQueue[T], workers *sync.WaitGroup) {
	slots := make(chan struct{}, c.opts.Parallelism)
	for {
		slots <- struct{}{} // a free slot before taking a batch, so none waits in hand
		b, shutdown := q.Get()
		if shutdown {
			return
		}
		workers.Go(func() {
			defer func() { <-slots }()
			c.process(ctx, syncCtx, q, b)
		})
	}
}

// process syncs one batch and applies the result. Whatever happens (an error,
// a panic in the SyncFunc, a stopped cache) every item of the batch leaves
// the in-flight set before process returns: finish runs unconditionally and
// the SyncFunc's panics are recovered before they reach it.
func (c *AutoRefreshCache[T]) process(ctx, syncCtx context.Context, q workQueue[T], b *BatchOf[T]) {
	// Runs last: client-go's delaying queue keeps popped *Batch pointers in
	// its heap's spare capacity, so a processed batch must pin nothing
	// (wrappers, entries, items) once it is done.
	defer func() { *b = nil }()
	defer q.Done(b)
	// The limiter keys on the batch pointer, which is never queued again:
	// forgetting it keeps the limiter's per-item map from growing.
	defer q.Forget(b)
	batch := *b
	c.stats.queued.Add(-int64(len(batch)))
	if len(batch) > 0 && batch[0].(*itemWrapper[T]).cycle == 0 {
		c.createBatchLeft()
	}
	if ctx.Err() != nil || c.paused.Load() {
		// Stopped, or paused: not sent. A paused cache's items keep their
		// due times, and Resume's cycle takes them again.
		c.finish(batch, nil, errAbandoned)
		return
	}
	if c.opts.Deadline != nil {
		// No sync starts after an item's deadline, however long its
		// batch waited in the queue.
		if batch = c.expireLate(batch); len(batch) == 0 {
			return
		}
	}
	c.stats.syncing.Add(1)
	defer c.stats.syncing.Add(-1)
	start := c.opts.Clock.Now()
	resp, err := c.callSync(syncCtx, batch)
	c.m.syncDuration.Observe(c.opts.Clock.Since(start).Seconds())
	c.finish(batch, resp, err)
}

// callSync runs the SyncFunc, turning a panic into an error.
func (c *AutoRefreshCache[T]) callSync(ctx context.Context, batch BatchOf[T]) (resp []ItemSyncResponseOf[T], err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: debug.Stack()}
		}
	}()
	return c.opts.Sync(ctx, batch)
}

// finish applies a sync result to the batch's entries and clears their
// in-flight marks. On error the batch counts as failed and only the
// answers returned with the error are applied (a SyncFunc may say what it
// made of each item, a failed attempt say); the other items keep their
// state and their due time, so they are tried again at the next resync
// period, not in a loop.
func (c *AutoRefreshCache[T]) finish(batch BatchOf[T], resp []ItemSyncResponseOf[T], err error) {
	if err != nil {
		if err != errAbandoned {
			c.m.batches.WithLabelValues("error").Inc()
			c.recordError(ReasonOf(err), err)
		}
		// Paused since the call began: what a failure made of the items
		// (failed attempts) is not applied, since a paused cache fails no
		// item; they are synced again once resumed.
		if len(resp) == 0 || err == errAbandoned || c.paused.Load() {
			for _, w := range batch {
				c.release(w.(*itemWrapper[T]).e)
			}
			return
		}
	} else {
		c.stats.syncs.Add(1)
		c.stats.lastSyncAt.Store(c.opts.Clock.Now().UnixNano())
		c.m.batches.WithLabelValues("ok").Inc()
	}

	// Index the answers by id. The first answer for an id wins; answers for
	// ids outside the batch are dropped: a SyncFunc cannot create items.
	var answers map[ItemID]ItemSyncResponseOf[T]
	if len(resp) > 0 {
		answers = make(map[ItemID]ItemSyncResponseOf[T], len(resp))
		inBatch := make(map[ItemID]struct{}, len(batch))
		for _, w := range batch {
			inBatch[w.GetID()] = struct{}{}
		}
		for _, r := range resp {
			if _, ok := inBatch[r.ID]; !ok {
				c.m.items.WithLabelValues("dropped").Inc()
				continue
			}
			if _, dup := answers[r.ID]; dup {
				c.m.items.WithLabelValues("dropped").Inc()
				continue
			}
			answers[r.ID] = r
		}
	}

	now := c.opts.Clock.Now()
	nowN := now.UnixNano()
	var unchanged, dropped float64
	var itemErrs int
	var lastItemErr error
	// An update changes the entry and queues its event under the shard's
	// lock, in one step with its journal record: a DeleteDelayed or another
	// change of the item lands wholly before or after it, never between.
	// Readers wait for the entry's sequence to be durable before they show
	// it, and its event leaves only then; the item stays in flight until
	// then too, so no cycle sends the upstream a state a crash could take
	// back.
	var updated, expired []*entry[T]
	var lastSeq uint64
	for _, w := range batch {
		iw := w.(*itemWrapper[T])
		r, answered := answers[iw.id]
		if answered && r.Err != nil {
			itemErrs++
			lastItemErr = r.Err
			if c.paused.Load() {
				answered = false // as for a failed batch: a paused cache fails no item
			}
		}
		s := c.shardOf(iw)
		s.mu.Lock()
		e := iw.e
		old := c.wake(e)
		switch {
		case e.removed, c.retired.Load():
			// Deleted or evicted meanwhile: the result must not bring it
			// back. Or the cache was retired: its successor has the items.
			e.inFlight = false
			dropped++
		case e.ver != iw.ver:
			// Changed (Modify, an expiry) since the batch was cut: the
			// answer is about a state the item no longer has, and the
			// later change wins.
			e.inFlight = false
			dropped++
		case !answered && (err != nil || r.Err != nil):
			// The failed batch said nothing of it: as it was, and tried
			// again at the next tick (a due time kept would retry it at
			// once, in a loop).
			e.inFlight = false
			e.setDue(0)
		case answered && r.Action == Update && !isNil(r.Item) && !e.pendingDelete:
			c.setItem(s, e, r.Item)
			e.syncedAt = nowN
			e.setDue(dueAfter(nowN, r.NextSyncAfter))
			e.setSeq(c.change(s, Change[T]{Kind: ChangePut, ID: iw.id, Item: r.Item, SyncedAt: now},
				Event[T]{Type: Updated, ID: iw.id, Item: r.Item}))
			lastSeq = max(lastSeq, e.seq())
			updated = append(updated, e)
		case answered && r.Action == Update && !isNil(r.Item):
			// Being deleted: it stays as it was until the cycle removes it.
			e.inFlight = false
			dropped++
		default:
			e.syncedAt = nowN
			if answered {
				e.setDue(dueAfter(nowN, r.NextSyncAfter))
			} else {
				e.setDue(0)
			}
			e.inFlight = false
			unchanged++
		}
		if !e.removed && c.pastDeadline(e, nowN) && !c.retired.Load() && !c.paused.Load() && !e.pendingDelete {
			// Its deadline came while it was being synced.
			if !e.inFlight {
				expired = append(expired, e)
			}
			lastSeq = max(lastSeq, c.expireLocked(s, e, now))
		} else if !e.removed {
			c.rescheduleSince(e, old, nowN)
		}
		s.mu.Unlock()
	}
	c.m.items.WithLabelValues("unchanged").Add(unchanged)
	c.m.items.WithLabelValues("dropped").Add(dropped)
	if itemErrs > 0 {
		c.recordItemErrors(itemErrs, lastItemErr)
	}
	if len(updated) > 0 || len(expired) > 0 {
		c.settle(updated, expired, lastSeq)
	}
}

// dueAfter is the explicit due time that a NextSyncAfter of d sets at now;
// 0 (the regular cadence) when d is not positive.
func dueAfter(now int64, d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return now + int64(d)
}

// expireLate takes out of a batch about to be sent the items whose
// deadline has passed, expiring them instead, and returns the rest.
func (c *AutoRefreshCache[T]) expireLate(batch BatchOf[T]) BatchOf[T] {
	now := c.opts.Clock.Now()
	nowN := now.UnixNano()
	var expired []*entry[T]
	var last uint64
	kept := batch
	for i, w := range batch {
		iw := w.(*itemWrapper[T])
		s := c.shardOf(iw)
		s.mu.Lock()
		e := iw.e
		late := !e.removed && !c.retired.Load() && !e.pendingDelete && e.ver == iw.ver && c.pastDeadline(e, nowN)
		if late {
			last = max(last, c.expireLocked(s, e, now))
			expired = append(expired, e)
		}
		s.mu.Unlock()
		switch {
		case late && len(expired) == 1:
			kept = append(make(BatchOf[T], 0, len(batch)-1), batch[:i]...)
		case !late && len(expired) > 0:
			kept = append(kept, w)
		}
	}
	c.settleChanges(expired, last)
	return kept
}

// settle waits for a batch's updates and expiries to be durable (one wait
// for the whole batch: the journal commits in order), then clears their
// in-flight marks and delivers their events.
func (c *AutoRefreshCache[T]) settle(updated, expired []*entry[T], lastSeq uint64) {
	c.settleChanges(append(updated, expired...), lastSeq)
	c.m.items.WithLabelValues("update").Add(float64(len(updated)))
}

// recordItemErrors counts n items that a SyncFunc answered with Err, as
// sync errors under the reason "item_error", and keeps the last one's text
// as the last error. They are not logged one by one: an upstream with
// many failing items would flood the log, and the SyncFunc knows more.
func (c *AutoRefreshCache[T]) recordItemErrors(n int, last error) {
	c.stats.syncErrors.Add(uint64(n))
	c.m.syncErrorN("item_error", float64(n))
	msg := last.Error()
	c.stats.lastError.Store(&msg)
	c.stats.lastErrorAt.Store(c.opts.Clock.Now().UnixNano())
	c.opts.Logger.Debug("items failed", zap.String("cache", c.opts.Name), zap.Int("items", n), zap.Error(last))
}

// recordError counts a failure and remembers its text as the last error.
func (c *AutoRefreshCache[T]) recordError(reason string, err error) {
	c.stats.syncErrors.Add(1)
	c.m.syncError(reason)
	msg := err.Error()
	c.stats.lastError.Store(&msg)
	c.stats.lastErrorAt.Store(c.opts.Clock.Now().UnixNano())
	fields := []zap.Field{zap.String("cache", c.opts.Name), zap.String("reason", reason), zap.Error(err)}
	if p, ok := err.(*panicError); ok {
		fields = append(fields, zap.ByteString("stack", p.stack))
		c.opts.Logger.Error("sync panicked", fields...)
		return
	}
	var reasoned SyncErrorReasoner
	if errors.As(err, &reasoned) {
		// A SyncFunc that knows its failure reasons (the webhook syncer)
		// logs them itself; one warning per failure is enough.
		c.opts.Logger.Debug("sync failed", fields...)
		return
	}
	c.opts.Logger.Warn("sync failed", fields...)
}

// unixNano turns a stored timestamp back into a UTC time; zero stays zero.
func unixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// nanos is unixNano's inverse.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
