package registry

import (
	"context"
	"maps"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/syncers"
)

// managed is one hosted cache. mu guards every field: shared for item calls,
// exclusive while the engine is replaced or removed. engine is nil once the
// cache has been deleted.
type managed struct {
	name   string
	mu     sync.RWMutex
	engine *cache.AutoRefreshCache
	cfg    Config
	cancel context.CancelFunc // nil until the engine runs
}

// Info is a cache as clients see it: its config as Redact shows it, and its
// stats.
type Info struct {
	Name   string
	Config Config // as Redact returns it
	// SecretSet says whether the webhook has a secret.
	SecretSet bool
	Stats     cache.Stats
}

// RedactedValue replaces configured header values and the webhook URL's
// query values in everything the service returns.
const RedactedValue = syncers.RedactedValue

// syncOnCreateLinger is how long a created item waits for others to share
// its webhook call: short next to any resync period, long enough that a
// burst of creates makes batches of batchSize rather than one call each.
const syncOnCreateLinger = 20 * time.Millisecond

// Redact returns cfg as any reader of the cache may see it: without the
// secret (secretSet says whether there is one), with every header value
// and every query value of the webhook URL (where tokens often ride)
// replaced by RedactedValue. Every mode builds its Info with it.
func Redact(cfg Config) (out Config, secretSet bool) {
	secretSet = cfg.Webhook.Secret != ""
	cfg.Webhook.Secret = ""
	cfg.Webhook.URL = syncers.RedactURL(cfg.Webhook.URL)
	if len(cfg.Webhook.Headers) > 0 {
		redacted := maps.Clone(cfg.Webhook.Headers)
		for k := range redacted {
			redacted[k] = RedactedValue
		}
		cfg.Webhook.Headers = redacted
	}
	if cfg.RateLimit != nil {
		rl := *cfg.RateLimit
		cfg.RateLimit = &rl
	}
	return cfg, secretSet
}

// info builds the client view. Callers hold m.mu.
func (m *managed) info() Info {
	cfg, secretSet := Redact(m.cfg)
	return Info{Name: m.name, Config: cfg, SecretSet: secretSet, Stats: m.engine.Stats()}
}

// engineOptions maps a registration onto the engine's options.
func (r *Registry) engineOptions(name string, cfg Config, sync cache.SyncFunc) cache.Options {
	rl := cfg.RateLimit
	limiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[*cache.Batch](timeOf(rl.BaseDelay), timeOf(rl.MaxDelay)),
		&workqueue.TypedBucketRateLimiter[*cache.Batch]{Limiter: rate.NewLimiter(rate.Limit(rl.QPS), rl.Burst)},
	)
	var journal cache.Journal
	if r.opts.Journal != nil {
		// Only a non-nil journal may go into the interface: a typed nil
		// would look like a journal to the engine.
		journal = r.opts.Journal
	}
	var onEvent func(cache.Event)
	if f := r.opts.OnEvent; f != nil {
		onEvent = func(ev cache.Event) { f(name, ev) }
	}
	return cache.Options{
		Name:                name,
		Sync:                sync,
		CreateBatches:       cache.FixedSizeBatches(cfg.BatchSize),
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
	}
}

func timeOf(d Duration) time.Duration { return time.Duration(d) }
