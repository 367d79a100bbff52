package backend

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/registry"
	"github.com/autorefresh/autorefresh/internal/replicated"
	"github.com/autorefresh/autorefresh/internal/store"
	"github.com/autorefresh/autorefresh/internal/syncers"
	"github.com/autorefresh/autorefresh/internal/watch"
)

// openPostgres opens the PostgreSQL mode, then its hub: the hub numbers
// events in this replica's own range, known once the service is open
// (replicated.Service.FirstEventSeq), so that a Last-Event-ID from another
// replica is told it lagged. Events reach the hub only once the refresh
// starts, after the hub is made.
func openPostgres(ctx context.Context, opts Options) (*Backend, error) {
	var hub *watch.Hub
	pg, err := replicated.New(ctx, replicated.Options{
		URL: opts.PostgresURL, Registerer: opts.Registerer, Logger: opts.Logger,
		Egress: opts.Egress, HTTPClient: opts.HTTPClient, DrainTimeout: opts.DrainTimeout,
		Calls: syncers.NewCalls(opts.MaxWebhookCalls), Tracing: opts.Tracing,
		MaxCaches: opts.MaxCaches, MaxItems: opts.MaxItems,
		OnEvent:        func(c string, ev autorefresh.Event) { hub.OnEvent(c, ev) },
		OnCacheDeleted: func(c string) { hub.CacheDeleted(c) },
		OnLost:         func() { hub.Lost() },
	})
	if err != nil {
		return nil, err
	}
	wo := opts.Watch
	wo.FirstSeq = pg.FirstEventSeq()
	if hub, err = watch.New(wo); err != nil {
		pg.Close()
		return nil, err
	}
	opts.Logger.Info("state is in PostgreSQL", zap.String("replica", pg.ReplicaID()))
	return &Backend{svc: pg, hub: hub, ready: pg.Ready, closeStorage: pg.Close}, nil
}

// openEmbedded opens the embedded mode: the hub first (the registry tells it
// every change), then, unless in memory, the bbolt file and its journal,
// then the registry with what the file keeps restored into it.
func openEmbedded(ctx context.Context, opts Options) (*Backend, error) {
	hub, err := watch.New(opts.Watch)
	if err != nil {
		return nil, err
	}
	ro := registry.Options{
		Registerer: opts.Registerer, Logger: opts.Logger, Clock: opts.Clock,
		Egress: opts.Egress, HTTPClient: opts.HTTPClient, DrainTimeout: opts.DrainTimeout,
		Calls: syncers.NewCalls(opts.MaxWebhookCalls), Tracing: opts.Tracing,
		MaxCaches: opts.MaxCaches, MaxItems: opts.MaxItems,
		OnEvent: hub.OnEvent, OnCacheDeleted: hub.CacheDeleted,
	}
	if opts.InMemory {
		r, err := registry.New(ro)
		if err != nil {
			hub.Close()
			return nil, err
		}
		return &Backend{svc: r, hub: hub, ready: func() error { return nil }, closeStorage: func() {}}, nil
	}

	db, err := store.OpenBolt(opts.DataDir)
	if err != nil {
		hub.Close()
		return nil, err
	}
	var jopts []store.JournalOption
	if opts.Clock != nil {
		jopts = append(jopts, store.WithClock(opts.Clock))
	}
	var journaled store.Store = db
	if opts.WrapStore != nil {
		journaled = opts.WrapStore(db)
	}
	journal := store.NewJournal(journaled, opts.Logger, jopts...)
	// The journal runs until the storage is closed, after the refresh has
	// stopped, so that it writes every change the caches made.
	journalCtx, stopJournal := context.WithCancel(context.WithoutCancel(ctx))
	go journal.Run(journalCtx)
	closeStorage := func() {
		stopJournal()
		<-journal.Done()
		if err := db.Close(); err != nil {
			opts.Logger.Warn("data file not closed cleanly", zap.String("file", db.Path()), zap.Error(err))
		}
	}
	ro.Journal = journal
	r, err := registry.New(ro)
	if err == nil {
		err = restore(ctx, db, r, opts.Logger)
	}
	if err != nil {
		closeStorage()
		hub.Close()
		return nil, err
	}
	return &Backend{svc: r, hub: hub, ready: journal.Err, closeStorage: closeStorage}, nil
}

// restore loads the caches and items kept in the data file into r.
func restore(ctx context.Context, db *store.Bolt, r *registry.Registry, log *zap.Logger) error {
	states, err := db.Load(ctx)
	if err != nil {
		return err
	}
	if err := r.Restore(states); err != nil {
		return fmt.Errorf("data file %s: %w", db.Path(), err)
	}
	items := 0
	for _, st := range states {
		items += len(st.Items)
	}
	log.Info("restored", zap.String("file", db.Path()), zap.Int("caches", len(states)), zap.Int("items", items))
	return nil
}
