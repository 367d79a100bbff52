package syncers

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/webhook"
)

// Options configure a Webhook.
type Options struct {
	// Cache is the name of the cache the webhook syncs; it is sent in every
	// request and labels metrics and logs. Required.
	Cache string
	// Webhook is the upstream's registration; New validates it.
	Webhook WebhookConfig
	// Policy decides which destinations are allowed, both when Webhook.URL
	// is validated and, through the default client, at dial time. Nil allows
	// public addresses only.
	Policy *egress.Policy
	// Client overrides the HTTP client; nil builds one from Policy that
	// belongs to this Webhook alone, so that no connection pool or limit is
	// shared with other caches. A given client is used with redirects
	// disabled (on a copy) and should carry the egress checks itself.
	Client *http.Client
	// Clock supplies the webhook-timestamp, Retry-After holds and the
	// UpdatedAt of updated records; nil means the real clock. Request
	// timeouts always use real time.
	Clock clock.PassiveClock
	// Logger receives one line per failed call; nil logs nothing.
	Logger *zap.Logger
	// Calls, if set, bounds the calls in flight of every webhook sharing it
	// (the server's --max-webhook-calls); nil bounds nothing but the cache's
	// own parallelism.
	Calls *Calls
	// Metrics records calls, durations and ignored entries; nil records
	// nothing.
	Metrics *Metrics
	// Tracing's TracerProvider and Propagator trace the batches; the zero
	// value traces nothing.
	Tracing
	// Schedule is the cache's per-item policy (the caller passes its
	// config's Policy()): it clamps the upstream's nextSyncAfter and
	// decides the backoff after failed attempts and when an item is given
	// up. The zero value clamps every nextSyncAfter to 0 (the engine's
	// resync period) and retries failed items at once, for ever.
	Schedule record.Policy
	// Jitter draws the jitter of each failed item's backoff, in [-1, 1]
	// (see record.Policy.Backoff), so that items failed together do not
	// come back together. Nil draws uniformly with math/rand/v2; tests
	// inject a fixed value. It may be called from several Syncs at once.
	Jitter func() float64
}

// Webhook syncs one cache's batches with its upstream. Its Sync method is a
// cache.SyncFuncOf[*record.Record]; it is safe for concurrent use.
type Webhook struct {
	cache    string
	url      string
	secret   string // Standard Webhooks secret; empty when requests are not signed
	headers  http.Header
	timeout  time.Duration
	maxReply int64

	client    *http.Client
	ownClient bool
	clock     clock.PassiveClock
	log       *zap.Logger
	metrics   *Metrics
	hold      hold
	calls     *Calls
	// tracer is nil when tracing is off; propagator may be nil as well.
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	closeOnce  sync.Once
	schedule   record.Policy
	jitter     func() float64

	// failures and ignored sample the log lines about failed calls and
	// ignored reply entries, per cache (see logSampler).
	failures, ignored logSampler
}

var _ cache.SyncFuncOf[*record.Record] = (*Webhook)(nil).Sync

// New validates the options and returns a Webhook. Errors have code
// errs.Invalid.
func New(o Options) (*Webhook, error) {
	if o.Cache == "" {
		return nil, errs.Errorf(errs.Invalid, "cache name is required")
	}
	if err := o.Webhook.Validate(o.Policy); err != nil {
		return nil, err
	}
	cfg := o.Webhook.withDefaults()
	w := &Webhook{
		cache:    o.Cache,
		calls:    o.Calls,
		url:      cfg.URL,
		headers:  make(http.Header, len(cfg.Headers)),
		timeout:  cfg.Timeout,
		maxReply: cfg.MaxReplyBytes,
		clock:    o.Clock,
		log:      o.Logger,
		metrics:  o.Metrics,
		schedule: o.Schedule,
		jitter:   o.Jitter,

		propagator: o.Propagator,
	}
	if w.jitter == nil {
		w.jitter = uniformJitter
	}
	if o.TracerProvider != nil {
		w.tracer = o.TracerProvider.Tracer(tracerName)
	}
	w.secret = cfg.Secret // Validate has checked it
	for name, value := range cfg.Headers {
		w.headers.Set(name, value)
	}
	if o.Client != nil {
		c := *o.Client
		c.CheckRedirect = egress.NoRedirect
		w.client = &c
	} else {
		w.client, w.ownClient = egress.NewClient(o.Policy), true
	}
	if w.clock == nil {
		w.clock = clock.RealClock{}
	}
	if w.log == nil {
		w.log = zap.NewNop()
	}
	w.metrics.init(w.cache)
	w.calls.join(w.cache) // left by Close
	return w, nil
}

// Close releases the idle connections of the Webhook's own HTTP client. Call
// it when the cache is deleted; a Close while Sync runs is harmless.
func (w *Webhook) Close() {
	w.closeOnce.Do(func() { w.calls.leave(w.cache) })
	if w.ownClient {
		w.client.CloseIdleConnections()
	}
}

// String names the webhook without revealing its URL, secret or headers.
func (w *Webhook) String() string { return "webhook(cache=" + w.cache + ")" }

// GoString makes %#v as safe as %v.
func (w *Webhook) GoString() string { return w.String() }

// Sync sends the batch to the upstream and returns what it says changed; it
// is the cache's SyncFunc, the same for both storage modes, so the whole
// per-item rule lives here (see responses for a reply's, failed for a
// failure's). An empty batch is answered without a request (and no span).
//
// Responses may come together with an error, and the caller must apply
// them: when the batch fails (an *Error: timeout, connect, a 4xx or 5xx,
// redirect, bad reply, too large, internal) every item of the batch gets a
// response with Action Update, the record after old.Fail (one more attempt,
// the error's text as its last error, StateFailed once Schedule.MaxAttempts
// is reached) and NextSyncAfter the backoff (0 when given up). The error
// itself is the batch's failure, counted once under its reason. Only a
// throttled call (ReasonThrottled: no request was made) and a canceled one
// (ReasonCanceled: the cache is stopping) return no responses: nobody
// attempted anything.
//
// A response's NextSyncAfter above 0 is when the item is next due;
// 0 means the cache's resync period. A response whose Err is set (an
// *ItemError, reason "item_error") is an item that the upstream itself
// reported in error.
func (w *Webhook) Sync(ctx context.Context, batch cache.BatchOf[*record.Record]) ([]cache.ItemSyncResponseOf[*record.Record], error) {
	if len(batch) == 0 {
		return nil, nil
	}
	return w.tracedSync(ctx, batch)
}

// sync is Sync of a batch that is not empty.
func (w *Webhook) sync(ctx context.Context, batch cache.BatchOf[*record.Record]) ([]cache.ItemSyncResponseOf[*record.Record], error) {
	if until, held := w.hold.active(w.clock.Now()); held {
		w.metrics.outcome(w.cache, ReasonThrottled)
		// Debug only: the call that started the hold logged it, and a held
		// upstream is asked about at every resync.
		w.log.Debug("webhook sync throttled", zap.String("cache", w.cache), zap.Time("held_until", until))
		return nil, &Error{Reason: ReasonThrottled, HeldUntil: until,
			msg: "upstream asked not to be called (Retry-After) until " + until.UTC().Format(time.RFC3339)}
	}
	body, s, err := encodeRequest(w.cache, batch)
	if err != nil {
		return w.failBatch(&Error{Reason: ReasonInternal, msg: err.Error(), cause: err}, s, 0)
	}

	release, err := w.calls.Acquire(ctx, w.cache)
	if err != nil {
		// Only the cache stopping ends the wait for a slot.
		return w.failBatch(&Error{Reason: ReasonCanceled, msg: "sync canceled by the cache while waiting for a free webhook call", cause: err}, s, 0)
	}
	start := time.Now() // real time: this is a measurement, not a decision
	reply, status, xerr := w.exchange(ctx, body)
	release()
	elapsed := time.Since(start)
	w.metrics.observe(w.cache, elapsed.Seconds())
	if xerr != nil {
		return w.failBatch(xerr, s, elapsed)
	}
	if status == http.StatusNoContent { // nothing changed
		w.metrics.outcome(w.cache, OutcomeOK)
		return w.responses(parsedReply{}, s, w.clock.Now()), nil
	}
	parsed, err := parseReply(reply, func(id string) bool { _, ok := s.byID[id]; return ok }, w.schedule)
	if err != nil {
		return w.failBatch(&Error{Reason: ReasonBadReply, Status: status, msg: err.Error(), cause: err}, s, elapsed)
	}
	if len(parsed.ignored) > 0 {
		w.metrics.ignore(w.cache, parsed.ignored)
		if ok, suppressed := w.ignored.admit(w.clock.Now(), failureLogEvery); ok {
			fields := []zap.Field{zap.String("cache", w.cache), zap.Int("suppressed", suppressed)}
			for _, r := range IgnoredReasons {
				if n := parsed.ignored[r]; n > 0 {
					fields = append(fields, zap.Int(r, n))
				}
			}
			w.log.Warn("webhook reply entries ignored", fields...)
		}
	}
	w.metrics.outcome(w.cache, OutcomeOK)
	return w.responses(parsed, s, w.clock.Now()), nil
}

// failBatch counts and logs a failed batch (fail) and returns it with the
// responses that charge it to the batch's items (failed).
func (w *Webhook) failBatch(e *Error, s sent, elapsed time.Duration) ([]cache.ItemSyncResponseOf[*record.Record], error) {
	err := w.fail(e, len(s.ids), elapsed)
	return w.failed(e, s, w.clock.Now()), err
}

// uniformJitter is the default Options.Jitter.
func uniformJitter() float64 { return rand.Float64()*2 - 1 }

// fail counts a failed call, logs it (at most one line per cache every
// failureLogEvery, saying how many were left out) and returns its error.
func (w *Webhook) fail(e *Error, items int, elapsed time.Duration) *Error {
	w.metrics.outcome(w.cache, e.Reason)
	if e.Reason == ReasonCanceled {
		// The cache is stopping; not the upstream's fault.
		w.log.Debug("webhook sync failed", zap.String("cache", w.cache), zap.String("reason", e.Reason), zap.Int("items", items))
		return e
	}
	ok, suppressed := w.failures.admit(w.clock.Now(), failureLogEvery)
	if !ok {
		return e
	}
	fields := []zap.Field{
		zap.String("cache", w.cache),
		zap.String("reason", e.Reason),
		zap.Int("status", e.Status),
		zap.Duration("duration", elapsed),
		zap.Int("items", items),
		zap.String("error", e.msg),
		zap.Int("suppressed", suppressed),
	}
	if !e.HeldUntil.IsZero() {
		fields = append(fields, zap.Time("held_until", e.HeldUntil))
	}
	w.log.Warn("webhook sync failed", fields...)
	return e
}

// newRequest builds the signed POST for body.
func (w *Webhook) newRequest(ctx context.Context, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for name, values := range w.headers {
		req.Header[name] = slices.Clone(values)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "autorefresh-webhook/1")
	if w.secret != "" {
		id, now := webhook.NewMessageID(), w.clock.Now()
		sig, err := webhook.Sign(w.secret, id, now, body)
		if err != nil {
			return nil, err
		}
		req.Header.Set(webhook.HeaderID, id)
		req.Header.Set(webhook.HeaderTimestamp, itoa(now.Unix()))
		req.Header.Set(webhook.HeaderSignature, sig)
		if w.tracer != nil {
			trace.SpanFromContext(ctx).SetAttributes(AttrWebhookID.String(id))
		}
	}
	if w.propagator != nil {
		// After the configured headers: a configured traceparent would
		// name a trace that is not this call's.
		w.propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	return req, nil
}
