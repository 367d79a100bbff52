package watch

import (
	"sync"

	"github.com/autorefresh/autorefresh/internal/record"
)

// topic is the watch state of one cache: its replay ring, its subscribers and
// the long-polls waiting on its items. Its mutex is held only for short,
// non-blocking work, so publishing never waits on a watcher.
type topic struct {
	name string

	mu      sync.Mutex
	ring    *ring
	subs    map[*Subscription]struct{}
	waiters map[string]map[*Waiter]struct{} // by item id
	nWait   int
	dropped uint64 // events dropped for slow subscribers, for the metric
	// removed remembers the last item of recently deleted or evicted ids,
	// to recognise a stale update (see staleLocked). Cleared when full.
	removed map[string]*record.Record
	// gone is set when the topic leaves the hub (its cache was deleted, the
	// hub closed, or it was idle and never used). A caller holding a gone
	// topic must look it up again.
	gone bool
}

func newTopic(name string, r *ring) *topic {
	return &topic{
		name:    name,
		ring:    r,
		subs:    make(map[*Subscription]struct{}),
		waiters: make(map[string]map[*Waiter]struct{}),
		removed: make(map[string]*record.Record),
	}
}

// removedMemory bounds topic.removed. The race it guards against spans a few
// microseconds, so only the most recent removals matter.
const removedMemory = 4096

// staleLocked reports whether ev is an update that the engine emitted after
// the item's removal, and keeps track of removals and creations for that.
//
// The engine emits a sync's updates after releasing its locks, so a delete
// or an eviction of the same item can be emitted first. Deleted and Evicted
// carry the last item held, which already includes any update applied
// before the removal: an update of that same item (same creation time) with
// a version no greater is stale, and a watcher would take it for the item
// coming back. Callers hold t.mu.
func (t *topic) staleLocked(ev Event, last *record.Record) bool {
	switch {
	case ev.Gone():
		if last != nil {
			if len(t.removed) >= removedMemory {
				clear(t.removed)
			}
			t.removed[ev.ID] = last
		}
	case ev.Kind == Created:
		delete(t.removed, ev.ID)
	case ev.Item != nil:
		if g, ok := t.removed[ev.ID]; ok && g.CreatedAt.Equal(ev.Item.CreatedAt) && ev.Item.Version <= g.Version {
			return true
		}
	}
	return false
}

// publish records ev (whose Seq is set) and hands it to every interested
// subscriber and waiter. Callers hold t.mu.
func (t *topic) publishLocked(ev Event) {
	t.ring.push(ev)
	for s := range t.subs {
		if s.wants(ev) && !s.offerLocked(ev) {
			t.dropped++
		}
	}
	if ws, ok := t.waiters[ev.ID]; ok {
		for w := range ws {
			close(w.c)
		}
		t.nWait -= len(ws)
		delete(t.waiters, ev.ID)
	}
}

// endLocked marks the topic gone and ends every subscription and waiter on
// it with reason. Callers hold t.mu.
func (t *topic) endLocked(reason error) {
	t.gone = true
	for s := range t.subs {
		s.endLocked(reason)
	}
	clear(t.subs)
	t.wakeAllLocked()
}

// wakeAllLocked wakes every long-poll of the topic. Callers hold t.mu.
func (t *topic) wakeAllLocked() {
	for _, ws := range t.waiters {
		for w := range ws {
			close(w.c)
		}
	}
	clear(t.waiters)
	t.nWait = 0
}

// idleLocked reports whether the topic holds nothing worth keeping: no
// watcher and no event to replay. Callers hold t.mu.
func (t *topic) idleLocked() bool {
	return len(t.subs) == 0 && t.nWait == 0 && t.ring.len() == 0
}

// lostLocked tells the topic's watchers that events of the cache may have
// been lost: each stream gets a Lagged marker, and each long-poll wakes to
// read its item again. Callers hold t.mu.
func (t *topic) lostLocked() {
	for s := range t.subs {
		s.lagLocked()
	}
	t.wakeAllLocked()
}
