package cache

import (
	"math"
	"slices"

	"go.uber.org/zap"
)

// evictOverflow evicts least recently used items until the cache is within
// its size bound. It returns the sequence of the last change it made and the
// shards it evicted from, so that the caller, once that is durable, delivers
// their events. Callers hold no lock.
//
// Each shard keeps its list ordered by stamp (see promote) and publishes its
// tail's stamp, so the evictor finds the least recently used item of the
// whole cache by reading those stamps, without locking every shard. Terminal
// items get no special treatment (a caller that wants finished jobs gone
// first deletes them).
func (c *AutoRefreshCache[T]) evictOverflow() (last uint64, from []*shard[T]) {
	for c.n.Load() > int64(c.opts.Size) {
		s, seq, ok := c.evictOne(true)
		if !ok {
			break
		}
		last = max(last, seq)
		if !slices.Contains(from, s) {
			from = append(from, s)
		}
	}
	return last, from
}

// evictOne removes the least recently used item if the cache is still over
// its bound, and queues its event if withEvent. It reports false when there
// was nothing to do.
func (c *AutoRefreshCache[T]) evictOne(withEvent bool) (*shard[T], uint64, bool) {
	for {
		var best *shard[T]
		bestStamp := uint64(math.MaxUint64)
		for i := range c.sh.tails {
			if st := c.sh.tails[i].Load(); st < bestStamp {
				best, bestStamp = &c.sh.s[i], st
			}
		}
		if best == nil {
			return nil, 0, false
		}
		best.mu.Lock()
		t := best.tail
		if t == nil || t.stamp != bestStamp {
			// A Get moved it, or someone removed it, between the read of
			// the published stamp and the lock: look again.
			best.mu.Unlock()
			continue
		}
		// Re-check under the lock so two racing evictors do not both take
		// an item for one unit of overflow.
		if c.n.Load() <= int64(c.opts.Size) {
			best.mu.Unlock()
			return nil, 0, false
		}
		c.drop(best, t)
		var seq uint64
		if !t.removing { // else its removal is journaled, its event queued
			var ev Event[T]
			if withEvent {
				ev = Event[T]{Type: Evicted, ID: t.id, Item: t.item}
			}
			seq = c.change(best, Change[T]{Kind: ChangeDelete, ID: t.id}, ev)
		}
		c.n.Add(-1)
		c.opts.Budget.release(1)
		if t.pendingDelete {
			c.pendingMu.Lock()
			if c.pending[t.id] == t {
				delete(c.pending, t.id)
			}
			c.pendingMu.Unlock()
		}
		best.mu.Unlock()
		c.stats.evictions.Add(1)
		return best, seq, true
	}
}

// deletePending removes every item marked by DeleteDelayed. It runs at the
// start of each cycle; callers hold no lock.
//
// A removal is shown to readers only once it is durable, as every other
// change is: the entries stay in the cache, marked removing (they read as
// the pending deletions they durably are), until the journal has their
// removals; only then do they leave. Removed at once, an item was seen gone
// by a reader, and back after a crash that took the removal with it (the
// robustness check caught it after a SIGKILL).
func (c *AutoRefreshCache[T]) deletePending() {
	c.pendingMu.Lock()
	if len(c.pending) == 0 {
		c.pendingMu.Unlock()
		return
	}
	marked := c.pending
	c.pending = make(map[ItemID]*entry[T])
	c.pendingMu.Unlock()

	var last uint64
	removing := make([]*entry[T], 0, len(marked))
	for id, e := range marked {
		s := c.sh.of(id)
		s.mu.Lock()
		if e.removed || e.removing || c.retired.Load() { // retired: the successor deletes it
			s.mu.Unlock()
			continue
		}
		e.removing = true
		last = max(last, c.change(s, Change[T]{Kind: ChangeDelete, ID: id}, Event[T]{Type: Deleted, ID: id, Item: e.item}))
		s.mu.Unlock()
		removing = append(removing, e)
	}
	if len(removing) == 0 {
		return
	}
	if err := c.awaitDurable(last); err != nil {
		// The journal keeps what it could not write and writes it once
		// the store works again; memory may not wait for that.
		c.opts.Logger.Warn("deletions carried out before they were durable", zap.String("cache", c.opts.Name), zap.Error(err))
	}
	for _, e := range removing {
		s := c.sh.of(e.id)
		s.mu.Lock()
		gone := !e.removed // an eviction may have taken it meanwhile
		if gone {
			c.drop(s, e)
		}
		s.mu.Unlock()
		if gone {
			c.n.Add(-1)
			c.opts.Budget.release(1)
			c.stats.deletions.Add(1)
		}
	}
	c.removed.add(last)
}
