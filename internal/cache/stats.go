package cache

import (
	"sync/atomic"
	"time"
)

// counters are the cache's running totals. They are atomics so that the hot
// paths and the metrics scrape never share a lock.
type counters struct {
	syncs, syncErrors, enqueuedTotal, evictions, deletions atomic.Uint64
	cycles                                                 atomic.Uint64 // refresh cycles run
	dueCycles                                              atomic.Uint64 // due cycles run (schedule.go)
	queued                                                 atomic.Int64  // items waiting for a worker
	syncing                                                atomic.Int64  // batches in a SyncFunc call
	lastSyncAt, lastErrorAt                                atomic.Int64
	lastError                                              atomic.Pointer[string]
}

// Stats is a point-in-time view of a cache's counters.
type Stats struct {
	// Size is the number of items held.
	Size int
	// Syncs counts SyncFunc calls that succeeded; SyncErrors those that
	// failed or panicked (and failed CreateBatchesFunc calls).
	Syncs, SyncErrors uint64
	// Enqueued is the number of items waiting in the queue for a worker
	// now; InFlight the number of batches being synced (SyncFunc calls
	// under way, results being applied). EnqueuedTotal counts every item
	// ever queued.
	Enqueued      int64
	InFlight      int64
	EnqueuedTotal uint64
	// Hits and Misses count Get and Lookup calls.
	Hits, Misses uint64
	// Evictions and Deletions are counted apart: an eviction is the size
	// bound at work, a deletion is a caller's DeleteDelayed carried out.
	Evictions, Deletions uint64
	// LastSyncAt is when a batch last synced successfully (zero if never).
	LastSyncAt time.Time
	// LastError is the text of the last sync failure ("" if none) and
	// LastErrorAt its time.
	LastError   string
	LastErrorAt time.Time
	// ByClass counts the items held in each class (Options.Class), pending
	// deletions included; nil without classes.
	ByClass []int
}

// Stats returns the cache's counters.
func (c *AutoRefreshCache[T]) Stats() Stats {
	hits, misses := c.hitsMisses()
	st := Stats{
		Size:          c.Len(),
		Syncs:         c.stats.syncs.Load(),
		SyncErrors:    c.stats.syncErrors.Load(),
		Enqueued:      max(c.stats.queued.Load(), 0),
		InFlight:      max(c.stats.syncing.Load(), 0),
		EnqueuedTotal: c.stats.enqueuedTotal.Load(),
		Hits:          hits,
		Misses:        misses,
		Evictions:     c.stats.evictions.Load(),
		Deletions:     c.stats.deletions.Load(),
		LastSyncAt:    unixNano(c.stats.lastSyncAt.Load()),
		LastErrorAt:   unixNano(c.stats.lastErrorAt.Load()),
		ByClass:       c.byClass(),
	}
	if p := c.stats.lastError.Load(); p != nil {
		st.LastError = *p
	}
	return st
}

// hitsMisses sums the per-shard counters.
func (c *AutoRefreshCache[T]) hitsMisses() (hits, misses uint64) {
	for i := range c.sh.s {
		s := &c.sh.s[i]
		s.mu.Lock()
		hits += s.hits
		misses += s.misses
		s.mu.Unlock()
	}
	return hits, misses
}
