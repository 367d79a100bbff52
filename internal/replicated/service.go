// Package replicated is the PostgreSQL implementation of the service that the
// HTTP layer calls (autorefresh.Service): every cache, item and counter lives in
// one PostgreSQL database, and any number of stateless replicas share it.
//
// Every replica serves every route. The refresh work is shared, not repeated:
// each replica runs, per cache, a loop that claims due items in batches with
// FOR UPDATE SKIP LOCKED. A claim gives the items a lease (lease_owner,
// lease_until) and a new epoch, taken from a sequence so that no claim of
// any row ever had it before; the write-back of a sync applies only where
// the epoch is still the claimed one, so a replica whose lease has lapsed,
// or whose item was deleted and created again, cannot overwrite newer state:
// its write is rejected and counted in autorefresh_stale_writes_total{cache}.
//
// Changes reach the other replicas through LISTEN/NOTIFY (triggers on the
// tables notify on commit), with a periodic reconcile as a safety net; item
// events for watchers come the same way, so a watcher on one replica sees
// the changes made by all of them.
//
// Per-item control (issue 15) keeps the same fence: the write-back writes
// the records the webhook syncer returns as they are (a reply's update, a
// failed attempt, a recovery), and a PATCH, a retry or an expiry takes a
// new epoch, so that the answer of a sync under way cannot undo it. An
// item's next_sync_at is never after its deadline (expires_at), so the
// claim finds an item due by then and expires it (record.Expire) instead
// of sending it. A paused cache (caches.paused) is not claimed by any
// replica, so nothing of it is synced, failed or expired.
//
// The schema is a set of versioned migrations embedded in the binary and
// applied at start under an advisory lock.
package replicated

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"math"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/syncers"
)

// Defaults of Options.
const (
	DefaultReconcileInterval = 3 * time.Second
	DefaultStatsInterval     = time.Second
	DefaultMaxConns          = 16
	DefaultOpTimeout         = 10 * time.Second
	DefaultConnectTimeout    = 5 * time.Second
)

// Options configures a Service.
type Options struct {
	// URL is the PostgreSQL connection URL (or key=value DSN). Required.
	URL string
	// Registerer receives the service's and the webhooks' metrics. Required.
	Registerer prometheus.Registerer
	// Logger is required.
	Logger *zap.Logger
	// Egress decides which webhook addresses may be called. Nil allows
	// public addresses only.
	Egress *egress.Policy
	// HTTPClient, if set, makes every cache's webhook calls; nil gives each
	// cache a client of its own built from Egress.
	HTTPClient *http.Client
	// Calls, if set, bounds the webhook calls in flight of every cache of
	// this replica together (syncers.Calls).
	Calls *syncers.Calls
	// Tracing traces every cache's sync batches; the zero value does not.
	Tracing syncers.Tracing
	// MaxCaches bounds the number of caches (exactly: registrations are
	// serialized). Default autorefresh.DefaultMaxCaches.
	MaxCaches int
	// MaxItems bounds the items of all caches together, approximately: see
	// itemCounter. Default autorefresh.DefaultMaxItems.
	MaxItems int64
	// OnEvent, if set, sees every item change of every cache made by any
	// replica, delivered through LISTEN/NOTIFY. It runs on one goroutine
	// and must not block.
	OnEvent func(cacheName string, ev autorefresh.Event)
	// OnCacheDeleted, if set, is told when a cache is gone (deleted by any
	// replica, or deleted and registered again).
	OnCacheDeleted func(cacheName string)
	// OnLost, if set, is told when item events may have been lost: the
	// LISTEN connection was down for a while (it is called once it is back),
	// or changed items could not be read back. It is called on OnEvent's
	// goroutine, in order with it.
	OnLost func()
	// ReplicaID names this replica in lease_owner. Default: host name, pid
	// and a random suffix.
	ReplicaID string
	// ReconcileInterval is how often the replica re-reads every cache's
	// registration, in case a notification was missed. Default 3s.
	ReconcileInterval time.Duration
	// StatsInterval is how often the replica adds its counters to the
	// shared ones. Default 1s.
	StatsInterval time.Duration
	// MaxConns sizes the connection pool (plus one connection for LISTEN).
	// Default 16.
	MaxConns int32
	// OpTimeout bounds each API call's database work. Default 10s.
	OpTimeout time.Duration
	// DrainTimeout lets webhook calls under way finish for this long when
	// the service stops; then they are cancelled and their leases released.
	DrainTimeout time.Duration
}

// Service is the PostgreSQL-backed service. Create it with New, run it with
// Start, stop it by cancelling Start's context, then Wait and Close.
type Service struct {
	opts      Options
	pool      *pgxpool.Pool
	log       *zap.Logger
	metrics   *metrics
	whMetrics *syncers.Metrics
	gauges    *gauges
	owner     string

	firstEventSeq uint64 // see FirstEventSeq

	items   itemCounter
	configs configs // the caches' registrations, for creates
	creates createGroups
	touches touches
	stats   sync.Map // cache name → *deltas, this replica's unflushed counters

	started   atomic.Bool
	wg        sync.WaitGroup
	kick      chan struct{} // asks the reconcile loop to run now
	notes     chan note     // item notifications waiting to become events
	mu        sync.Mutex    // guards workers
	workers   map[string]*worker
	closeOnce sync.Once
}

// New connects to PostgreSQL, applies the schema's migrations and returns a
// service that serves API calls at once; Start begins the refresh.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.URL == "" || opts.Registerer == nil || opts.Logger == nil {
		return nil, errs.Errorf(errs.Invalid, "replicated: URL, Registerer and Logger are required")
	}
	if opts.MaxCaches <= 0 {
		opts.MaxCaches = autorefresh.DefaultMaxCaches
	}
	if opts.MaxItems <= 0 {
		opts.MaxItems = autorefresh.DefaultMaxItems
	}
	if opts.ReconcileInterval <= 0 {
		opts.ReconcileInterval = DefaultReconcileInterval
	}
	if opts.StatsInterval <= 0 {
		opts.StatsInterval = DefaultStatsInterval
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = DefaultOpTimeout
	}
	if opts.ReplicaID == "" {
		opts.ReplicaID = defaultReplicaID()
	}
	cfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "replicated: the PostgreSQL URL does not parse")
	}
	cfg.MaxConns = opts.MaxConns
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "autorefresh " + opts.ReplicaID
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, dbErr(err)
	}
	ms, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		pool.Close()
		return nil, err
	}
	applied, err := migrate(ctx, pool, ms)
	if err != nil {
		pool.Close()
		return nil, dbErr(err)
	}
	if len(applied) > 0 {
		opts.Logger.Info("database schema migrated", zap.Int64s("versions", applied))
	}
	var incarnation int64
	if err := pool.QueryRow(ctx, "SELECT nextval('replica_incarnations')").Scan(&incarnation); err != nil {
		pool.Close()
		return nil, dbErr(err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		pool.Close()
		return nil, err
	}
	wm, err := syncers.NewMetrics(opts.Registerer)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s := &Service{
		opts: opts, pool: pool, log: opts.Logger.With(zap.String("replica", opts.ReplicaID)),
		metrics: m, whMetrics: wm, owner: opts.ReplicaID,
		kick: make(chan struct{}, 1), notes: make(chan note, 4096), workers: make(map[string]*worker),
	}
	s.gauges = newGauges(s)
	if err := opts.Registerer.Register(s.gauges); err != nil {
		pool.Close()
		return nil, errs.Wrap(errs.Internal, err, "replicated: register metrics")
	}
	s.items.max = opts.MaxItems
	s.firstEventSeq = uint64(incarnation) << eventSeqBits
	return s, nil
}

// eventSeqBits is how many low bits of a watch event id count the events of
// one incarnation of a replica; the bits above are the incarnation.
const eventSeqBits = 44

// FirstEventSeq is what the watch hub fed by OnEvent must number its events
// from (watch.Options.FirstSeq). Every replica numbers the events it serves
// on its own; this start of this replica has a range of ids of its own
// (migration 0003), so that a Last-Event-ID from another replica, or from an
// earlier run, is never mistaken for a position in this one's stream: the
// hub finds it below its replay buffer or beyond its last event, and tells
// the client it lagged.
func (s *Service) FirstEventSeq() uint64 { return s.firstEventSeq }

// ReplicaID is the name this replica leases items under.
func (s *Service) ReplicaID() string { return s.owner }

// Start runs the refresh loops, the LISTEN loop, the reconcile loop and the
// counter flusher until ctx is cancelled; Wait then returns once all of
// them have stopped. None of them gives up on database errors: they retry
// with backoff.
func (s *Service) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return cache.ErrAlreadyStarted
	}
	// LISTEN before returning, if the database lets us within a few
	// seconds: a change committed after Start returns then reaches
	// OnEvent, so a watcher of a replica that has just started misses
	// nothing. If not, the loop keeps trying.
	lctx, cancel := context.WithTimeout(ctx, DefaultConnectTimeout)
	first, err := s.dialListen(lctx)
	cancel()
	if err != nil {
		s.log.Warn("LISTEN connection not made at start; retrying", zapErr(err))
	}
	s.goRun(func() { s.reconcileLoop(ctx) })
	s.goRun(func() { s.listenLoop(ctx, first) })
	s.goRun(func() { s.statsLoop(ctx) })
	if s.opts.OnEvent != nil {
		s.goRun(func() { s.eventLoop(ctx) })
	}
	return nil
}

func (s *Service) goRun(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Wait blocks until every goroutine started by Start has stopped, after
// its ctx was cancelled.
func (s *Service) Wait() { s.wg.Wait() }

// Close closes the connection pool. Call it after Wait.
func (s *Service) Close() {
	s.closeOnce.Do(func() { s.pool.Close() })
}

// Ready reports whether the database answers within a second; it is the
// server's /readyz check.
func (s *Service) Ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return errs.Wrap(errs.Unavailable, err, "the database does not answer")
	}
	return nil
}

// op bounds one API call's database work.
func (s *Service) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.OpTimeout)
}

// kickReconcile asks the reconcile loop to run now.
func (s *Service) kickReconcile() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func defaultReplicaID() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "replica"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b)
}

// sleepCtx waits d or until ctx ends; it reports whether ctx is still alive.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff is the delay between retries of a failed database call: 100ms,
// doubling up to 5s, each with up to 20% added at random so that replicas
// that lost the database at the same moment do not all retry in step. The
// zero value starts from 100ms; reset starts again from there.
type backoff struct{ steps *wait.Backoff }

func (b *backoff) next() time.Duration {
	if b.steps == nil {
		b.steps = &wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.2, Cap: 5 * time.Second, Steps: math.MaxInt32}
	}
	return b.steps.Step()
}

func (b *backoff) reset() { b.steps = nil }

// wait logs a failed attempt, with the delay before the next one, and sleeps
// that delay. It reports false if ctx ended first.
func (b *backoff) wait(ctx context.Context, log *zap.Logger, msg string, fields ...zap.Field) bool {
	d := b.next()
	log.Warn(msg, append([]zap.Field{zap.Duration("backoff", d)}, fields...)...)
	return sleepCtx(ctx, d)
}

// The HTTP layer calls the service through this interface.
var _ autorefresh.Service = (*Service)(nil)
