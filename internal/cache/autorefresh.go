// Package cache is the AutoRefresh engine: a size-bounded LRU cache whose
// non-terminal items are refreshed in the background by a caller-supplied
// SyncFunc. It reproduces the API of Flyte's flytestdlib AutoRefresh cache
// without that implementation's known defects (leaked goroutines, workers that
// die on a panic, a non-atomic GetOrCreate, deletions counted as evictions and
// in-flight marks that can get stuck). It has no HTTP in it.
//
// Locking: each item lives in one of a fixed number of shards, each with its
// own mutex. No callback (SyncFunc, CreateBatchesFunc, OnEvent) is ever called
// with a shard lock held. The item functions (Options.Deadline, Expire and
// Class, Modify's fn, List's keep) are: they decide a change in the same
// step as it is made, so they must be quick and must not call the cache.
// Other locks (pendingMu, the due heap's) are taken inside a shard's lock,
// never the reverse.
package cache

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// EventType says what happened to an item.
type EventType int

// The changes a cache reports through Options.OnEvent.
const (
	// Created: GetOrCreate inserted the item.
	Created EventType = iota + 1
	// Updated: a sync replaced the item.
	Updated
	// Deleted: a sync cycle carried out a DeleteDelayed.
	Deleted
	// Evicted: the item was dropped to respect the size bound.
	Evicted
)

// String returns the lower-case event name.
func (t EventType) String() string {
	switch t {
	case Created:
		return "created"
	case Updated:
		return "updated"
	case Deleted:
		return "deleted"
	case Evicted:
		return "evicted"
	}
	return "unknown"
}

// Event describes one change. Item is the new item for Created and Updated,
// and the last item held for Deleted and Evicted.
type Event[T Item] struct {
	Type EventType
	ID   ItemID
	Item T
}

// Entry is an item with the cache's own bookkeeping about it.
type Entry[T Item] struct {
	ID   ItemID
	Item T
	// SyncedAt is when a sync last answered for the item; zero if never.
	SyncedAt time.Time
	// DueAt is when the item's next sync is due, set by a sync answer's
	// NextSyncAfter or by Modify's dueNow; zero means the regular cadence
	// (the next resync tick, see NextTick). Restore takes it back.
	DueAt time.Time
	// PendingDelete is set by DeleteDelayed until the next cycle removes it.
	PendingDelete bool

	// seq is the journal sequence of the entry's last change: whoever shows
	// the entry to a client waits for it to be durable first, and Restore
	// carries it over to the cache that takes the entry.
	seq uint64
}

// AutoRefreshCache is the engine, holding items of type T. Create it with
// New (or the library-style constructors, for T = Item), then call Start.
// All methods are safe for concurrent use.
type AutoRefreshCache[T Item] struct {
	opts  Options[T]
	sh    *shards[T]
	n     atomic.Int64  // items held
	clock atomic.Uint64 // LRU stamp source
	m     *metrics
	stats counters

	// pending holds the entries marked by DeleteDelayed. Lock order: a
	// shard's mutex may be held while taking pendingMu, never the reverse.
	pendingMu sync.Mutex
	pending   map[ItemID]*entry[T]

	// created gathers sync-on-create items for one linger; createQueued
	// counts the create batches waiting in the queue (see oncreate.go).
	created      createBuffer[T]
	createQueued atomic.Int64
	// removed carries a cycle's deletions to deliverRemovals.
	removed removals
	// lastSnapshot is the length of the last cycle's snapshot, the next
	// one's first guess.
	lastSnapshot atomic.Int64

	started   atomic.Bool
	queue     atomic.Pointer[workQueue[T]] // set by Start, nil before
	trigger   chan struct{}
	force     atomic.Bool // the next cycle takes every idle item (SyncNow)
	stopped   chan struct{}
	closeOnce sync.Once
	// retired is set by Retire; read under a shard's lock before a change
	// that a background goroutine would make to it (see retire.go).
	retired atomic.Bool

	// due holds the entries with an explicit due time or a deadline
	// (schedule.go); tickBase is when the resync ticker started.
	due      dueHeap[T]
	tickBase atomic.Int64
	dueArmed atomic.Int64 // the wake time the loop's timer was last set for (tests wait on it)
	// paused stops the cutting and sending of batches (pause.go).
	paused atomic.Bool
}

// New validates opts and builds a cache. Its metrics are registered on
// opts.Registerer at once and unregistered when the refresh stops (or by
// Close, for a cache that is never started).
func New[T Item](opts Options[T]) (*AutoRefreshCache[T], error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	c := &AutoRefreshCache[T]{
		opts:    opts,
		sh:      newShards[T](classCount(opts)),
		pending: make(map[ItemID]*entry[T]),
		trigger: make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	c.created.ready = make(chan struct{}, 1)
	c.removed.ready = make(chan struct{}, 1)
	c.due.ready = make(chan struct{}, 1)
	m, err := newMetrics(c, opts.Registerer)
	if err != nil {
		return nil, err
	}
	c.m = m
	return c, nil
}

// NewAutoRefreshCache builds a cache that syncs each item in a batch of its
// own. It mirrors the Flyte constructor; options add what Flyte configured
// elsewhere (clock, sync-on-create, logger, events).
func NewAutoRefreshCache(name string, syncCb SyncFunc, rateLimiter RateLimiter, resyncPeriod time.Duration,
	parallelism, size int, reg Registerer, options ...Option) (AutoRefresh, error) {
	return NewAutoRefreshBatchedCache(name, SingleItemBatches, syncCb, rateLimiter, resyncPeriod, parallelism, size, reg, options...)
}

// NewAutoRefreshBatchedCache builds a cache whose cycles are cut into batches
// by createBatches.
func NewAutoRefreshBatchedCache(name string, createBatches CreateBatchesFunc, syncCb SyncFunc, rateLimiter RateLimiter,
	resyncPeriod time.Duration, parallelism, size int, reg Registerer, options ...Option) (AutoRefresh, error) {
	o := Options[Item]{
		Name: name, Sync: syncCb, CreateBatches: createBatches, RateLimiter: rateLimiter,
		ResyncPeriod: resyncPeriod, Parallelism: parallelism, Size: size, Registerer: reg,
	}
	for _, opt := range options {
		opt(&o)
	}
	return New(o)
}

// Name returns the cache's name.
func (c *AutoRefreshCache[T]) Name() string { return c.opts.Name }

// Len returns the number of items held, pending deletions included.
func (c *AutoRefreshCache[T]) Len() int { return int(c.n.Load()) }

// isNil reports whether item is a nil interface: the check the engine made
// before it was generic, so a T = Item cache still refuses a nil item (a
// typed nil pointer was never refused, and is not now).
func isNil[T Item](item T) bool { return any(item) == nil }

func notFound(id ItemID) error {
	return errs.Errorf(errs.NotFound, "item %q not found", id)
}

// Get returns the item, or an error for which IsNotFound is true. A hit makes
// the item the most recently used.
//
// It is Lookup without the Entry: the hot path copies the item and its
// sequence, not the bookkeeping (two time.Time conversions among it).
func (c *AutoRefreshCache[T]) Get(id ItemID) (T, error) {
	s, e := c.hit(id)
	if e == nil {
		var zero T
		return zero, notFound(id)
	}
	item, seq := e.item, e.seq()
	s.mu.Unlock()
	// Never show a client what a crash could take back.
	if err := c.awaitDurable(seq); err != nil {
		var zero T
		return zero, err
	}
	return item, nil
}

// hit finds id's entry and counts the hit or miss. On a hit it returns the
// entry with its shard's lock held, promoted; the caller reads it and
// unlocks. On a miss the entry is nil and no lock is held.
func (c *AutoRefreshCache[T]) hit(id ItemID) (*shard[T], *entry[T]) {
	s, h := c.sh.locate(id)
	s.mu.Lock()
	e, ok := s.idx.get(h, id)
	if !ok {
		s.misses++
		s.mu.Unlock()
		return s, nil
	}
	s.hits++
	c.promote(s, e)
	return s, e
}

// Lookup is Get with the cache's bookkeeping (sync time, pending deletion).
func (c *AutoRefreshCache[T]) Lookup(id ItemID) (Entry[T], error) {
	s, e := c.hit(id)
	if e == nil {
		return Entry[T]{}, notFound(id)
	}
	out := e.entry()
	seq := out.seq
	s.mu.Unlock()
	// Never show a client what a crash could take back.
	if err := c.awaitDurable(seq); err != nil {
		return Entry[T]{}, err
	}
	return out, nil
}

// GetOrCreate returns the existing item for id, or inserts item. It is atomic:
// concurrent calls for one id insert once and all return the same item.
func (c *AutoRefreshCache[T]) GetOrCreate(id ItemID, item T) (T, error) {
	e, _, err := c.Create(id, item)
	return e.Item, err
}

// Create is GetOrCreate that also says whether this call inserted the item.
// A new non-terminal item is queued for sync at once unless sync-on-create is
// off, the cache is paused or not started.
func (c *AutoRefreshCache[T]) Create(id ItemID, item T) (Entry[T], bool, error) {
	in := c.insert(id, item)
	if in.err != nil || !in.created {
		if in.err == nil {
			in.err = c.awaitDurable(in.out.seq)
		}
		if in.err != nil {
			return Entry[T]{}, false, in.err
		}
		return in.out, false, nil
	}
	last, evictedFrom := c.evictOverflow()
	// The create is acknowledged, and its events (with those of the
	// evictions it caused) delivered, only once durable. On failure the
	// item stays in memory: the journal has failed and every later call
	// that would show it fails the same way.
	err := c.awaitDurable(max(in.out.seq, last))
	if err == nil {
		c.deliver(in.s)
		for _, from := range evictedFrom {
			c.deliver(from)
		}
	}
	c.afterCreate(in, err)
	if err != nil {
		return Entry[T]{}, false, err
	}
	return in.out, true, nil
}

// inserted is what insert did.
type inserted[T Item] struct {
	out     Entry[T]
	created bool
	s       *shard[T]
	e       *entry[T] // set when created
	syncNow bool      // e was marked in flight for sync-on-create
	err     error
}

// insert is the locked part of Create: it returns the existing entry, or
// inserts item and journals it, without waiting for the journal and
// without evicting.
func (c *AutoRefreshCache[T]) insert(id ItemID, item T) inserted[T] {
	if isNil(item) {
		return inserted[T]{err: errs.Errorf(errs.Invalid, "item %q: nil item", id)}
	}
	s, h := c.sh.locate(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.idx.get(h, id); ok {
		c.promote(s, e)
		return inserted[T]{out: e.entry(), s: s}
	}
	if !c.opts.Budget.take() {
		return inserted[T]{err: capacityError(c.opts.Budget)}
	}
	stamp := c.clock.Add(1)
	e := &entry[T]{id: id, item: item, stamp: stamp}
	syncNow := c.queue.Load() != nil && !c.opts.DisableSyncOnCreate && !item.IsTerminal() && !c.paused.Load()
	e.inFlight = syncNow
	c.put(s, h, e)
	e.setSeq(c.change(s, Change[T]{Kind: ChangePut, ID: id, Item: item}, Event[T]{Type: Created, ID: id, Item: item}))
	c.reschedule(e, 0, 0) // its deadline, if it has one
	c.n.Add(1)
	return inserted[T]{out: Entry[T]{ID: id, Item: item, seq: e.seq()}, created: true, s: s, e: e, syncNow: syncNow}
}

// afterCreate queues a created item for sync-on-create once its create is
// durable (err nil), or releases it.
func (c *AutoRefreshCache[T]) afterCreate(in inserted[T], err error) {
	if !in.syncNow {
		return
	}
	if err != nil {
		c.release(in.e)
		return
	}
	// Not wrap: the lock is not held, so nothing of e but its id is read;
	// ver is 0, the created entry's.
	c.syncOnCreate(&itemWrapper[T]{id: in.e.id, item: in.out.Item, e: in.e, shard: in.s.no})
}

// DeleteDelayed marks the item for deletion by the next sync cycle. Until
// then Get and GetOrCreate return it as it was, and syncs of it are dropped.
// It returns a NotFound error for an unknown id.
func (c *AutoRefreshCache[T]) DeleteDelayed(id ItemID) error {
	_, err := c.MarkDelete(id)
	return err
}

// MarkDelete is DeleteDelayed that also returns the item as it was marked.
// The entry is read under the same lock that marks it: looking it up again
// afterwards could find nothing, if a cycle carried the deletion out in
// between.
func (c *AutoRefreshCache[T]) MarkDelete(id ItemID) (Entry[T], error) {
	s, h := c.sh.locate(id)
	s.mu.Lock()
	e, ok := s.idx.get(h, id)
	if !ok {
		s.mu.Unlock()
		return Entry[T]{}, notFound(id)
	}
	if !e.pendingDelete {
		e.pendingDelete = true
		e.setSeq(c.record(Change[T]{Kind: ChangeMarkDelete, ID: id}))
		c.pendingMu.Lock()
		c.pending[id] = e
		c.pendingMu.Unlock()
	}
	out, seq := e.entry(), e.seq()
	s.mu.Unlock()
	if err := c.awaitDurable(seq); err != nil {
		return Entry[T]{}, err
	}
	return out, nil
}

// SyncNow asks the refresh loop for a cycle now instead of at the next tick,
// one that takes every idle non-terminal item whatever its due time: an
// item that its upstream put off (nextSyncAfter) or that waits out a
// backoff is asked about too, which is what a caller asking for a sync
// now means. Requests made while one is already waiting are merged.
func (c *AutoRefreshCache[T]) SyncNow() {
	c.force.Store(true)
	c.kick()
}

// kick asks the refresh loop for a cycle now, of the items that are due.
func (c *AutoRefreshCache[T]) kick() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

// Stopped is closed once a started cache's refresh goroutines have all
// returned after its context was cancelled.
func (c *AutoRefreshCache[T]) Stopped() <-chan struct{} { return c.stopped }

// Close unregisters the cache's metrics and gives its items back to the
// budget. A started cache does this itself when it stops; Close is for a
// cache that was never started. It is safe to call more than once.
func (c *AutoRefreshCache[T]) Close() {
	c.closeOnce.Do(func() {
		c.m.unregister()
		// The items leave the shared budget with the cache; whoever takes
		// them over (Restore) claims them again.
		c.opts.Budget.release(c.n.Load())
		c.due.clear() // a cache that never ran holds its restored wake times
	})
}

// promote records a hit on e. Callers hold s.mu.
//
// The shard's list stays ordered by stamp, so its tail is its least
// recently used entry and evictOne finds the cache's by comparing tails. A
// hit moves e to the head with the cache clock's value, which only creates
// advance: no shared write, and no write at all when e was already used
// since the last create. Recency is therefore exact to the resolution of
// creates: of two items last used between the same two creates, either may
// be evicted first.
func (c *AutoRefreshCache[T]) promote(s *shard[T], e *entry[T]) {
	if now := c.clock.Load(); e.stamp < now {
		s.touch(e, now)
	}
}
