package main

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/registry"
	"github.com/autorefresh/autorefresh/internal/replicated"
	"github.com/autorefresh/autorefresh/internal/store"
	"github.com/autorefresh/autorefresh/internal/watch"
)

// service is what the handlers call (the embedded registry, or with
// --postgres the PostgreSQL service that many replicas share), plus what run
// needs to start and stop it.
type service interface {
	autorefresh.Service
	Start(ctx context.Context) error
	Wait()
}

// openService opens the storage the flags ask for and builds the service on
// it, with everything stored restored, and the watch hub that hears its item
// changes. It returns the readiness check and the function that closes the
// storage, which run calls after the service has stopped: the journal writes
// what is still queued, then the file is closed.
func openService(ctx context.Context, cfg config, log *zap.Logger, reg prometheus.Registerer) (service, *watch.Hub, func() error, func(), error) {
	policy := &egress.Policy{AllowPrivate: cfg.allowPrivateWebhooks, Allow: cfg.allowWebhookCIDRs}
	if cfg.postgresURL != "" {
		// The hub numbers events in this replica's own range, known once the
		// service is open (replicated.Service.FirstEventSeq), so that a
		// Last-Event-ID from another replica is told it lagged. Events reach
		// it only once the service starts, after the hub is made.
		var hub *watch.Hub
		pg, err := replicated.New(ctx, replicated.Options{URL: cfg.postgresURL, Registerer: reg, Logger: log,
			Egress: policy, DrainTimeout: cfg.shutdownTimeout, MaxCaches: cfg.maxCaches, MaxItems: cfg.maxItems,
			OnEvent:        func(c string, ev cache.Event) { hub.OnEvent(c, ev) },
			OnCacheDeleted: func(c string) { hub.CacheDeleted(c) }})
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("--postgres: %w", err)
		}
		if hub, err = watch.New(watch.Options{Registerer: reg, FirstSeq: pg.FirstEventSeq()}); err != nil {
			pg.Close()
			return nil, nil, nil, nil, err
		}
		log.Info("state is in PostgreSQL", zap.String("replica", pg.ReplicaID()))
		return pg, hub, pg.Ready, pg.Close, nil
	}

	hub, err := watch.New(watch.Options{Registerer: reg})
	if err != nil {
		return nil, nil, nil, nil, err
	}

	opts := registry.Options{Registerer: reg, Logger: log, Egress: policy, DrainTimeout: cfg.shutdownTimeout,
		MaxCaches: cfg.maxCaches, MaxItems: cfg.maxItems, OnEvent: hub.OnEvent, OnCacheDeleted: hub.CacheDeleted}
	if cfg.inMemory {
		r, err := registry.New(opts)
		return r, hub, func() error { return nil }, func() {}, err
	}

	db, err := store.OpenBolt(cfg.dataDir)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	journal := store.NewJournal(db, log)
	journalCtx, stopJournal := context.WithCancel(context.WithoutCancel(ctx))
	go journal.Run(journalCtx)
	closeStorage := func() {
		stopJournal()
		<-journal.Done()
		db.Close()
	}
	opts.Journal = journal
	r, err := registry.New(opts)
	if err == nil {
		err = restore(ctx, db, r, log)
	}
	if err != nil {
		closeStorage()
		return nil, nil, nil, nil, err
	}
	return r, hub, journal.Err, closeStorage, nil
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
