package registry

import (
	"context"
	"maps"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"

	"github.com/autorefresh/autorefresh/internal/cache"
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

// Info is a cache as clients see it: its config, with the secret left out and
// header values redacted, and its stats.
type Info struct {
	Name   string
	Config Config // Webhook.Secret is empty; header values are RedactedValue
	// SecretSet says whether the webhook has a secret.
	SecretSet bool
	Stats     cache.Stats
}

// RedactedValue replaces configured header values in everything the
// registry returns.
const RedactedValue = "***"

// info builds the client view. Callers hold m.mu.
func (m *managed) info() Info {
	cfg := m.cfg
	secretSet := cfg.Webhook.Secret != ""
	cfg.Webhook.Secret = ""
	if len(cfg.Webhook.Headers) > 0 {
		redacted := maps.Clone(cfg.Webhook.Headers)
		for k := range redacted {
			redacted[k] = RedactedValue
		}
		cfg.Webhook.Headers = redacted
	}
	rl := *cfg.RateLimit
	cfg.RateLimit = &rl
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
		DrainTimeout:        r.opts.DrainTimeout,
		Journal:             journal,
		Budget:              r.budget,
		Logger:              r.opts.Logger,
		OnEvent:             onEvent,
	}
}

func timeOf(d Duration) time.Duration { return time.Duration(d) }
