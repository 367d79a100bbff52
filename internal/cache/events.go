package cache

import (
	"context"
	"math"
	"sync/atomic"

	"go.uber.org/zap"
)

// Events leave the cache through a small outbox in each shard. A change and
// its event are queued together, under the lock of the item's shard, so
// that a shard's outbox holds its events in the order of their changes; and
// since the journal hands out sequence numbers in call order, that is also
// ascending sequence order. An event is delivered only once the journal
// says its change is durable, so a watcher never hears of a change that a
// crash could take back. Within a shard one goroutine at a time delivers,
// which keeps that order on the way out: two events of one item are never
// reported the wrong way round, whichever goroutines made the changes.
//
// Order across shards, that is between different items, is not promised
// and not needed: every event names its item.

// pendingEvent is an event waiting for its change to become durable.
type pendingEvent[T Item] struct {
	seq uint64 // the change's journal sequence; 0 without a journal
	ev  Event[T]
}

// change records ch in the journal and queues ev (if it has a type and
// anyone listens) behind it. It returns the change's sequence number (0
// without a journal). Callers hold s.mu, the lock of ch.ID's shard, and
// call deliver(s) once the change is durable.
func (c *AutoRefreshCache[T]) change(s *shard[T], ch Change[T], ev Event[T]) uint64 {
	seq := c.record(ch)
	if ev.Type != 0 && c.opts.OnEvent != nil {
		s.events = append(s.events, pendingEvent[T]{seq: seq, ev: ev})
	}
	return seq
}

// durableSeq is the highest sequence whose change is durable. Without a
// journal every change is durable at once.
func (c *AutoRefreshCache[T]) durableSeq() uint64 {
	if c.opts.Journal == nil {
		return math.MaxUint64
	}
	return c.opts.Journal.Durable()
}

// deliver hands s's durable events to OnEvent, oldest first, outside the
// lock. If another goroutine is delivering for s already, deliver leaves the
// work to it: that goroutine looks for more under the lock before it stops,
// so an event queued meanwhile is not stranded. Callers hold no lock.
func (c *AutoRefreshCache[T]) deliver(s *shard[T]) {
	if c.opts.OnEvent == nil {
		return
	}
	durable := c.durableSeq()
	s.mu.Lock()
	if s.delivering {
		s.mu.Unlock()
		return
	}
	s.delivering = true
	for {
		n := 0
		for n < len(s.events) && s.events[n].seq <= durable {
			n++
		}
		if n == 0 {
			s.delivering = false
			s.mu.Unlock()
			return
		}
		// out is the front of the array; changes queued meanwhile are
		// appended past it, so it can be read without the lock.
		buf := s.events
		out := buf[:n]
		s.events = buf[n:]
		s.mu.Unlock()
		for i := range out {
			c.opts.OnEvent(out[i].ev)
		}
		clear(out) // pin no items
		durable = c.durableSeq()
		s.mu.Lock()
		if len(s.events) == 0 {
			// Nothing was queued meanwhile, so nothing else refers to
			// buf: start again at its front rather than grow a new one.
			s.events = buf[:0]
			if cap(buf) > maxReusedEvents {
				s.events = nil
			}
		}
	}
}

// maxReusedEvents bounds the outbox array a shard keeps for reuse, so that
// a burst does not pin a large array for the life of the cache.
const maxReusedEvents = 64

// deliverAll delivers every shard's durable events. It is for changes made
// across shards by one caller (a cycle's deletions).
func (c *AutoRefreshCache[T]) deliverAll() {
	if c.opts.OnEvent == nil {
		return
	}
	for i := range c.sh.s {
		c.deliver(&c.sh.s[i])
	}
}

// removals hands a cycle's deletion events to the goroutine that delivers
// them, so that the refresh loop never waits for the journal itself.
type removals struct {
	last  atomic.Uint64 // highest sequence of a deletion not yet delivered
	ready chan struct{}
}

// add notes deletions up to seq (0 without a journal).
func (r *removals) add(seq uint64) {
	for {
		old := r.last.Load()
		if old >= seq || r.last.CompareAndSwap(old, seq) {
			break
		}
	}
	select {
	case r.ready <- struct{}{}:
	default:
	}
}

// deliverRemovals delivers deletion events once durable, until ctx ends.
// It is one of the refresh goroutines (Start).
func (c *AutoRefreshCache[T]) deliverRemovals(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.removed.ready:
		}
		if err := c.awaitDurable(c.removed.last.Load()); err != nil {
			c.opts.Logger.Error("deletions not durable", zap.String("cache", c.opts.Name), zap.Error(err))
			continue
		}
		c.deliverAll()
	}
}
