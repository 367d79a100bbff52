package watch

import "sync"

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
	}
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
