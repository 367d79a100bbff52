package cache

import "math"

// evictOverflow evicts least recently used items until the cache is within
// its size bound.
//
// Each entry has a list stamp (its place in its shard's list, from one
// counter shared by all shards, taken by creates) and a use stamp (the value
// of that counter at its last hit). Each shard publishes its tail's list
// stamp, so the evictor finds the least recently linked item of the cache
// without locking every shard; if that item was used since it was linked it
// is moved to the head instead (a second chance, as LRU would have done at
// the hit) and the search starts again. Recency is therefore exact to the
// resolution of creates: of two items last used between the same two
// creates, either may go first. Terminal items get no special treatment (a
// caller that wants finished jobs gone first deletes them). Callers hold no
// lock.
func (c *AutoRefreshCache) evictOverflow() {
	for c.n.Load() > int64(c.opts.Size) {
		ev, ok := c.evictOne()
		if !ok {
			return
		}
		c.emit(ev)
	}
}

// evictOne removes the least recently used item if the cache is still over
// its bound. It reports false when there was nothing to do.
func (c *AutoRefreshCache) evictOne() (Event, bool) {
	for {
		var best *shard
		bestStamp := uint64(math.MaxUint64)
		for i := range c.sh.tails {
			if st := c.sh.tails[i].Load(); st < bestStamp {
				best, bestStamp = &c.sh.s[i], st
			}
		}
		if best == nil {
			return Event{}, false
		}
		best.mu.Lock()
		t := best.tail
		if t == nil || t.stamp != bestStamp {
			// A Get moved it, or someone removed it, between the read of
			// the published stamp and the lock: look again.
			best.mu.Unlock()
			continue
		}
		if t.used > t.stamp {
			// Used since it was linked: give it the place the hit would
			// have (at most as recent as the head), then look again.
			stamp := t.used
			if h := best.head; h.stamp > stamp {
				stamp = h.stamp
			}
			best.touch(t, stamp)
			best.mu.Unlock()
			continue
		}
		// Re-check under the lock so two racing evictors do not both take
		// an item for one unit of overflow.
		if c.n.Load() <= int64(c.opts.Size) {
			best.mu.Unlock()
			return Event{}, false
		}
		best.remove(t)
		c.record(Change{Kind: ChangeDelete, ID: t.id})
		c.n.Add(-1)
		c.opts.Budget.release(1)
		if t.pendingDelete {
			c.pendingMu.Lock()
			if c.pending[t.id] == t {
				delete(c.pending, t.id)
			}
			c.pendingMu.Unlock()
		}
		ev := Event{Type: Evicted, ID: t.id, Item: t.item}
		best.mu.Unlock()
		c.stats.evictions.Add(1)
		return ev, true
	}
}

// deletePending removes every item marked by DeleteDelayed. It runs at the
// start of each cycle; callers hold no lock.
func (c *AutoRefreshCache) deletePending() {
	c.pendingMu.Lock()
	if len(c.pending) == 0 {
		c.pendingMu.Unlock()
		return
	}
	marked := c.pending
	c.pending = make(map[ItemID]*entry)
	c.pendingMu.Unlock()

	for id, e := range marked {
		s := c.sh.of(id)
		s.mu.Lock()
		if e.removed {
			s.mu.Unlock()
			continue
		}
		s.remove(e)
		c.record(Change{Kind: ChangeDelete, ID: id})
		item := e.item
		s.mu.Unlock()
		c.n.Add(-1)
		c.opts.Budget.release(1)
		c.stats.deletions.Add(1)
		c.emit(Event{Type: Deleted, ID: id, Item: item})
	}
}
