package cache

// Class counts (Options.Class) are kept per shard, under the shard's lock,
// at every change that puts an item in, replaces one or takes one out: so
// Stats reads them without a scan of the items, and a reader never sees a
// count that disagrees with the items of a shard.

// classOf returns item's class, or -1 when it counts in none.
func (c *AutoRefreshCache[T]) classOf(item T) int {
	if c.opts.Class == nil {
		return -1
	}
	if k := c.opts.Class(item); k >= 0 && k < c.opts.Classes {
		return k
	}
	return -1
}

// count adds d to the count of item's class in s. Callers hold s.mu.
func (c *AutoRefreshCache[T]) count(s *shard[T], item T, d int64) {
	if c.opts.Class == nil {
		return
	}
	if k := c.classOf(item); k >= 0 {
		s.classes[k] += d
	}
}

// setItem replaces e's item and keeps the class counts. Callers hold s.mu,
// the lock of e's shard.
func (c *AutoRefreshCache[T]) setItem(s *shard[T], e *entry[T], item T) {
	if c.opts.Class != nil {
		c.count(s, e.item, -1)
		c.count(s, item, 1)
	}
	e.item = item
}

// put links a new entry, whose id hashes to h, into s. Callers hold s.mu.
func (c *AutoRefreshCache[T]) put(s *shard[T], h uint64, e *entry[T]) {
	s.idx.put(h, e)
	s.pushFront(e)
	s.publishTail()
	c.count(s, e.item, 1)
}

// drop takes e out of s. Callers hold s.mu.
func (c *AutoRefreshCache[T]) drop(s *shard[T], e *entry[T]) {
	s.remove(e)
	c.count(s, e.item, -1)
}

// byClass sums the shards' class counts; nil without classes.
func (c *AutoRefreshCache[T]) byClass() []int {
	if c.opts.Class == nil {
		return nil
	}
	out := make([]int, c.opts.Classes)
	for i := range c.sh.s {
		s := &c.sh.s[i]
		s.mu.Lock()
		for k, n := range s.classes {
			out[k] += int(n)
		}
		s.mu.Unlock()
	}
	return out
}

// classCount is the number of class counts a shard keeps.
func classCount[T Item](o Options[T]) int {
	if o.Class == nil {
		return 0
	}
	return o.Classes
}

// ByClass returns the items held in each class (Options.Class), as
// Stats.ByClass does, without the rest of Stats: for a metrics scrape.
func (c *AutoRefreshCache[T]) ByClass() []int { return c.byClass() }
