package autorefresh

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/internal/syncers"
)

// Defaults of a cache Config, as documented in api/openapi.yaml.
const (
	DefaultParallelism = 10
	DefaultSize        = 100_000
	DefaultBatchSize   = 100
	// DefaultQPS and DefaultBurst are ten times client-go's default bucket
	// (10 qps, 100 burst): the bucket paces webhook calls, that is batches,
	// and 10 calls/s would cap a cache at 1,000 items/s at batch size 100.
	DefaultQPS       = 100
	DefaultBurst     = 1000
	DefaultBaseDelay = 5 * time.Millisecond
	DefaultMaxDelay  = 1000 * time.Second
	DefaultTimeout   = 10 * time.Second
)

// Limits of a cache Config. They keep one cache from taking the whole server.
const (
	MinResyncPeriod = 10 * time.Millisecond
	MaxResyncPeriod = 7 * 24 * time.Hour
	MaxParallelism  = 1000
	MaxSize         = 10_000_000
	MaxBatchSize    = 10_000
	MaxQPS          = 1_000_000
	MaxBurst        = 1_000_000
	// MaxAttempts bounds retry.maxAttempts; MaxTTL bounds itemTTL and a
	// create's ttl.
	MaxAttempts = 1_000_000
	MaxTTL      = 366 * 24 * time.Hour
)

// nameRE is the rule for cache names: usable in URLs, metric labels and file
// names without escaping.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// ValidName reports whether name is a valid cache name.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Duration is a time.Duration written as a Go duration string ("30s") in
// JSON and YAML.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"30s\"")
	}
	return d.parse(s)
}

// UnmarshalText reads a Go duration string; YAML decoding uses it.
func (d *Duration) UnmarshalText(b []byte) error { return d.parse(string(b)) }

// MarshalText writes the duration as a string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) parse(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"30s\"", s)
	}
	*d = Duration(v)
	return nil
}

// Webhook is the upstream a cache syncs through.
type Webhook struct {
	URL     string            `json:"url" yaml:"url"`
	Secret  string            `json:"secret,omitempty" yaml:"secret,omitempty"`
	Timeout Duration          `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	Headers map[string]string `json:"headers,omitempty" yaml:"headers,omitempty"`
}

// RateLimit configures the cache's work-queue limiter: a token bucket over
// webhook calls max'd with a per-batch exponential backoff.
type RateLimit struct {
	QPS       float64  `json:"qps" yaml:"qps"`
	Burst     int      `json:"burst" yaml:"burst"`
	BaseDelay Duration `json:"baseDelay" yaml:"baseDelay"`
	MaxDelay  Duration `json:"maxDelay" yaml:"maxDelay"`
}

// Retry configures per-item failure handling: after n consecutive failed
// attempts an item waits min(MaxBackoff, resyncPeriod × 2^(n-1)) ± 20%,
// and the MaxAttempts-th failure in a row (0: never) gives it up.
type Retry struct {
	MaxAttempts int      `json:"maxAttempts" yaml:"maxAttempts"`
	MaxBackoff  Duration `json:"maxBackoff,omitempty" yaml:"maxBackoff,omitempty"`
}

// Config is a cache's registration: the body of PUT /v1/caches/{cache} and
// one entry of the --config file. Only Webhook.URL and ResyncPeriod are
// required; WithDefaults fills in the rest.
type Config struct {
	Webhook      Webhook    `json:"webhook" yaml:"webhook"`
	ResyncPeriod Duration   `json:"resyncPeriod" yaml:"resyncPeriod"`
	Parallelism  int        `json:"parallelism,omitempty" yaml:"parallelism,omitempty"`
	Size         int        `json:"size,omitempty" yaml:"size,omitempty"`
	BatchSize    int        `json:"batchSize,omitempty" yaml:"batchSize,omitempty"`
	SyncOnCreate *bool      `json:"syncOnCreate,omitempty" yaml:"syncOnCreate,omitempty"`
	RateLimit    *RateLimit `json:"rateLimit,omitempty" yaml:"rateLimit,omitempty"`
	Retry        *Retry     `json:"retry,omitempty" yaml:"retry,omitempty"`
	// ItemTTL is the deadline of items created without a ttl of their
	// own (0: none).
	ItemTTL Duration `json:"itemTTL,omitempty" yaml:"itemTTL,omitempty"`
}

// Policy is the per-item schedule of a config that has its defaults.
func (c Config) Policy() record.Policy {
	p := record.Policy{ResyncPeriod: time.Duration(c.ResyncPeriod)}
	if c.Retry != nil {
		p.MaxAttempts, p.MaxBackoff = c.Retry.MaxAttempts, time.Duration(c.Retry.MaxBackoff)
	}
	return p
}

// WithDefaults returns c with every unset optional field at its default.
func (c Config) WithDefaults() Config {
	if c.Parallelism == 0 {
		c.Parallelism = DefaultParallelism
	}
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.SyncOnCreate == nil {
		on := true
		c.SyncOnCreate = &on
	}
	if c.Webhook.Timeout == 0 {
		c.Webhook.Timeout = Duration(DefaultTimeout)
	}
	rl := RateLimit{QPS: DefaultQPS, Burst: DefaultBurst, BaseDelay: Duration(DefaultBaseDelay), MaxDelay: Duration(DefaultMaxDelay)}
	if c.RateLimit != nil {
		given := *c.RateLimit
		if given.QPS != 0 {
			rl.QPS = given.QPS
		}
		if given.Burst != 0 {
			rl.Burst = given.Burst
		}
		if given.BaseDelay != 0 {
			rl.BaseDelay = given.BaseDelay
		}
		if given.MaxDelay != 0 {
			rl.MaxDelay = given.MaxDelay
		}
	}
	c.RateLimit = &rl
	retry := Retry{MaxBackoff: 10 * c.ResyncPeriod}
	if c.Retry != nil {
		retry.MaxAttempts = c.Retry.MaxAttempts
		if c.Retry.MaxBackoff != 0 {
			retry.MaxBackoff = c.Retry.MaxBackoff
		}
	}
	c.Retry = &retry
	return c
}

// Validate checks a registration as every mode's Put does, without
// registering it: the name, the config with its defaults applied (which it
// returns), and the webhook against the egress policy p. Both modes call
// it so that they accept the same configs.
func Validate(name string, cfg Config, p *egress.Policy) (Config, error) {
	if !ValidName(name) {
		return Config{}, errs.Errorf(errs.Invalid, "cache: name must match %s", nameRE)
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Check(); err != nil {
		return Config{}, err
	}
	if err := cfg.WebhookConfig().Validate(p); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Check checks the limits of a config that has its defaults, as Validate
// does; a stored config is checked with it when it is loaded again. The
// webhook itself is checked by the syncer against the egress policy.
// Errors name the field.
func (c Config) Check() error {
	bad := func(field, format string, args ...any) error {
		return errs.Errorf(errs.Invalid, field+": "+format, args...)
	}
	switch rp := time.Duration(c.ResyncPeriod); {
	case rp == 0:
		return bad("resyncPeriod", "is required")
	case rp < MinResyncPeriod || rp > MaxResyncPeriod:
		return bad("resyncPeriod", "must be between %s and %s", MinResyncPeriod, MaxResyncPeriod)
	}
	if c.Parallelism < 1 || c.Parallelism > MaxParallelism {
		return bad("parallelism", "must be between 1 and %d", MaxParallelism)
	}
	if c.Size < 1 || c.Size > MaxSize {
		return bad("size", "must be between 1 and %d", MaxSize)
	}
	if c.BatchSize < 1 || c.BatchSize > MaxBatchSize {
		return bad("batchSize", "must be between 1 and %d", MaxBatchSize)
	}
	rl := c.RateLimit
	if rl.QPS <= 0 || rl.QPS > MaxQPS {
		return bad("rateLimit.qps", "must be above 0 and at most %d", MaxQPS)
	}
	if rl.Burst < 1 || rl.Burst > MaxBurst {
		return bad("rateLimit.burst", "must be between 1 and %d", MaxBurst)
	}
	if rl.BaseDelay < 0 || rl.MaxDelay < rl.BaseDelay {
		return bad("rateLimit", "need 0 <= baseDelay <= maxDelay")
	}
	if r := c.Retry; r != nil {
		if r.MaxAttempts < 0 || r.MaxAttempts > MaxAttempts {
			return bad("retry.maxAttempts", "must be between 0 (unlimited) and %d", MaxAttempts)
		}
		if r.MaxBackoff < 0 || time.Duration(r.MaxBackoff) > MaxTTL {
			return bad("retry.maxBackoff", "must be between 0 and %s", MaxTTL)
		}
	}
	if c.ItemTTL < 0 || time.Duration(c.ItemTTL) > MaxTTL {
		return bad("itemTTL", "must be between 0 (none) and %s", MaxTTL)
	}
	return nil
}

// WebhookConfig maps a registration to the syncer's config; both modes build
// their syncers from it.
func (c Config) WebhookConfig() syncers.WebhookConfig {
	return syncers.WebhookConfig{
		URL: c.Webhook.URL, Secret: c.Webhook.Secret, Headers: c.Webhook.Headers,
		Timeout: time.Duration(c.Webhook.Timeout),
	}
}

// RedactedValue replaces configured header values and the webhook URL's
// query values in everything the service returns.
const RedactedValue = syncers.RedactedValue

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
	if cfg.Retry != nil {
		r := *cfg.Retry
		cfg.Retry = &r
	}
	return cfg, secretSet
}

// maxFileBytes bounds a --config file; a cache registration is small.
const maxFileBytes = 4 << 20

// File is the --config file: caches to register at start, with the same
// fields as the body of PUT /v1/caches/{cache}.
//
//	caches:
//	  jobs:
//	    webhook: {url: "http://127.0.0.1:9000/sync"}
//	    resyncPeriod: 30s
type File struct {
	Caches map[string]Config `yaml:"caches"`
}

// LoadFile reads and strictly decodes a config file: unknown fields are
// errors, so a typo cannot silently fall back to a default.
func LoadFile(path string) (File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return File{}, err
	}
	return ParseFile(b)
}

// ParseFile decodes the text of a config file.
func ParseFile(b []byte) (File, error) {
	if len(b) > maxFileBytes {
		return File{}, fmt.Errorf("larger than %d bytes", maxFileBytes)
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return File{}, err
	}
	return f, nil
}

// PutAll registers every cache of f with svc, in name order, and stops at
// the first error, naming the cache. It is written over the Service so that
// every mode loads a --config file alike.
func PutAll(ctx context.Context, svc Service, f File) error {
	for _, name := range slices.Sorted(maps.Keys(f.Caches)) {
		if _, err := svc.Put(ctx, name, f.Caches[name]); err != nil {
			if errs.CodeOf(err) == errs.Internal {
				return fmt.Errorf("cache %q: %w", name, err)
			}
			return fmt.Errorf("cache %q: %s", name, errs.MessageOf(err))
		}
	}
	return nil
}
