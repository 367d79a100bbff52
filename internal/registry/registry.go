// Package registry hosts the service's named caches. Each cache is an
// AutoRefresh engine bound to one webhook syncer; the registry creates,
// reconfigures and removes them, and carries item calls to the right one.
// It implements autorefresh.Service, the embedded mode.
//
// Locking: r.mu guards the name → cache map. Each cache has its own RWMutex:
// item calls hold it shared, a config change holds it exclusively while the
// old engine is swapped for a new one, so no acknowledged create can land in
// an engine that is being replaced. The swap does not wait for the old
// engine's webhook calls (cache.Retire), so readers wait for no upstream. A
// Delete keeps the cache in the map, locked, until its removal is journaled:
// a Put of the same name waits for it, then registers the cache anew.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/internal/syncers"
)

// Options configures a Registry.
type Options struct {
	// Registerer receives every cache's and syncer's metrics. Required.
	Registerer prometheus.Registerer
	// Logger is required.
	Logger *zap.Logger
	// Clock drives the engines and timestamps. Default: the real clock.
	Clock clock.WithTicker
	// Egress decides which webhook addresses may be called. Nil allows
	// public addresses only.
	Egress *egress.Policy
	// HTTPClient, if set, makes every cache's webhook calls. Nil gives each
	// cache a client of its own built from Egress, so that one slow
	// upstream cannot hold connections another cache needs.
	HTTPClient *http.Client
	// Calls, if set, bounds the webhook calls in flight of every cache
	// together (syncers.Calls). Nil bounds each cache by its parallelism
	// only.
	Calls *syncers.Calls
	// Tracing traces every cache's sync batches; the zero value does not.
	Tracing syncers.Tracing
	// MaxCaches bounds the number of caches. Default:
	// autorefresh.DefaultMaxCaches.
	MaxCaches int
	// MaxItems bounds the items of all caches together; creates past it
	// fail with errs.Capacity. Default: autorefresh.DefaultMaxItems.
	MaxItems int64
	// DrainTimeout lets webhook calls under way finish for this long when
	// the registry stops; see cache.Options.DrainTimeout.
	DrainTimeout time.Duration
	// Journal, if set, makes registrations and item changes durable
	// before they are acknowledged. Nil keeps everything in memory.
	Journal Journal
	// OnEvent, if set, sees every item change of every cache. It runs
	// outside all locks and must not block.
	OnEvent func(cacheName string, ev autorefresh.Event)
	// OnCacheDeleted, if set, is told when Delete has removed a cache, so
	// that watchers of its items can be ended. It runs with that cache's
	// lock held: it must not block or call the registry.
	OnCacheDeleted func(cacheName string)
}

// Registry is the set of caches. Create it with New and run it with Start.
type Registry struct {
	opts    Options
	metrics *syncers.Metrics
	budget  *cache.Budget // items of all caches together

	mu      sync.RWMutex
	caches  map[string]*managed
	runCtx  atomic.Pointer[context.Context] // nil until Start
	stopped sync.WaitGroup                  // one per running engine
	// startMu orders engine starts against Wait: a start either adds to
	// stopped before Wait begins, or sees the run context ended and
	// refuses. Without it a request still running at the shutdown
	// deadline could Add while Wait waits, which WaitGroup forbids.
	startMu sync.Mutex
}

// New validates opts and builds an empty registry.
func New(opts Options) (*Registry, error) {
	if opts.Registerer == nil || opts.Logger == nil {
		return nil, errs.Errorf(errs.Invalid, "registry: Registerer and Logger are required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.MaxCaches <= 0 {
		opts.MaxCaches = autorefresh.DefaultMaxCaches
	}
	if opts.MaxItems <= 0 {
		opts.MaxItems = autorefresh.DefaultMaxItems
	}
	r := &Registry{opts: opts, caches: make(map[string]*managed), budget: cache.NewBudget(opts.MaxItems)}
	states := newStateMetrics(r)
	if err := opts.Registerer.Register(states); err != nil {
		return nil, err
	}
	m, err := syncers.NewMetrics(opts.Registerer)
	if err != nil {
		opts.Registerer.Unregister(states) // leave the registerer as it was
		return nil, err
	}
	r.metrics = m
	return r, nil
}

// Start runs every registered cache, and every cache registered later, until
// ctx is cancelled. Wait then returns once all of them have stopped.
func (r *Registry) Start(ctx context.Context) error {
	if !r.runCtx.CompareAndSwap(nil, &ctx) {
		return cache.ErrAlreadyStarted
	}
	// Caches registered from here on start in install; start the others.
	r.mu.RLock()
	ms := make([]*managed, 0, len(r.caches))
	for _, m := range r.caches {
		ms = append(ms, m)
	}
	r.mu.RUnlock()
	for _, m := range ms {
		m.mu.Lock()
		err := r.startLocked(m)
		m.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// Wait blocks until every engine has stopped after Start's ctx ended. Call
// it only after that: engines started later are refused (see startLocked).
func (r *Registry) Wait() {
	// An empty critical section: it waits out a start under way.
	r.startMu.Lock()
	r.startMu.Unlock() //lint:ignore SA2001 waits out a Start under way, holding nothing
	r.stopped.Wait()
}

// Put registers a cache or replaces its config, keeping its items. It
// reports whether the cache is new. A Put racing a Delete of the same name
// comes wholly after it (registering the cache anew) or wholly before it,
// in memory and in the journal alike.
func (r *Registry) Put(_ context.Context, name string, cfg autorefresh.Config) (created bool, err error) {
	cfg, err = autorefresh.Validate(name, cfg, r.opts.Egress)
	if err != nil {
		return false, err
	}
	for {
		r.mu.Lock()
		m, exists := r.caches[name]
		if !exists {
			if len(r.caches) >= r.opts.MaxCaches {
				r.mu.Unlock()
				return false, errs.Errorf(errs.Capacity, "cache: at most %d caches may be registered", r.opts.MaxCaches)
			}
			m = &managed{name: name}
			m.mu.Lock()
			r.caches[name] = m
			r.mu.Unlock()
			err := r.createLocked(m, cfg)
			if err != nil {
				r.forgetLocked(m)
			}
			m.mu.Unlock()
			return err == nil, err
		}
		r.mu.Unlock()

		m.mu.Lock()
		if m.engine == nil {
			// A Delete (or a failed Put) removed it while we waited; it
			// is out of the map now, so look again.
			m.mu.Unlock()
			continue
		}
		err := r.replaceLocked(m, cfg)
		m.mu.Unlock()
		return false, err
	}
}

// createLocked builds a new cache, makes its registration durable and only
// then starts it: a registration that is refused leaves nothing running.
// Callers hold m.mu exclusively.
func (r *Registry) createLocked(m *managed, cfg autorefresh.Config) error {
	if err := r.build(m, cfg, nil); err != nil {
		return err
	}
	if err := r.persistConfig(m.name, cfg); err != nil {
		r.retireLocked(m)
		r.undoLater(m.name, nil)
		return err
	}
	return r.startLocked(m)
}

// replaceLocked swaps m's engine for one with cfg and the same items. It
// does not wait for the old engine's webhook calls to drain (their results
// are dropped; the new engine syncs those items again), so readers held
// off by m.mu wait only for the swap and one journal write. A change that
// is not durable is rolled back. Callers hold m.mu exclusively.
func (r *Registry) replaceLocked(m *managed, cfg autorefresh.Config) error {
	old := m.cfg
	items := r.retireLocked(m)
	err := r.build(m, cfg, items)
	if err == nil {
		if err = r.persistConfig(m.name, cfg); err != nil {
			items = r.retireLocked(m)
			r.undoLater(m.name, &old)
		}
	}
	if err != nil {
		// Not acknowledged: the old config goes on as it was.
		if restoreErr := r.build(m, old, items); restoreErr != nil {
			r.opts.Logger.Error("cache lost: its old config could not be restored after a failed reconfiguration",
				zap.String("cache", m.name), zap.Error(restoreErr))
			r.forgetLocked(m)
			return errs.Wrap(errs.Internal, restoreErr, "cache: reconfiguration failed")
		}
	}
	return errors.Join(err, r.startLocked(m))
}

// persistConfig makes a registration durable before it is acknowledged.
// Callers hold the cache's lock, which orders it with a Delete.
func (r *Registry) persistConfig(name string, cfg autorefresh.Config) error {
	if r.opts.Journal == nil {
		return nil
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return r.opts.Journal.Wait(r.opts.Journal.AppendCache(name, b))
}

// undoLater follows a registration the journal refused with its undoing:
// the cache's previous config, or its removal if it had none. The journal
// keeps a batch the store refused and writes it once the store works
// again, so the refused registration may still reach the disk; what is
// appended here lands after it, and the disk comes back to what clients
// were told. It does not wait: the store is failing. Callers hold the
// cache's lock.
func (r *Registry) undoLater(name string, previous *autorefresh.Config) {
	if r.opts.Journal == nil {
		return
	}
	if previous == nil {
		r.opts.Journal.AppendDeleteCache(name)
		return
	}
	if b, err := json.Marshal(*previous); err == nil {
		r.opts.Journal.AppendCache(name, b)
	}
}

// install builds m's engine (see build) and starts it if the registry runs.
// Callers hold m.mu exclusively.
func (r *Registry) install(m *managed, cfg autorefresh.Config, items []cache.Entry[*record.Record]) error {
	if err := r.build(m, cfg, items); err != nil {
		return err
	}
	return r.startLocked(m)
}

// build makes the engine and syncer for cfg and restores items into it,
// without starting it. Callers hold m.mu exclusively.
func (r *Registry) build(m *managed, cfg autorefresh.Config, items []cache.Entry[*record.Record]) error {
	wh, err := syncers.New(syncers.Options{
		Cache: m.name, Webhook: cfg.WebhookConfig(), Policy: r.opts.Egress, Client: r.opts.HTTPClient,
		Calls: r.opts.Calls, Clock: r.opts.Clock, Logger: r.opts.Logger, Metrics: r.metrics,
		Tracing:  r.opts.Tracing,
		Schedule: cfg.Policy(),
	})
	if err != nil {
		return err
	}
	engine, err := cache.New(r.engineOptions(m.name, cfg, wh.Sync))
	if err != nil {
		wh.Close()
		if errs.CodeOf(err) == errs.Invalid {
			return err
		}
		// The config was validated, so this is the server's fault (a
		// metrics clash, say) and its text is not for clients.
		return errs.Wrap(errs.Internal, err, "cache: could not be set up")
	}
	engine.Restore(items)
	if m.paused {
		engine.Pause()
	}
	m.engine, m.wh, m.cfg = engine, wh, cfg
	return nil
}

// startLocked starts m's engine under the registry's run context, if the
// registry runs and the engine has not started yet. Callers hold m.mu
// exclusively.
func (r *Registry) startLocked(m *managed) error {
	run := r.runCtx.Load()
	if run == nil || m.engine == nil || m.cancel != nil {
		return nil
	}
	r.startMu.Lock()
	defer r.startMu.Unlock()
	if (*run).Err() != nil {
		return errs.Errorf(errs.Unavailable, "the server is shutting down")
	}
	ctx, cancel := context.WithCancel(*run)
	if err := m.engine.Start(ctx); err != nil {
		cancel()
		return err
	}
	m.cancel = cancel
	r.stopped.Add(1)
	engine, wh, name := m.engine, m.wh, m.name
	go func() {
		<-engine.Stopped()
		wh.Close()
		r.forgetIfGone(name)
		r.stopped.Done()
	}()
	return nil
}

// retireLocked stops m's engine and returns its items. It does not wait for
// the engine's webhook calls under way: they may run on (until the drain
// timeout) but change nothing, and Wait still waits for them. Callers hold
// m.mu exclusively.
func (r *Registry) retireLocked(m *managed) []cache.Entry[*record.Record] {
	if m.cancel != nil {
		m.cancel()
		m.cancel = nil
	} else {
		m.wh.Close() // never started: no goroutine will close it
	}
	items := m.engine.Retire()
	m.engine, m.wh = nil, nil
	return items
}

// forgetLocked takes m, whose engine is gone, out of the map, and drops its
// syncer series in the same step, while the name is still ours: a Put of
// the name cannot register it again, and create series of its own, until
// r.mu is released. Dropping them earlier is not enough: a webhook call
// that ends after that counts its outcome again, and if its engine has
// stopped by now, forgetIfGone has already run and found the name still
// here. Callers hold m.mu exclusively.
func (r *Registry) forgetLocked(m *managed) {
	r.mu.Lock()
	if r.caches[m.name] == m {
		delete(r.caches, m.name)
		r.metrics.Forget(m.name)
	}
	r.mu.Unlock()
}

// forgetIfGone drops a cache's syncer series once an engine of it has
// stopped, unless the name is registered: a webhook call that outlived the
// cache's removal (forgetLocked) may have brought them back. While a Delete
// still holds the name, forgetLocked drops them at the removal instead. r.mu
// orders it with a Put of the name, whose syncer creates them anew.
func (r *Registry) forgetIfGone(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, back := r.caches[name]; !back {
		r.metrics.Forget(name)
	}
}

// Delete stops a cache's refresh and drops it with its items. The cache
// stays in the map, under its lock, until the removal is journaled, so a
// Put of the same name waits for it and is journaled after it; its syncer
// series leave with it (forgetLocked).
func (r *Registry) Delete(_ context.Context, name string) error {
	r.mu.RLock()
	m, ok := r.caches[name]
	r.mu.RUnlock()
	if !ok {
		return cacheNotFound(name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.engine == nil {
		return cacheNotFound(name)
	}
	r.retireLocked(m)
	if r.opts.OnCacheDeleted != nil {
		r.opts.OnCacheDeleted(name)
	}
	var err error
	if r.opts.Journal != nil {
		err = r.opts.Journal.Wait(r.opts.Journal.AppendDeleteCache(name))
	}
	r.forgetLocked(m)
	return err
}

// Sync queues a refresh of the cache's non-terminal items now.
func (r *Registry) Sync(_ context.Context, name string) error {
	return r.with(name, func(m *managed) error {
		m.engine.SyncNow()
		return nil
	})
}

// Info returns a cache's config and stats.
func (r *Registry) Info(_ context.Context, name string) (autorefresh.Info, error) {
	var out autorefresh.Info
	err := r.with(name, func(m *managed) error {
		out = m.info()
		return nil
	})
	return out, err
}

// List returns every cache, by name.
func (r *Registry) List(_ context.Context) ([]autorefresh.Info, error) {
	r.mu.RLock()
	ms := make([]*managed, 0, len(r.caches))
	for _, m := range r.caches {
		ms = append(ms, m)
	}
	r.mu.RUnlock()
	out := make([]autorefresh.Info, 0, len(ms))
	for _, m := range ms {
		m.mu.RLock()
		if m.engine != nil {
			out = append(out, m.info())
		}
		m.mu.RUnlock()
	}
	slices.SortFunc(out, func(a, b autorefresh.Info) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out, nil
}

// with runs f on the named cache with its lock held shared.
func (r *Registry) with(name string, f func(m *managed) error) error {
	r.mu.RLock()
	m, ok := r.caches[name]
	r.mu.RUnlock()
	if !ok {
		return cacheNotFound(name)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.engine == nil {
		return cacheNotFound(name)
	}
	return f(m)
}

func cacheNotFound(name string) error {
	return errs.Errorf(errs.NotFound, "cache %q not found", name)
}

var _ autorefresh.Service = (*Registry)(nil)
