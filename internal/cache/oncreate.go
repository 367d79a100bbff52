package cache

import (
	"context"
	"math"
	"sync"

	"go.uber.org/zap"
)

// Sync-on-create gathers new items instead of sending each one alone: the
// items created within one linger (Options.CreateLinger) are cut into
// batches by the cache's CreateBatchesFunc, as a cycle's snapshot is, so
// 5,000 creates with batches of 100 make 50 calls, not 5,000.
//
// Sync-on-create is a head start; the periodic refresh is what keeps every
// item fresh, so create batches may never crowd a cycle's batches out of
// the rate limiter. With a linger, at most maxCreateBatches(parallelism)
// create batches wait in the queue at once: the rest stay in the buffer,
// still in flight and in creation order, and are cut once a create batch
// leaves the queue. A cycle's batch therefore waits behind a bounded number
// of create batches, however many items are created. Without a linger (the
// library's default, as in Flyte) each created item is queued at once.

// createBuffer holds the items created since the last cut.
//
// Locking: mu guards items. It is taken with no shard lock held.
type createBuffer[T Item] struct {
	mu    sync.Mutex
	items []ItemWrapperOf[T]
	ready chan struct{} // signalled when items stops being empty
}

// maxCreateBatches bounds the create batches waiting in the queue: enough
// to keep every worker busy, never so many that a cycle waits long for the
// tokens they reserved.
func maxCreateBatches(parallelism int) int64 { return int64(max(2, parallelism)) }

// syncOnCreate queues a created item for sync: at once without a linger,
// else with the others created within it.
func (c *AutoRefreshCache[T]) syncOnCreate(w *itemWrapper[T]) {
	if c.opts.CreateLinger <= 0 {
		c.cutCreated(context.Background(), []ItemWrapperOf[T]{w})
		return
	}
	b := &c.created
	b.mu.Lock()
	first := len(b.items) == 0
	b.items = append(b.items, w)
	b.mu.Unlock()
	if first {
		c.created.signal()
	}
}

// signal tells the refresh loop that items may be waiting to be cut.
func (b *createBuffer[T]) signal() {
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// takeCreated empties the buffer.
func (c *AutoRefreshCache[T]) takeCreated() []ItemWrapperOf[T] {
	b := &c.created
	b.mu.Lock()
	items := b.items
	b.items = nil
	b.mu.Unlock()
	return items
}

// createBatchLeft is called when a sync-on-create batch leaves the queue:
// a slot is free, so items held back in the buffer may go.
func (c *AutoRefreshCache[T]) createBatchLeft() {
	c.createQueued.Add(-1)
	if c.opts.CreateLinger > 0 {
		c.created.signal()
	}
}

// cutCreated cuts created items into batches and queues them. With a
// linger, batches past the bound on waiting create batches go back to the
// front of the buffer. Items the CreateBatchesFunc left out are released,
// for the next cycle.
func (c *AutoRefreshCache[T]) cutCreated(ctx context.Context, items []ItemWrapperOf[T]) {
	items = c.newestLive(items)
	q := c.queue.Load()
	if len(items) == 0 || q == nil || c.paused.Load() {
		// Paused: the items wait, with the others, for Resume's cycle.
		for _, w := range items {
			c.release(w.(*itemWrapper[T]).e)
		}
		return
	}
	batches, err := c.createBatches(ctx, items)
	if err != nil {
		c.opts.Logger.Error("create batches failed", zap.String("cache", c.opts.Name), zap.Error(err))
		c.recordError("create_batches", err)
		batches = nil
	}
	batches = c.claim(items, batches, 0)
	limit := int64(math.MaxInt64)
	if c.opts.CreateLinger > 0 {
		limit = maxCreateBatches(c.opts.Parallelism)
	}
	var held []ItemWrapperOf[T]
	for i, b := range batches {
		if c.createQueued.Add(1) > limit {
			c.createQueued.Add(-1)
			for _, rest := range batches[i:] {
				held = append(held, rest...)
			}
			break
		}
		c.enqueue(*q, b)
	}
	for _, w := range items {
		if !w.(*itemWrapper[T]).claimed {
			c.release(w.(*itemWrapper[T]).e)
		}
	}
	if len(held) == 0 {
		return
	}
	for _, w := range held {
		w.(*itemWrapper[T]).claimed = false
	}
	b := &c.created
	b.mu.Lock()
	b.items = append(held, b.items...)
	b.mu.Unlock()
}

// newestLive keeps, of the created items, those still in the cache, and of
// an id found twice only the newer. An id is in the buffer twice when its
// item was created, deleted and created again within one linger; the older
// entry is removed by then (a new entry for an id is made only once the old
// one is gone). Both in one batch meant two answers for one id, and the
// first, the old item's, was applied to the new item. The items dropped
// lose their in-flight marks; order is kept.
func (c *AutoRefreshCache[T]) newestLive(items []ItemWrapperOf[T]) []ItemWrapperOf[T] {
	var seen map[ItemID]struct{}
	if len(items) > 1 {
		seen = make(map[ItemID]struct{}, len(items))
	}
	keep := make([]bool, len(items))
	kept := 0
	for i := len(items) - 1; i >= 0; i-- { // newest first
		iw := items[i].(*itemWrapper[T])
		if seen != nil {
			if _, dup := seen[iw.id]; dup {
				c.release(iw.e)
				continue
			}
			seen[iw.id] = struct{}{}
		}
		s := c.shardOf(iw)
		s.mu.Lock()
		removed := iw.e.removed
		if removed {
			iw.e.inFlight = false
		}
		s.mu.Unlock()
		if !removed {
			keep[i] = true
			kept++
		}
	}
	if kept == len(items) {
		return items
	}
	out := make([]ItemWrapperOf[T], 0, kept)
	for i, w := range items {
		if keep[i] {
			out = append(out, w)
		}
	}
	return out
}
