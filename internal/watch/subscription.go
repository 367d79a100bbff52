package watch

import "sync"

// Subscription is one event stream of one cache. Read Backlog first, then C,
// and call Close when done.
type Subscription struct {
	// Backlog is what to send before the live events: the replayed events
	// of a resume, preceded by a Lagged event when the resume point is
	// older than the replay buffer.
	Backlog []Event

	hub    *Hub
	t      *topic
	id     string // only this item's events; "" for all
	client string // who holds it, for the per-client cap
	c      chan Event
	closer sync.Once

	// Guarded by t.mu. sent counts what was put on c (marker included);
	// markerAt is sent just after the pending Lagged marker was put on c.
	ended         bool
	reason        error
	sent          uint64
	markerPending bool
	markerAt      uint64

	// Also guarded by t.mu: the weight of each event put on c, by its
	// number modulo cap(c) (at most cap(c) are unread at once), the sum of
	// the unread ones' weights, and how many of them that sum has let go.
	weights  []int
	bytes    int
	settled  uint64
	maxBytes int
}

// C delivers the live events in order. It is closed when the subscription
// is ended by the hub (see Err); a Lagged event on it means that events
// after the ones before it were dropped because the reader was too slow.
func (s *Subscription) C() <-chan Event { return s.c }

// Err says why C was closed: ErrClosed when the hub shut down,
// ErrCacheDeleted when the cache was deleted. Call it only after C is closed.
func (s *Subscription) Err() error { return s.reason }

// Close ends the subscription. It is safe to call more than once and after
// the hub ended it.
func (s *Subscription) Close() {
	s.closer.Do(func() {
		s.t.mu.Lock()
		delete(s.t.subs, s)
		s.t.mu.Unlock()
		s.hub.streams.Add(-1)
		s.hub.clientStreams.release(s.client)
		s.hub.forgetIfIdle(s.t)
	})
}

func (s *Subscription) wants(ev Event) bool { return s.id == "" || s.id == ev.ID }

// offerLocked puts ev on c without blocking, or drops it and makes sure a
// Lagged marker is on its way. It reports whether ev was delivered.
//
// Unread events are bounded twice: by count (c's capacity) and by the
// approximate bytes of their items (maxBytes; one event alone may pass it,
// or a large item could never be sent). One slot of c is kept for the
// marker: events are put on c only while it has two free slots or more, and
// at most one marker is unread at a time, so the marker always fits. What
// the reader has taken is sent minus what is still queued, which needs
// nothing from the reader: that is how the marker is known to be read and
// how the bytes of read events are let go. Callers hold t.mu, so sends are
// never concurrent.
func (s *Subscription) offerLocked(ev Event) bool {
	if s.ended {
		return false
	}
	read := s.sent - uint64(len(s.c))
	if s.markerPending && read >= s.markerAt {
		s.markerPending = false
	}
	for ; s.settled < read; s.settled++ {
		s.bytes -= s.weights[s.settled%uint64(len(s.weights))]
	}
	w := ev.weight()
	if len(s.c) < cap(s.c)-1 && (len(s.c) == 0 || s.bytes+w <= s.maxBytes) {
		s.putLocked(ev, w)
		return true
	}
	if !s.markerPending {
		s.putLocked(Event{Kind: Lagged, Cache: ev.Cache}, 0)
		s.markerPending, s.markerAt = true, s.sent
	}
	return false
}

// lagLocked makes sure a Lagged marker is on its way, as offerLocked does
// for an event it drops. The slot kept free for the marker makes it fit.
// Callers hold t.mu.
func (s *Subscription) lagLocked() {
	if s.ended {
		return
	}
	if s.markerPending && s.sent-uint64(len(s.c)) >= s.markerAt {
		s.markerPending = false
	}
	if !s.markerPending {
		s.putLocked(Event{Kind: Lagged, Cache: s.t.name}, 0)
		s.markerPending, s.markerAt = true, s.sent
	}
}

// putLocked sends ev, which fits, and counts its weight. Callers hold t.mu.
func (s *Subscription) putLocked(ev Event, weight int) {
	s.c <- ev
	s.weights[s.sent%uint64(len(s.weights))] = weight
	s.bytes += weight
	s.sent++
}

// endLocked closes c with reason. Callers hold t.mu.
func (s *Subscription) endLocked(reason error) {
	if !s.ended {
		s.ended, s.reason = true, reason
		close(s.c)
	}
}

// Waiter is a long-poll's wait for the next change of one item.
type Waiter struct {
	hub    *Hub
	t      *topic
	id     string
	client string // who holds it, for the per-client cap
	c      chan struct{}
	closer sync.Once
}

// C is closed at the item's next event, or when its cache is deleted or
// the hub closes. The waiter then has done its job; watch again for the
// change after that.
func (w *Waiter) C() <-chan struct{} { return w.c }

// Stop releases the waiter. It is safe to call more than once and after C
// was closed.
func (w *Waiter) Stop() {
	w.closer.Do(func() {
		w.t.mu.Lock()
		if ws, ok := w.t.waiters[w.id]; ok {
			if _, mine := ws[w]; mine {
				delete(ws, w)
				w.t.nWait--
				if len(ws) == 0 {
					delete(w.t.waiters, w.id)
				}
			}
		}
		w.t.mu.Unlock()
		w.hub.waits.Add(-1)
		w.hub.clientWaits.release(w.client)
		w.hub.forgetIfIdle(w.t)
	})
}
