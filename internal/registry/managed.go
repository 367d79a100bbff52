package registry

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/internal/syncers"
)

// managed is one hosted cache. mu guards every field: shared for item calls,
// exclusive while the engine is replaced or removed. engine is nil once the
// cache has been deleted.
type managed struct {
	name   string
	mu     sync.RWMutex
	engine *cache.AutoRefreshCache[*record.Record]
	// wh is the engine's syncer. It is closed once its engine has stopped
	// (or at once, for one never started), which also gives up its place
	// among the caches sharing the server's webhook calls.
	wh     *syncers.Webhook
	cfg    autorefresh.Config
	cancel context.CancelFunc // nil until the engine runs
	// paused is the cache's durable pause flag (SetPaused); every engine
	// built for the cache is paused while it is set.
	paused bool
}

// syncOnCreateLinger is how long a created item waits for others to share
// its webhook call: short next to any resync period, long enough that a
// burst of creates makes batches of batchSize rather than one call each.
const syncOnCreateLinger = 20 * time.Millisecond

// info builds the client view. Callers hold m.mu.
func (m *managed) info() autorefresh.Info {
	cfg, secretSet := autorefresh.Redact(m.cfg)
	return autorefresh.Info{Name: m.name, Config: cfg, SecretSet: secretSet, Paused: m.paused, Stats: statsOf(m.engine.Stats())}
}

// itemOf is an engine entry as clients see it. Callers hold m.mu.
func (m *managed) itemOf(e cache.Entry[*record.Record]) autorefresh.Item {
	it := autorefresh.Item{Record: e.Item, PendingDelete: e.PendingDelete}
	if !e.SyncedAt.IsZero() {
		t := e.SyncedAt
		it.SyncedAt = &t
	}
	if !e.Item.Terminal && !m.paused {
		// An explicit due time (an upstream's nextSyncAfter, a retry),
		// else the next regular tick; unknown before the engine runs.
		next := e.DueAt
		if next.IsZero() {
			next = m.engine.NextTick()
		}
		if !next.IsZero() {
			it.NextSyncAt = &next
		}
	}
	return it
}

// engineOptions maps a registration onto the engine's options.
func (r *Registry) engineOptions(name string, cfg autorefresh.Config, sync cache.SyncFuncOf[*record.Record]) cache.Options[*record.Record] {
	rl := cfg.RateLimit
	limiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[*cache.BatchOf[*record.Record]](timeOf(rl.BaseDelay), timeOf(rl.MaxDelay)),
		&workqueue.TypedBucketRateLimiter[*cache.BatchOf[*record.Record]]{Limiter: rate.NewLimiter(rate.Limit(rl.QPS), rl.Burst)},
	)
	var journal cache.Journal[*record.Record]
	if r.opts.Journal != nil {
		// Only a non-nil journal may go into the interface: a typed nil
		// would look like a journal to the engine.
		journal = r.opts.Journal
	}
	var onEvent func(cache.Event[*record.Record])
	if f := r.opts.OnEvent; f != nil {
		onEvent = func(ev cache.Event[*record.Record]) { f(name, eventOf(ev)) }
	}
	return cache.Options[*record.Record]{
		Name:                name,
		Sync:                sync,
		CreateBatches:       cache.FixedSizeBatchesOf[*record.Record](cfg.BatchSize),
		RateLimiter:         limiter,
		ResyncPeriod:        timeOf(cfg.ResyncPeriod),
		Parallelism:         cfg.Parallelism,
		Size:                cfg.Size,
		Registerer:          r.opts.Registerer,
		Clock:               r.opts.Clock,
		DisableSyncOnCreate: !*cfg.SyncOnCreate,
		CreateLinger:        syncOnCreateLinger,
		DrainTimeout:        r.opts.DrainTimeout,
		Journal:             journal,
		Budget:              r.budget,
		Logger:              r.opts.Logger,
		OnEvent:             onEvent,
		// An item's deadline is its record's: past it, the record is
		// expired instead of synced.
		Deadline: func(rec *record.Record) time.Time { return rec.ExpiresAt },
		Expire:   func(rec *record.Record, now time.Time) *record.Record { return rec.Expire(now.UTC()) },
		// Items are counted by state as they change, for Stats.ByState
		// and autorefresh_cache_items_by_state, without a scan.
		Class:   func(rec *record.Record) int { return int(rec.StateOf()) },
		Classes: int(record.NumStates),
	}
}

func timeOf(d autorefresh.Duration) time.Duration { return time.Duration(d) }

// eventOf is the domain's view of an engine event.
func eventOf(ev cache.Event[*record.Record]) autorefresh.Event {
	var t autorefresh.EventType
	switch ev.Type {
	case cache.Created:
		t = autorefresh.EventCreated
	case cache.Updated:
		t = autorefresh.EventUpdated
	case cache.Deleted:
		t = autorefresh.EventDeleted
	case cache.Evicted:
		t = autorefresh.EventEvicted
	}
	return autorefresh.Event{Type: t, ID: ev.ID, Item: ev.Item}
}

// statsOf is the engine's counters as the domain's Stats.
func statsOf(st cache.Stats) autorefresh.Stats {
	var byState [record.NumStates]int
	copy(byState[:], st.ByClass)
	byState[record.StateUnset] = 0 // StateOf never answers it
	return autorefresh.Stats{
		Size: st.Size, ByState: byState, Syncs: st.Syncs, SyncErrors: st.SyncErrors,
		Enqueued: st.Enqueued, InFlight: st.InFlight, EnqueuedTotal: st.EnqueuedTotal,
		Hits: st.Hits, Misses: st.Misses, Evictions: st.Evictions, Deletions: st.Deletions,
		LastSyncAt: st.LastSyncAt, LastError: st.LastError, LastErrorAt: st.LastErrorAt,
	}
}
