package cache

import (
	"fmt"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// RateLimiterOf paces the batches that the workers take from the queue. It
// is client-go's typed workqueue rate limiter, keyed by batch.
type RateLimiterOf[T Item] = workqueue.TypedRateLimiter[*BatchOf[T]]

// RateLimiter is the rate limiter of the library constructors' caches.
type RateLimiter = RateLimiterOf[Item]

// DefaultRateLimiter is client-go's default controller limiter for batches: a
// per-batch exponential backoff max'd with a 10 qps, 100 burst token bucket.
func DefaultRateLimiter() RateLimiter { return DefaultRateLimiterOf[Item]() }

// DefaultRateLimiterOf is DefaultRateLimiter for any item type.
func DefaultRateLimiterOf[T Item]() RateLimiterOf[T] {
	return workqueue.DefaultTypedControllerRateLimiter[*BatchOf[T]]()
}

// Options configures a cache of items of type T. New validates them; the
// zero value of an optional field picks the documented default.
type Options[T Item] struct {
	// Name labels the cache's metrics and logs. Required.
	Name string
	// Sync refreshes a batch. Required.
	Sync SyncFuncOf[T]
	// CreateBatches cuts each cycle's snapshot. Default: SingleItemBatches.
	CreateBatches CreateBatchesFuncOf[T]
	// RateLimiter paces batches. Default: DefaultRateLimiter().
	RateLimiter RateLimiterOf[T]
	// ResyncPeriod is the time between refresh cycles. Required, > 0.
	ResyncPeriod time.Duration
	// Parallelism is the number of workers calling Sync. Required, > 0.
	Parallelism int
	// Size bounds the number of items; past it the least recently used item
	// is evicted. Required, > 0.
	Size int
	// Registerer receives the cache's metrics. Nil registers nothing.
	Registerer prometheus.Registerer
	// Clock drives the resync ticker, the work queue and timestamps.
	// Default: the real clock.
	Clock clock.WithTicker
	// DisableSyncOnCreate stops GetOrCreate from queueing a newly created
	// non-terminal item at once; it then waits for the next cycle.
	DisableSyncOnCreate bool
	// CreateLinger is how long a newly created item waits for others to
	// share its sync-on-create batch. Zero queues each one at once, in a
	// batch of its own (as CreateBatches cuts a one-item snapshot).
	CreateLinger time.Duration
	// DrainTimeout is how long SyncFunc calls under way may run on after
	// the cache's context is cancelled. Zero cancels them at once.
	DrainTimeout time.Duration
	// Budget, if set, bounds the items of all the caches that share it: a
	// create past it fails with errs.Capacity (even one that would evict,
	// since the bound is a promise about memory, checked before the insert).
	Budget *Budget
	// Journal, if set, makes every change durable before it is
	// acknowledged; see Journal. Nil keeps the cache in memory only.
	Journal Journal[T]
	// Logger receives sync failures and recovered panics. Default: no-op.
	Logger *zap.Logger
	// OnEvent, if set, is called after every change to the cache, outside
	// all locks, on the goroutine that made the change. It must not block:
	// it runs on the request path and on sync workers.
	OnEvent func(Event[T])
	// Deadline, if set, gives an item's deadline (zero: none). A
	// non-terminal item is due at its deadline at the latest, and no sync
	// of it starts after it: the cache replaces it with Expire's result
	// instead (a change like Modify's: journaled, an Updated event). Both
	// or neither of Deadline and Expire must be set, and Expire's result
	// must be terminal or have a later deadline, else it is expired again.
	Deadline func(T) time.Time
	// Expire returns the item that a non-terminal item past its deadline
	// becomes, at now.
	Expire func(item T, now time.Time) T
	// Class, if set, puts each item into one of Classes classes (a value
	// outside [0, Classes) counts in none), and Stats.ByClass counts the
	// items of each, kept up to date at every change without a scan. It is
	// called with a shard lock held: it must be quick and must not call
	// the cache.
	Class   func(T) int
	Classes int
}

// maxClasses bounds Options.Classes: the counts are per shard.
const maxClasses = 64

// MaxCreateLinger bounds Options.CreateLinger: a created item is meant to be
// synced soon, and the linger only gathers a batch for it.
const MaxCreateLinger = 50 * time.Millisecond

// Option changes Options; it is how the library-style constructors take
// settings beyond their positional arguments. Those constructors build
// caches of Item, as Flyte's do.
type Option func(*Options[Item])

// WithClock sets the clock (tests pass a fake one to step time).
func WithClock(c clock.WithTicker) Option { return func(o *Options[Item]) { o.Clock = c } }

// WithSyncOnCreate turns sync-on-create on (the default) or off.
func WithSyncOnCreate(on bool) Option { return func(o *Options[Item]) { o.DisableSyncOnCreate = !on } }

// WithDrainTimeout sets Options.DrainTimeout.
func WithDrainTimeout(d time.Duration) Option { return func(o *Options[Item]) { o.DrainTimeout = d } }

// WithLogger sets the logger.
func WithLogger(l *zap.Logger) Option { return func(o *Options[Item]) { o.Logger = l } }

// WithEventHandler sets Options.OnEvent.
func WithEventHandler(f func(Event[Item])) Option { return func(o *Options[Item]) { o.OnEvent = f } }

// nameRE keeps cache names usable as metric label values and in URLs.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// validate checks o and fills in defaults.
func (o *Options[T]) validate() error {
	switch {
	case !nameRE.MatchString(o.Name):
		return errs.Errorf(errs.Invalid, "name: %q must match %s", o.Name, nameRE)
	case o.Sync == nil:
		return errs.Errorf(errs.Invalid, "sync: a SyncFunc is required")
	case o.ResyncPeriod <= 0:
		return errs.Errorf(errs.Invalid, "resyncPeriod: must be positive, got %v", o.ResyncPeriod)
	case o.Parallelism <= 0:
		return errs.Errorf(errs.Invalid, "parallelism: must be positive, got %d", o.Parallelism)
	case o.Size <= 0:
		return errs.Errorf(errs.Invalid, "size: must be positive, got %d", o.Size)
	case o.CreateLinger < 0 || o.CreateLinger > MaxCreateLinger:
		return errs.Errorf(errs.Invalid, "createLinger: must be between 0 and %v, got %v", MaxCreateLinger, o.CreateLinger)
	case (o.Deadline == nil) != (o.Expire == nil):
		return errs.Errorf(errs.Invalid, "deadline: Deadline and Expire go together")
	case o.Class != nil && (o.Classes <= 0 || o.Classes > maxClasses):
		return errs.Errorf(errs.Invalid, "classes: must be between 1 and %d with a Class func, got %d", maxClasses, o.Classes)
	}
	if o.CreateBatches == nil {
		o.CreateBatches = SingleItemBatchesOf[T]
	}
	if o.RateLimiter == nil {
		o.RateLimiter = DefaultRateLimiterOf[T]()
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return nil
}

// String describes the options without the callbacks, for logs.
func (o *Options[T]) String() string {
	return fmt.Sprintf("cache %q: resync=%v parallelism=%d size=%d syncOnCreate=%v",
		o.Name, o.ResyncPeriod, o.Parallelism, o.Size, !o.DisableSyncOnCreate)
}

// Registerer is where a cache registers its metrics: pass the server's own
// registry (never the global one) or nil for none.
type Registerer = prometheus.Registerer
