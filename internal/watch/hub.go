// Package watch lets clients follow the changes of a cache's items: a Hub
// is fed every item event of every cache (registry.Options.OnEvent) and fans
// them out to event-stream subscribers and to long-polls waiting on one
// item. It has no HTTP in it.
//
// Publishing never blocks: each subscriber has a bounded buffer, and an
// event that does not fit is dropped for that subscriber, who gets a Lagged
// event instead. Each watched cache keeps a bounded replay buffer of its
// recent events so that a stream that reconnects can resume where it was.
//
// A cache that nobody has watched costs one map lookup per event: its
// replay buffer starts with its first subscriber or long-poll, and is kept
// until the cache is deleted. Deleting a cache ends its streams and wakes its
// long-polls (which then find it gone); the hub says so with ErrCacheDeleted.
//
// Locking: h.mu guards the topic map; each topic has its own mutex. The only
// nesting is h.mu then a topic's mutex, and neither is held while calling
// out of the package.
package watch

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
)

// Defaults of Options.
const (
	DefaultReplayEvents = 512
	DefaultReplayBytes  = 1 << 20
	DefaultBufferSize   = 256
	DefaultBufferBytes  = 1 << 20
	DefaultMaxStreams   = 1000
	DefaultMaxWaiters   = 10000
)

// Errors that end a subscription, and that Subscribe and Watch return.
var (
	// ErrClosed: the hub has shut down.
	ErrClosed = errs.Errorf(errs.Unavailable, "the server is shutting down")
	// ErrCacheDeleted: the cache was deleted while it was watched.
	ErrCacheDeleted = errs.Errorf(errs.NotFound, "the cache was deleted")
)

// Options configures a Hub. Zero values take the defaults.
type Options struct {
	// Registerer receives the hub's metrics. Required.
	Registerer prometheus.Registerer
	// ReplayEvents and ReplayBytes bound each watched cache's replay
	// buffer, by count and by approximate size of the items held.
	ReplayEvents int
	ReplayBytes  int
	// BufferSize is how many events a subscriber may fall behind before
	// events are dropped for it. At least 2.
	BufferSize int
	// BufferBytes bounds the approximate size of the items a subscriber's
	// unread events hold, so that a slow stream of a cache of large items
	// cannot pin BufferSize versions of them. An event larger than the
	// bound is still sent when nothing else is unread.
	BufferBytes int
	// MaxStreams and MaxWaiters cap the subscriptions and the waiters of
	// the whole hub (each holds a connection open).
	MaxStreams int
	MaxWaiters int
	// MaxStreamsPerClient and MaxWaitersPerClient cap what one client
	// (SubscribeOptions.Client, WatchFor's client) holds of those, so that
	// one client cannot shut every other out. Default
	// DefaultMaxStreamsPerClient and DefaultMaxWaitersPerClient.
	MaxStreamsPerClient int
	MaxWaitersPerClient int
	// FirstSeq is the Seq before the hub's first event. The default, the
	// current Unix time in microseconds, makes sequence numbers go on
	// increasing across restarts, so that a client resuming from before a
	// restart is told it lagged instead of being replayed the wrong events.
	FirstSeq uint64
}

func (o Options) withDefaults() Options {
	if o.ReplayEvents <= 0 {
		o.ReplayEvents = DefaultReplayEvents
	}
	if o.ReplayBytes <= 0 {
		o.ReplayBytes = DefaultReplayBytes
	}
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	o.BufferSize = max(o.BufferSize, 2)
	if o.BufferBytes <= 0 {
		o.BufferBytes = DefaultBufferBytes
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = DefaultMaxStreams
	}
	if o.MaxWaiters <= 0 {
		o.MaxWaiters = DefaultMaxWaiters
	}
	if o.MaxStreamsPerClient <= 0 {
		o.MaxStreamsPerClient = DefaultMaxStreamsPerClient
	}
	if o.MaxWaitersPerClient <= 0 {
		o.MaxWaitersPerClient = DefaultMaxWaitersPerClient
	}
	if o.FirstSeq == 0 {
		o.FirstSeq = uint64(time.Now().UnixMicro())
	}
	return o
}

// Hub fans item events out to watchers. Create it with New; all methods are
// safe for concurrent use.
type Hub struct {
	opts Options
	seq  atomic.Uint64
	// lostBefore is one above the Seq of the last event before the last
	// gap (see Lost), 0 if there was none: a resume from an event below
	// it is told it lagged.
	lostBefore atomic.Uint64
	streams    atomic.Int64
	waits      atomic.Int64
	// What each client holds, for the per-client caps.
	clientStreams, clientWaits clientCounts
	// refused counts the refusals by the cap that was full, for the
	// metrics.
	refused [numRefusals]atomic.Uint64

	mu     sync.RWMutex
	topics map[string]*topic
	closed bool
	done   chan struct{}
}

// New builds a hub and registers its metrics on opts.Registerer.
func New(opts Options) (*Hub, error) {
	if opts.Registerer == nil {
		return nil, errs.Errorf(errs.Invalid, "watch: Registerer is required")
	}
	h := &Hub{opts: opts.withDefaults(), topics: make(map[string]*topic), done: make(chan struct{})}
	h.seq.Store(h.opts.FirstSeq)
	if err := opts.Registerer.Register(newCollector(h)); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "watch: register metrics")
	}
	return h, nil
}

// OnEvent takes one engine event of the named cache. It has the signature of
// registry.Options.OnEvent, never blocks, and does nothing for a cache that
// nobody watches.
func (h *Hub) OnEvent(cacheName string, ev autorefresh.Event) {
	out, last := fromCache(cacheName, ev)
	if out.Kind == "" {
		return
	}
	for {
		h.mu.RLock()
		t := h.topics[cacheName]
		h.mu.RUnlock()
		if t == nil {
			return
		}
		t.mu.Lock()
		if t.gone {
			// Deleted or forgotten meanwhile: look again.
			t.mu.Unlock()
			continue
		}
		if t.staleLocked(out, last) {
			t.mu.Unlock()
			return
		}
		// The sequence number is taken under the topic's lock so that each
		// ring stays in order.
		out.Seq = h.seq.Add(1)
		t.publishLocked(out)
		t.mu.Unlock()
		return
	}
}

// Lost tells every watcher of every cache that events may have been lost:
// the source of events had a gap (the PostgreSQL mode's LISTEN connection
// was down, or changed items could not be read back). Streams get a Lagged
// event, long-polls wake and read their item again, and a resume from an
// event before now is answered Lagged. Call it in order with OnEvent: after
// the events from before the gap, before those after it.
func (h *Hub) Lost() {
	h.mu.RLock()
	topics := make([]*topic, 0, len(h.topics))
	for _, t := range h.topics {
		topics = append(topics, t)
	}
	h.mu.RUnlock()
	// The events of the gap were never numbered: a resume from any event
	// up to now may have missed them. Events from here on number higher.
	for {
		before, now := h.lostBefore.Load(), h.seq.Load()+1
		if now <= before || h.lostBefore.CompareAndSwap(before, now) {
			break
		}
	}
	for _, t := range topics {
		t.mu.Lock()
		if !t.gone {
			t.lostLocked()
		}
		t.mu.Unlock()
	}
}

// CacheDeleted ends the streams and wakes the long-polls of a cache that was
// deleted, and drops its replay buffer. A cache registered again under the
// name starts afresh.
func (h *Hub) CacheDeleted(cacheName string) {
	h.mu.Lock()
	t := h.topics[cacheName]
	delete(h.topics, cacheName)
	h.mu.Unlock()
	if t != nil {
		t.mu.Lock()
		t.endLocked(ErrCacheDeleted)
		t.mu.Unlock()
	}
}

// Close ends every stream and wakes every long-poll, and makes later
// Subscribe and Watch calls fail with ErrClosed. Call it when the server
// shuts down: http.Server.Shutdown does not cancel the requests it waits for.
// It is safe to call more than once.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.done)
	ts := make([]*topic, 0, len(h.topics))
	for _, t := range h.topics {
		ts = append(ts, t)
	}
	clear(h.topics)
	h.mu.Unlock()
	for _, t := range ts {
		t.mu.Lock()
		t.endLocked(ErrClosed)
		t.mu.Unlock()
	}
}

// Done is closed when Close is called.
func (h *Hub) Done() <-chan struct{} { return h.done }

// topic returns the cache's topic, creating it if need be.
func (h *Hub) topic(cacheName string) (*topic, error) {
	h.mu.RLock()
	t, closed := h.topics[cacheName], h.closed
	h.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if t != nil {
		return t, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if t = h.topics[cacheName]; t == nil {
		t = newTopic(cacheName, newRing(h.opts.ReplayEvents, h.opts.ReplayBytes, h.seq.Load()))
		h.topics[cacheName] = t
	}
	return t, nil
}

// forgetIfIdle drops a topic that has no watcher and never had an event, so
// that watching a name that is not (or no longer) a cache leaves nothing
// behind. A topic with events is kept for resumes until its cache goes.
func (h *Hub) forgetIfIdle(t *topic) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.topics[t.name] != t {
		return
	}
	t.mu.Lock()
	if t.idleLocked() {
		t.gone = true
		delete(h.topics, t.name)
	}
	t.mu.Unlock()
}

// SubscribeOptions says what a subscription receives.
type SubscribeOptions struct {
	// ID, if set, limits the subscription to that item's events.
	ID string
	// Resume replays the buffered events after the event After.
	Resume bool
	After  uint64
	// Client, if set, is who asks: it may hold at most
	// Options.MaxStreamsPerClient subscriptions at once.
	Client string
}

// Subscribe opens an event stream of a cache. It fails with an Unavailable
// error when the hub is at MaxStreams, the client at MaxStreamsPerClient, or
// the hub is closed. It does not check that the
// cache exists; callers do, after subscribing, so that a deletion in between
// cannot go unnoticed.
func (h *Hub) Subscribe(cacheName string, o SubscribeOptions) (*Subscription, error) {
	if !h.clientStreams.acquire(o.Client, h.opts.MaxStreamsPerClient) {
		h.refused[refusedClientStreams].Add(1)
		return nil, errs.Errorf(errs.Unavailable, "this client has too many event streams open (at most %d); try again later", h.opts.MaxStreamsPerClient)
	}
	if h.streams.Add(1) > int64(h.opts.MaxStreams) {
		h.streams.Add(-1)
		h.clientStreams.release(o.Client)
		h.refused[refusedStreams].Add(1)
		return nil, errs.Errorf(errs.Unavailable, "too many event streams are open (at most %d); try again later", h.opts.MaxStreams)
	}
	for {
		t, err := h.topic(cacheName)
		if err != nil {
			h.streams.Add(-1)
			h.clientStreams.release(o.Client)
			return nil, err
		}
		s := &Subscription{hub: h, t: t, id: o.ID, client: o.Client, c: make(chan Event, h.opts.BufferSize),
			weights: make([]int, h.opts.BufferSize), maxBytes: h.opts.BufferBytes}
		t.mu.Lock()
		if t.gone {
			t.mu.Unlock()
			continue
		}
		if o.Resume {
			events, lost := t.ring.since(o.After, s.wants)
			// An id from the future comes from another server or an older
			// run: what happened since is unknown.
			// One from before a gap (see Lost) has missed its events.
			if lost || o.After > h.seq.Load() || o.After < h.lostBefore.Load() {
				s.Backlog = append(s.Backlog, Event{Kind: Lagged, Cache: cacheName})
			}
			s.Backlog = append(s.Backlog, events...)
		}
		t.subs[s] = struct{}{}
		t.mu.Unlock()
		return s, nil
	}
}

// Watch registers a wait for the next event of one item. Register before
// reading the item, so that a change between the read and the wait is not
// missed. It fails with an Unavailable error when the hub is at MaxWaiters
// or closed.
func (h *Hub) Watch(cacheName, id string) (*Waiter, error) {
	return h.WatchFor("", cacheName, id)
}

// WatchFor is Watch on behalf of client, who may hold at most
// Options.MaxWaitersPerClient waiters at once ("" is not counted).
func (h *Hub) WatchFor(client, cacheName, id string) (*Waiter, error) {
	if !h.clientWaits.acquire(client, h.opts.MaxWaitersPerClient) {
		h.refused[refusedClientLongPolls].Add(1)
		return nil, errs.Errorf(errs.Unavailable, "this client has too many requests waiting for changes (at most %d); try again later", h.opts.MaxWaitersPerClient)
	}
	if h.waits.Add(1) > int64(h.opts.MaxWaiters) {
		h.waits.Add(-1)
		h.clientWaits.release(client)
		h.refused[refusedLongPolls].Add(1)
		return nil, errs.Errorf(errs.Unavailable, "too many requests are waiting for changes (at most %d); try again later", h.opts.MaxWaiters)
	}
	for {
		t, err := h.topic(cacheName)
		if err != nil {
			h.waits.Add(-1)
			h.clientWaits.release(client)
			return nil, err
		}
		w := &Waiter{hub: h, t: t, id: id, client: client, c: make(chan struct{})}
		t.mu.Lock()
		if t.gone {
			t.mu.Unlock()
			continue
		}
		ws := t.waiters[id]
		if ws == nil {
			ws = make(map[*Waiter]struct{})
			t.waiters[id] = ws
		}
		ws[w] = struct{}{}
		t.nWait++
		t.mu.Unlock()
		return w, nil
	}
}
