package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// workQueue is the rate-limited queue of batches the workers drain.
type workQueue[T Item] = workqueue.TypedRateLimitingInterface[*BatchOf[T]]

// itemWrapper is the cache's ItemWrapper: the id and item as they were when
// the batch was cut, plus the entry they came from so that the result can be
// applied to exactly that entry and no newer one with the same id.
type itemWrapper[T Item] struct {
	id      ItemID
	item    T
	e       *entry[T]
	cycle   uint64 // the cycle whose snapshot holds it; 0 for sync-on-create
	ver     uint32 // the entry's change counter when the batch was cut
	claimed bool   // already placed in a batch of this cycle
	// shard is the index of e's shard, so that applying the answer finds
	// it without hashing the id again (it fits in the padding).
	shard uint8
}

// wrap returns a wrapper for e, which lives in s, as of now. Callers hold
// s.mu.
func wrap[T Item](s *shard[T], e *entry[T], cycle uint64) itemWrapper[T] {
	return itemWrapper[T]{id: e.id, item: e.item, e: e, cycle: cycle, ver: e.ver, shard: s.no}
}

// shardOf returns the shard of w's entry.
func (c *AutoRefreshCache[T]) shardOf(w *itemWrapper[T]) *shard[T] { return &c.sh.s[w.shard] }

// GetID implements ItemWrapper.
func (w *itemWrapper[T]) GetID() ItemID { return w.id }

// GetItem implements ItemWrapper.
func (w *itemWrapper[T]) GetItem() T { return w.item }

// Start launches the refresh loop and the workers. Cancelling ctx stops them:
// the loop shuts the work queue down, workers abandon the batches still queued
// (their items keep their state and lose their in-flight mark), SyncFunc calls
// under way are cancelled (after Options.DrainTimeout, if set), and Stopped is
// closed when every goroutine has returned. A second call returns
// ErrAlreadyStarted.
func (c *AutoRefreshCache[T]) Start(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return ErrAlreadyStarted
	}
	q := workqueue.NewTypedRateLimitingQueueWithConfig(c.opts.RateLimiter, workqueue.TypedRateLimitingQueueConfig[*BatchOf[T]]{
		Name:            c.opts.Name,
		MetricsProvider: c.m.queue,
		Clock:           c.opts.Clock,
	})
	c.queue.Store(&q)
	// The ticker is made here, not in the loop, so that a fake clock stepped
	// right after Start returns always reaches it.
	ticker := c.opts.Clock.NewTicker(c.opts.ResyncPeriod)
	c.tickBase.Store(c.opts.Clock.Now().UnixNano())

	// Syncs run under their own context so that a stop can let the calls
	// already under way finish, for up to DrainTimeout, while nothing new
	// starts.
	syncCtx, abortSyncs := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	workers.Go(func() { c.dispatch(ctx, syncCtx, q, &workers) })
	var wg sync.WaitGroup
	wg.Go(func() { c.loop(ctx, q, ticker) })
	if c.opts.OnEvent != nil {
		wg.Go(func() { c.deliverRemovals(ctx) })
	}
	wg.Go(func() {
		defer abortSyncs()
		<-ctx.Done()
		if c.opts.DrainTimeout <= 0 {
			return
		}
		drained := make(chan struct{})
		go func() { workers.Wait(); close(drained) }()
		timer := c.opts.Clock.NewTimer(c.opts.DrainTimeout)
		defer timer.Stop()
		select {
		case <-drained:
		case <-timer.C():
			abortSyncs()
			<-drained
		}
	})
	go func() {
		wg.Wait()
		workers.Wait()
		c.releaseAll()
		c.due.clear()
		c.Close()
		close(c.stopped)
	}()
	return nil
}

// loop runs a cycle at every resync tick or SyncNow, until ctx ends. There is
// no cycle at start: new items are synced on create, and items restored from
// storage wait one period, so a restart does not stampede the upstreams. It owns the queue's shutdown so that workers see it only after no
// more batches can be added by a cycle.
func (c *AutoRefreshCache[T]) loop(ctx context.Context, q workQueue[T], ticker clock.Ticker) {
	defer q.ShutDown()
	defer ticker.Stop()
	// linger runs while created items wait to be cut into batches; its
	// items keep their in-flight marks until then (or until releaseAll).
	var linger clock.Timer
	var lingerC <-chan time.Time
	defer func() {
		if linger != nil {
			linger.Stop()
		}
	}()
	// due wakes the loop for the earliest explicit due time or deadline
	// (see schedule.go); it is unset while nothing has one.
	var due dueTimer
	defer due.stop()
	var cycle uint64
	c.runDue(ctx, q, &due, &cycle) // restored items past their deadline
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.created.ready:
			if lingerC == nil {
				linger = c.opts.Clock.NewTimer(c.opts.CreateLinger)
				lingerC = linger.C()
			}
			continue
		case <-lingerC:
			lingerC = nil
			c.cutCreated(ctx, c.takeCreated())
			continue
		case <-c.due.ready:
			c.runDue(ctx, q, &due, &cycle)
			continue
		case <-due.C:
			due.C, due.at = nil, 0
			c.runDue(ctx, q, &due, &cycle)
			continue
		case <-ticker.C():
		case <-c.trigger:
		}
		cycle++
		c.cycle(ctx, q, cycle)
		c.stats.cycles.Add(1)
		c.maybeCompact() // removed entries wait in the heap for their time otherwise
		c.runDue(ctx, q, &due, &cycle)
	}
}

// cycle carries out pending deletions, then snapshots every item that is due
// (non-terminal, not in flight, not being deleted), cuts the snapshot into
// batches and queues them.
func (c *AutoRefreshCache[T]) cycle(ctx context.Context, q workQueue[T], cycle uint64) {
	c.deletePending()
	if ctx.Err() != nil || c.paused.Load() {
		return
	}
	snapshot := c.snapshot(cycle, c.force.Swap(false))
	c.cut(ctx, q, snapshot, cycle)
}

// cut cuts a cycle's snapshot into batches and queues them; the items left
// out are released.
func (c *AutoRefreshCache[T]) cut(ctx context.Context, q workQueue[T], snapshot []ItemWrapperOf[T], cycle uint64) {
	if len(snapshot) == 0 {
		return
	}
	batches, err := c.createBatches(ctx, snapshot)
	if err != nil {
		c.opts.Logger.Error("create batches failed", zap.String("cache", c.opts.Name), zap.Error(err))
		c.recordError("create_batches", err)
		batches = nil
	}
	batches = c.claim(snapshot, batches, cycle)
	for _, w := range snapshot {
		if !w.(*itemWrapper[T]).claimed {
			c.release(w.(*itemWrapper[T]).e)
		}
	}
	for _, b := range batches {
		c.enqueue(q, b)
	}
}

// snapshot marks every due item in flight and returns wrappers for them.
// An item whose explicit due time is ahead is skipped; one past its
// deadline is expired instead (and the expiries are durable before it
// returns).
//
// all (a SyncNow cycle) takes the items whose due time is ahead too.
func (c *AutoRefreshCache[T]) snapshot(cycle uint64, all bool) []ItemWrapperOf[T] {
	// Sized as the last snapshot was (at most the items held): a cycle of
	// 100,000 items otherwise regrew out 12 times and left its copies, and
	// up to half a chunk of wrappers, to the collector.
	hint := int(min(c.lastSnapshot.Load(), c.n.Load()))
	out := make([]ItemWrapperOf[T], 0, hint)
	wrappers := make([]itemWrapper[T], 0, hint)
	now := c.opts.Clock.Now()
	nowN := now.UnixNano()
	deadlines := c.opts.Deadline != nil
	var expired []*entry[T]
	var last uint64
	for i := range c.sh.s {
		s := &c.sh.s[i]
		s.mu.Lock()
		for e := range s.idx.all() {
			if e.inFlight || e.pendingDelete || e.due() > nowN && !all || e.item.IsTerminal() {
				continue
			}
			if deadlines && c.pastDeadline(e, nowN) && !c.retired.Load() {
				last = max(last, c.expireLocked(s, e, now))
				expired = append(expired, e)
				continue
			}
			e.inFlight = true
			if len(wrappers) == cap(wrappers) {
				// Grow in chunks: one allocation per chunk instead of
				// one per item, and earlier chunks stay where they are.
				wrappers = make([]itemWrapper[T], 0, max(64, len(out)))
			}
			wrappers = append(wrappers, wrap(s, e, cycle))
			out = append(out, &wrappers[len(wrappers)-1])
		}
		s.mu.Unlock()
	}
	c.lastSnapshot.Store(int64(len(out)))
	c.settleChanges(expired, last)
	return out
}

// createBatches calls the user's CreateBatchesFunc, turning a panic into an
// error so a bad callback cannot kill the refresh loop.
func (c *AutoRefreshCache[T]) createBatches(ctx context.Context, snapshot []ItemWrapperOf[T]) (batches []BatchOf[T], err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: debug.Stack()}
		}
	}()
	return c.opts.CreateBatches(ctx, snapshot)
}

// claim keeps, from the batches a CreateBatchesFunc returned, only the items
// of this cycle's snapshot, each once. This is what guarantees that no item
// is in two batches, whatever the callback did.
func (c *AutoRefreshCache[T]) claim(snapshot []ItemWrapperOf[T], batches []BatchOf[T], cycle uint64) []BatchOf[T] {
	var byID map[ItemID]*itemWrapper[T] // built only for foreign wrappers
	out := batches[:0]
	for _, b := range batches {
		if len(b) > 0 && claimWhole(b, cycle) {
			// Capped: a SyncFunc that appends to its batch must not
			// write into the next one, which may share the array.
			out = append(out, b[:len(b):len(b)])
			continue
		}
		kept := make(BatchOf[T], 0, len(b))
		for _, w := range b {
			if w == nil {
				continue
			}
			iw, ok := w.(*itemWrapper[T])
			if !ok || iw.cycle != cycle {
				if byID == nil {
					byID = make(map[ItemID]*itemWrapper[T], len(snapshot))
					for _, s := range snapshot {
						byID[s.GetID()] = s.(*itemWrapper[T])
					}
				}
				if iw, ok = byID[w.GetID()]; !ok {
					continue
				}
			}
			if iw.claimed {
				continue
			}
			iw.claimed = true
			kept = append(kept, iw)
		}
		if len(kept) > 0 {
			out = append(out, kept)
		}
	}
	return out
}

// claimWhole claims every item of b and reports true if b holds only this
// cycle's own wrappers, each unclaimed and once: the common case, in which
// the batch is queued as it is, without a copy (it may share its array with
// the snapshot and other batches: the cache writes to no batch once it is
// cut, and the snapshot is not read after the batches are queued).
// Otherwise it claims nothing and claim sorts the batch out item by item.
func claimWhole[T Item](b BatchOf[T], cycle uint64) bool {
	for i, w := range b {
		iw, ok := w.(*itemWrapper[T])
		if !ok || iw == nil || iw.cycle != cycle || iw.claimed {
			for _, u := range b[:i] {
				u.(*itemWrapper[T]).claimed = false
			}
			return false
		}
		iw.claimed = true
	}
	return true
}

// enqueue adds one batch through the rate limiter.
func (c *AutoRefreshCache[T]) enqueue(q workQueue[T], b BatchOf[T]) {
	c.stats.enqueuedTotal.Add(uint64(len(b)))
	c.stats.queued.Add(int64(len(b)))
	q.AddRateLimited(&b)
}

// release clears an entry's in-flight mark. Its due time is kept as it
// is and not pushed again (a failed batch's items wait for the next tick,
// not a loop); settleChanges is where a changed entry lands.
func (c *AutoRefreshCache[T]) release(e *entry[T]) {
	s := c.sh.of(e.id)
	s.mu.Lock()
	e.inFlight = false
	s.mu.Unlock()
}

// releaseAll clears every in-flight mark once the workers are gone, so that
// batches dropped from a shut-down queue leave nothing marked behind.
func (c *AutoRefreshCache[T]) releaseAll() {
	for i := range c.sh.s {
		s := &c.sh.s[i]
		s.mu.Lock()
		for e := range s.idx.all() {
			e.inFlight = false
		}
		s.mu.Unlock()
	}
	c.stats.queued.Store(0) // batches dropped by the shut-down queue
}

// panicError is what a recovered panic in a callback becomes.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string           { return fmt.Sprintf("panic: %v", p.value) }
func (p *panicError) SyncErrorReason() string { return "panic" }

// errAbandoned marks a batch that was not synced because the cache stopped.
var errAbandoned = errors.New("cache stopped before the batch was synced")

// ReasonOf picks the metric label for a sync error: the error's own
// SyncErrorReason, else "timeout" or "error". Every mode labels its
// failures with it, so that autorefresh_sync_errors_total{reason} means one
// thing.
func ReasonOf(err error) string {
	var r SyncErrorReasoner
	if errors.As(err, &r) {
		if s := r.SyncErrorReason(); s != "" && len(s) <= 32 {
			return s
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "error"
}
