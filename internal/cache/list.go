package cache

import (
	"container/heap"
	"slices"
	"strings"
)

// List returns up to limit entries whose ids sort after the cursor `after`,
// in id order, keeping only those for which keep (if not nil) is true. more
// says whether further entries match. Paging by id is stable: items created
// or removed between pages never shift the others.
//
// It scans the whole cache (O(n log limit)) and does not count as use for
// LRU; it is meant for listing, not for the hot path. keep is called with a
// shard lock held, so it must be quick and must not call the cache.
//
// Like Lookup, it shows nothing a crash could take back: it waits until
// every entry of the page is durable, and fails if that cannot be.
func (c *AutoRefreshCache[T]) List(after ItemID, limit int, keep func(Entry[T]) bool) (page []Entry[T], more bool, err error) {
	if limit <= 0 {
		return nil, false, nil
	}
	// A max-heap by id of the limit+1 smallest matches seen so far.
	h := &entryHeap[T]{}
	for i := range c.sh.s {
		s := &c.sh.s[i]
		s.mu.Lock()
		for e := range s.idx.all() {
			id := e.id
			if id <= after {
				continue
			}
			if h.Len() > limit && id >= (*h)[0].ID {
				continue
			}
			en := e.entry()
			if keep != nil && !keep(en) {
				continue
			}
			heap.Push(h, en)
			if h.Len() > limit+1 {
				heap.Pop(h)
			}
		}
		s.mu.Unlock()
	}
	page = []Entry[T](*h)
	slices.SortFunc(page, func(a, b Entry[T]) int { return strings.Compare(a.ID, b.ID) })
	if len(page) > limit {
		page, more = page[:limit], true
	}
	var last uint64
	for i := range page {
		last = max(last, page[i].seq)
	}
	if err := c.awaitDurable(last); err != nil {
		return nil, false, err
	}
	return page, more, nil
}

type entryHeap[T Item] []Entry[T]

func (h entryHeap[T]) Len() int           { return len(h) }
func (h entryHeap[T]) Less(i, j int) bool { return h[i].ID > h[j].ID }
func (h entryHeap[T]) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *entryHeap[T]) Push(x any)        { *h = append(*h, x.(Entry[T])) }
func (h *entryHeap[T]) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Snapshot returns every entry, least recently used first, so that Restore
// of the result into another cache keeps the recency order. It does not
// count as use.
func (c *AutoRefreshCache[T]) Snapshot() []Entry[T] {
	type stamped struct {
		Entry[T]
		stamp uint64
	}
	var all []stamped
	for i := range c.sh.s {
		s := &c.sh.s[i]
		s.mu.Lock()
		for e := s.tail; e != nil; e = e.prev {
			all = append(all, stamped{e.entry(), e.stamp})
		}
		s.mu.Unlock()
	}
	slices.SortFunc(all, func(a, b stamped) int {
		switch {
		case a.stamp < b.stamp:
			return -1
		case a.stamp > b.stamp:
			return 1
		}
		return 0
	})
	out := make([]Entry[T], len(all))
	for i := range all {
		out[i] = all[i].Entry
	}
	return out
}

// Restore loads entries into the cache, oldest first, as if each had just
// been used in that order. It is meant for a cache that has not started:
// restored items are not synced until the first cycle, raise no events, and
// replace any item with the same id. An entry keeps its journal sequence,
// so that readers still wait for it to be durable. Entries past the size bound evict the
// least recently used ones, as GetOrCreate would.
func (c *AutoRefreshCache[T]) Restore(entries []Entry[T]) {
	for _, en := range entries {
		if isNil(en.Item) {
			continue
		}
		s, h := c.sh.locate(en.ID)
		s.mu.Lock()
		if old, ok := s.idx.get(h, en.ID); ok {
			c.drop(s, old)
			c.n.Add(-1)
			c.opts.Budget.release(1)
		}
		c.opts.Budget.force(1)
		e := &entry[T]{id: en.ID, item: en.Item, syncedAt: nanos(en.SyncedAt), pendingDelete: en.PendingDelete,
			stamp: c.clock.Add(1)}
		e.setSeq(en.seq)
		e.setDue(nanos(en.DueAt))
		c.put(s, h, e)
		// Due at its DueAt (a restart has none: the regular cadence) or
		// at its deadline, whichever comes first.
		c.reschedule(e, 0, 0)
		if e.pendingDelete {
			c.pendingMu.Lock()
			c.pending[en.ID] = e
			c.pendingMu.Unlock()
		}
		s.mu.Unlock()
		c.n.Add(1)
		for c.n.Load() > int64(c.opts.Size) {
			if _, _, ok := c.evictOne(false); !ok {
				break
			}
		}
	}
}
