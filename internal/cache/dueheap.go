package cache

import (
	"sync"
	"sync/atomic"
)

// dueHeap is the min-heap of the explicit wake times of entries (a sync
// answer's NextSyncAfter, Modify's dueNow, a deadline): the refresh loop
// sleeps until its earliest and then syncs or expires only the entries
// whose time has come, in O(k log n), instead of scanning every item.
//
// It is lazily invalidated: a change of an entry's wake time pushes a new
// node and leaves the old one where it is; a node is acted on only if its
// time is still the entry's wake time when it is popped (checked under the
// entry's shard lock). Items on the regular cadence have no node at all,
// so a cache without explicit due times pays nothing for it.
//
// Locking: mu guards nodes. A shard's mutex may be held while taking mu,
// never the reverse.
type dueHeap[T Item] struct {
	mu    sync.Mutex
	nodes []dueNode[T]
	n     atomic.Int64  // len(nodes), read without mu by the refresh loop
	ready chan struct{} // signalled when the earliest time moved earlier
}

// dueNode is one wake time of one entry, in Unix nanoseconds.
type dueNode[T Item] struct {
	at int64
	e  *entry[T]
}

// push adds a wake time, and tells the refresh loop if it is the new
// earliest.
func (h *dueHeap[T]) push(at int64, e *entry[T]) {
	h.mu.Lock()
	earliest := len(h.nodes) == 0 || at < h.nodes[0].at
	h.nodes = append(h.nodes, dueNode[T]{at: at, e: e})
	h.up(len(h.nodes) - 1)
	h.n.Store(int64(len(h.nodes)))
	h.mu.Unlock()
	if earliest {
		select {
		case h.ready <- struct{}{}:
		default:
		}
	}
}

// peek returns the earliest wake time, 0 when there is none.
func (h *dueHeap[T]) peek() int64 {
	if h.n.Load() == 0 {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.nodes) == 0 {
		return 0
	}
	return h.nodes[0].at
}

// popDue removes and returns every node whose time is at or before now.
func (h *dueHeap[T]) popDue(now int64) []dueNode[T] {
	if h.n.Load() == 0 {
		return nil
	}
	var out []dueNode[T]
	h.mu.Lock()
	for len(h.nodes) > 0 && h.nodes[0].at <= now {
		out = append(out, h.nodes[0])
		last := len(h.nodes) - 1
		h.nodes[0] = h.nodes[last]
		h.nodes[last] = dueNode[T]{} // pin no entry
		h.nodes = h.nodes[:last]
		h.down(0)
	}
	h.n.Store(int64(len(h.nodes)))
	if len(h.nodes) == 0 && cap(h.nodes) > 1024 {
		h.nodes = nil // give a burst's array back
	}
	h.mu.Unlock()
	return out
}

// take empties the heap and returns its nodes (for compaction).
func (h *dueHeap[T]) take() []dueNode[T] {
	h.mu.Lock()
	nodes := h.nodes
	h.nodes = nil
	h.n.Store(0)
	h.mu.Unlock()
	return nodes
}

// clear drops every node, so that a stopped cache pins no entry.
func (h *dueHeap[T]) clear() { h.take() }

func (h *dueHeap[T]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h.nodes[p].at <= h.nodes[i].at {
			return
		}
		h.nodes[p], h.nodes[i] = h.nodes[i], h.nodes[p]
		i = p
	}
}

func (h *dueHeap[T]) down(i int) {
	n := len(h.nodes)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.nodes[r].at < h.nodes[l].at {
			m = r
		}
		if h.nodes[i].at <= h.nodes[m].at {
			return
		}
		h.nodes[i], h.nodes[m] = h.nodes[m], h.nodes[i]
		i = m
	}
}
