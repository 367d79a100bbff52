// Package backend opens the service on the storage its options choose — the
// embedded mode in memory, the embedded mode on a bbolt file with its
// journal, or the PostgreSQL mode — together with the watch hub that hears
// its item changes, and closes them in order. cmd/server, the profile tool
// of scripts/bench-http and the tests build the service here and nowhere
// else; besides cmd/ it is the one package that imports both storage modes
// (see internal/autorefresh/imports_test.go).
//
// Everything it uses is passed in: the metrics registry, the logger and the
// clock. Nothing is global, so tests open many backends in one process.
package backend

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/store"
	"github.com/autorefresh/autorefresh/internal/syncers"
	"github.com/autorefresh/autorefresh/internal/watch"
)

// Options says which storage to open and what the service runs with.
type Options struct {
	// The storage: exactly one of InMemory, DataDir and PostgresURL.
	//
	// InMemory keeps everything in memory: a restart forgets it all.
	InMemory bool
	// DataDir is the directory of the bbolt file that keeps caches and
	// items across restarts; a journal orders and groups the writes.
	DataDir string
	// PostgresURL keeps all state in PostgreSQL, shared by any number of
	// replicas (internal/replicated).
	PostgresURL string
	// WrapStore, if set with DataDir, stands between the journal and the
	// bbolt file: tests inject write faults through it. Loading at Open
	// reads the file itself.
	WrapStore func(store.Store) store.Store

	// Registerer receives the metrics of the service, its webhooks and
	// the watch hub. Required.
	Registerer prometheus.Registerer
	// Logger is required.
	Logger *zap.Logger
	// Clock drives the embedded mode's engines, journal and timestamps.
	// Nil is the real clock. The PostgreSQL mode keeps time by the
	// database's clock, so a clock cannot be given with PostgresURL.
	Clock clock.WithTicker

	// Egress decides which webhook addresses may be called. Nil allows
	// public addresses only.
	Egress *egress.Policy
	// HTTPClient, if set, makes every webhook call; nil gives each cache a
	// client of its own built from Egress.
	HTTPClient *http.Client
	// MaxWebhookCalls bounds the webhook calls in flight across every cache
	// (fairly between caches, see syncers.Calls); zero takes
	// syncers.DefaultMaxCalls.
	MaxWebhookCalls int
	// Tracing traces every cache's sync batches and puts the trace context
	// into the webhook calls; the zero value traces nothing.
	Tracing syncers.Tracing
	// DrainTimeout lets webhook calls under way finish for this long once
	// the refresh is stopped. cmd/server gives it the shutdown timeout.
	DrainTimeout time.Duration
	// MaxCaches and MaxItems bound the caches and their items; zero takes
	// autorefresh.DefaultMaxCaches and DefaultMaxItems.
	MaxCaches int
	MaxItems  int64

	// Watch configures the hub. Its Registerer defaults to Registerer. Its
	// caps (MaxStreams, MaxWaiters and their per-client forms) may not be
	// negative; zero takes the hub's defaults. In
	// the PostgreSQL mode FirstSeq is the replica's own (see
	// replicated.Service.FirstEventSeq) and may not be set.
	Watch watch.Options
}

// validate checks the options and fills in the defaults that are the
// backend's own.
func (o *Options) validate() error {
	n := 0
	for _, set := range []bool{o.InMemory, o.DataDir != "", o.PostgresURL != ""} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return errs.Errorf(errs.Invalid, "backend: exactly one of InMemory, DataDir and PostgresURL must be set")
	case o.Registerer == nil || o.Logger == nil:
		return errs.Errorf(errs.Invalid, "backend: Registerer and Logger are required")
	case o.WrapStore != nil && o.DataDir == "":
		return errs.Errorf(errs.Invalid, "backend: WrapStore needs DataDir")
	case o.PostgresURL != "" && o.Clock != nil:
		return errs.Errorf(errs.Invalid, "backend: the PostgreSQL mode keeps the database's time; Clock must be nil")
	case o.MaxWebhookCalls < 0:
		return errs.Errorf(errs.Invalid, "backend: MaxWebhookCalls must not be negative")
	case o.PostgresURL != "" && o.Watch.FirstSeq != 0:
		return errs.Errorf(errs.Invalid, "backend: in the PostgreSQL mode the hub numbers events from the replica's range; Watch.FirstSeq must be 0")
	}
	// The hub takes a zero or negative cap as "the default"; a negative
	// one here is a mistake in the caller, not a wish for the default.
	for _, c := range []struct {
		name string
		v    int
	}{
		{"MaxStreams", o.Watch.MaxStreams},
		{"MaxWaiters", o.Watch.MaxWaiters},
		{"MaxStreamsPerClient", o.Watch.MaxStreamsPerClient},
		{"MaxWaitersPerClient", o.Watch.MaxWaitersPerClient},
	} {
		if c.v < 0 {
			return errs.Errorf(errs.Invalid, "backend: Watch.%s must not be negative (0 takes the default), not %d", c.name, c.v)
		}
	}
	if o.Watch.Registerer == nil {
		o.Watch.Registerer = o.Registerer
	}
	return nil
}

// runner is a storage mode as the backend drives it: the service, and the
// refresh that Start runs until its context ends and Wait waits for.
type runner interface {
	autorefresh.Service
	Start(ctx context.Context) error
	Wait()
}

// Backend is an open service with its hub. Open it, Start its refresh, and
// Close it when done; between Open and Close every call of Service is
// served, whether the refresh runs or not.
type Backend struct {
	svc          runner
	hub          *watch.Hub
	ready        func() error
	closeStorage func() // after the refresh has stopped; see Close

	mu      sync.Mutex // guards the fields below
	stop    context.CancelFunc
	started bool
	closed  bool
}

// Open opens the storage that opts choose, restores what it keeps, and
// builds the service on it with its hub. The refresh does not run until
// Start. ctx bounds the opening only.
func Open(ctx context.Context, opts Options) (*Backend, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.PostgresURL != "" {
		return openPostgres(ctx, opts)
	}
	return openEmbedded(ctx, opts)
}

// Service is the service, for the HTTP layer.
func (b *Backend) Service() autorefresh.Service { return b.svc }

// Hub is the watch hub that hears the service's item changes.
func (b *Backend) Hub() *watch.Hub { return b.hub }

// Ready reports whether the storage takes writes: the journal's last write
// succeeded, or the database answers. It is the server's /readyz check.
func (b *Backend) Ready() error { return b.ready() }

// Start runs the refresh of every cache until ctx ends or Stop is called.
func (b *Backend) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errs.Errorf(errs.Unavailable, "backend: closed")
	}
	if b.started {
		return errs.Errorf(errs.Invalid, "backend: already started")
	}
	ctx, stop := context.WithCancel(ctx)
	if err := b.svc.Start(ctx); err != nil {
		stop()
		return err
	}
	b.started, b.stop = true, stop
	return nil
}

// Stop stops the refresh: no new cycle or sync begins, and webhook calls
// under way have DrainTimeout to finish. Calls of Service are still served,
// so a server stops the refresh when its shutdown begins and lets requests
// under way finish alongside. It returns at once; Close waits.
func (b *Backend) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stop != nil {
		b.stop()
	}
}

// Close shuts down in order: it stops the refresh and waits for it (webhook
// calls included, up to DrainTimeout), then closes the hub, which ends open
// event streams and long-polls, then the storage: the journal writes what
// is still queued before the file is closed, or the database pool is
// closed. A server closes the hub first itself, when its HTTP shutdown
// begins (http.Server.Shutdown would wait for those requests), and calls
// Close once the requests are done. Close may be called more than once.
func (b *Backend) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	started := b.started
	if b.stop != nil {
		b.stop()
	}
	b.mu.Unlock()
	if started {
		b.svc.Wait()
	}
	b.hub.Close()
	b.closeStorage()
}
