package replicated

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
)

// cachesLockKey serializes registrations (pg_advisory_xact_lock), so that
// the cache limit is exact across replicas.
const cachesLockKey int64 = 0x6175746f63616368 // "autocach"

// Put registers a cache or replaces its config, keeping its items. It
// reports whether the cache is new. Every replica starts (or restarts)
// refreshing it when the notification arrives, or at the next reconcile.
func (s *Service) Put(ctx context.Context, name string, cfg autorefresh.Config) (created bool, err error) {
	// The domain's checks, so that both modes accept the same configs.
	cfg, err = autorefresh.Validate(name, cfg, s.opts.Egress)
	if err != nil {
		return false, err
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return false, errs.Wrap(errs.Internal, err, "cache: config does not encode")
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	err = retryTx(ctx, func() error { return s.put(ctx, name, cfg, b, &created) })
	s.configs.drop(name) // read again by the next create
	if err != nil {
		return false, dbErr(err)
	}
	s.kickReconcile()
	return created, nil
}

// put is Put's transaction.
func (s *Service) put(ctx context.Context, name string, cfg autorefresh.Config, b []byte, created *bool) error {
	resync := time.Duration(cfg.ResyncPeriod)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", cachesLockKey); err != nil {
			return err
		}
		var old *time.Duration
		err := tx.QueryRow(ctx, `WITH old AS (SELECT resync_period FROM caches WHERE name = $1 FOR UPDATE)
			UPDATE caches c SET config = $2, resync_period = $3, sync_on_create = $4,
				generation = generation + 1, updated_at = now()
			FROM old WHERE c.name = $1 RETURNING old.resync_period`, name, b, resync, *cfg.SyncOnCreate).Scan(&old)
		if err == nil {
			return reschedule(ctx, tx, name, *old, resync)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM caches").Scan(&n); err != nil {
			return err
		}
		if n >= s.opts.MaxCaches {
			return errs.Errorf(errs.Capacity, "cache: at most %d caches may be registered", s.opts.MaxCaches)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO caches (name, config, resync_period, sync_on_create)
			VALUES ($1, $2, $3, $4)`, name, b, resync, *cfg.SyncOnCreate); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO cache_stats (cache) VALUES ($1)", name); err != nil {
			return err
		}
		*created = true
		return nil
	})
}

// reschedule applies a changed resync period from the next cycle, as the
// embedded mode does: the idle items that the old period scheduled later
// than the new one would are brought forward. Items under a lease are left
// alone; their write-back schedules them by the new period. A longer period
// lets each item's current schedule run out first.
func reschedule(ctx context.Context, tx pgx.Tx, name string, old, resync time.Duration) error {
	if resync >= old {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE items SET next_sync_at = least(now() + $2::interval * (0.9 + 0.2 * random()), expires_at)
		WHERE cache = $1 AND NOT terminal AND NOT pending_delete AND lease_owner IS NULL
		  AND next_sync_at > now() + $2::interval * 1.1`, name, resync)
	return err
}

// Delete drops a cache with its items. Every replica stops refreshing it
// when the notification arrives, or at the next reconcile.
func (s *Service) Delete(ctx context.Context, name string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var found bool
	err := retryTx(ctx, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			// Before any row: the statements that lock many of the
			// cache's items finish first, and no new one starts (see
			// locks.go), so the cascade meets none of them.
			if _, err := tx.Exec(ctx, lockCacheItems, name); err != nil {
				return err
			}
			// The items go by cascade, without one notification each.
			if _, err := tx.Exec(ctx, "SELECT set_config('autorefresh.delete_kind', 'none', true)"); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, "DELETE FROM caches WHERE name = $1", name)
			found = tag.RowsAffected() == 1
			return err
		})
	})
	if err != nil {
		return dbErr(err)
	}
	if !found {
		return cacheNotFound(name)
	}
	s.stats.Delete(name)
	s.configs.drop(name)
	s.kickReconcile()
	return nil
}

// Sync makes every idle, non-terminal item of the cache due now and tells
// every replica's loop to look.
func (s *Service) Sync(ctx context.Context, name string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	// A sync cycle starts by carrying out the pending deletions, in the
	// embedded mode too: an item deleted before a POST .../sync is gone
	// once the cycle has run, not an hour later at the next housekeeping.
	var exists bool
	var deleted int64
	err := retryTx(ctx, func() error {
		return lockedBatch(ctx, s.pool, name, func(b *pgx.Batch) {
			b.Queue(syncQuery, name).QueryRow(func(row pgx.Row) error {
				return row.Scan(&exists, &deleted, new(int64))
			})
		})
	})
	if err != nil {
		return dbErr(err)
	}
	if !exists {
		return cacheNotFound(name)
	}
	s.local(name).deletions.Add(deleted)
	if _, err := s.pool.Exec(ctx, "SELECT pg_notify('autorefresh', $1)", notePayload("s", name)); err != nil {
		// The items are due; the loops find them at their next poll.
		s.log.Debug("sync notification not sent", zapErr(err))
	}
	return nil
}

// syncQuery is Sync's statement: it carries out the pending deletions of
// cache $1 and makes its idle items due now.
const syncQuery = `
		WITH c AS (SELECT name FROM caches WHERE name = $1),
		gone AS (
			DELETE FROM items WHERE cache = (SELECT name FROM c) AND pending_delete
			RETURNING 1),
		due AS (
			UPDATE items SET next_sync_at = now()
			WHERE cache = (SELECT name FROM c) AND NOT terminal AND NOT pending_delete
			  AND lease_owner IS NULL AND next_sync_at > now()
			RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM c), (SELECT count(*) FROM gone), (SELECT count(*) FROM due)`

// infoQuery reads caches with their shared counters, their size, the
// number of items under a lease, due, and in each state, counted in one
// pass over the cache's items.
const infoQuery = `
	SELECT c.name, c.config, c.paused,
	       coalesce(st.syncs, 0), coalesce(st.sync_errors, 0), coalesce(st.enqueued, 0),
	       coalesce(st.hits, 0), coalesce(st.misses, 0), coalesce(st.evictions, 0), coalesce(st.deletions, 0),
	       st.last_sync_at, st.last_error, st.last_error_at,
	       n.size, n.leased, n.due, n.active, n.completed, n.failed, n.expired
	FROM caches c LEFT JOIN cache_stats st ON st.cache = c.name
	CROSS JOIN LATERAL (SELECT count(*) AS size,
		count(*) FILTER (WHERE i.lease_until > now()) AS leased,
		count(*) FILTER (WHERE NOT i.terminal AND NOT i.pending_delete AND i.lease_owner IS NULL AND i.next_sync_at <= now()) AS due,
		count(*) FILTER (WHERE i.state = 1) AS active,
		count(*) FILTER (WHERE i.state = 2) AS completed,
		count(*) FILTER (WHERE i.state = 3) AS failed,
		count(*) FILTER (WHERE i.state = 4) AS expired
		FROM items i WHERE i.cache = c.name) n`

func (s *Service) scanInfo(row pgx.Row) (autorefresh.Info, error) {
	var (
		in                          autorefresh.Info
		cfgJSON                     []byte
		syncs, syncErrs, enq        int64
		hits, misses, evict, delete int64
		lastSync, lastErrAt         *time.Time
		lastErr                     *string
		size, leased, due           int64
		byState                     [record.NumStates]int64
	)
	if err := row.Scan(&in.Name, &cfgJSON, &in.Paused, &syncs, &syncErrs, &enq, &hits, &misses, &evict, &delete,
		&lastSync, &lastErr, &lastErrAt, &size, &leased, &due, &byState[record.StateActive], &byState[record.StateCompleted],
		&byState[record.StateFailed], &byState[record.StateExpired]); err != nil {
		return autorefresh.Info{}, err
	}
	var cfg autorefresh.Config
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return autorefresh.Info{}, errs.Wrap(errs.Internal, err, "cache: stored config does not decode")
	}
	in.Config, in.SecretSet = autorefresh.Redact(cfg.WithDefaults())
	// Enqueued is the items due and not yet claimed; InFlight the batches
	// under way on every replica, estimated as leased items / batchSize.
	bs := int64(max(in.Config.BatchSize, 1))
	st := autorefresh.Stats{
		Size: int(size), Syncs: uint64(syncs), SyncErrors: uint64(syncErrs), Enqueued: due,
		InFlight: (leased + bs - 1) / bs, EnqueuedTotal: uint64(enq), Hits: uint64(hits), Misses: uint64(misses),
		Evictions: uint64(evict), Deletions: uint64(delete),
	}
	for _, state := range record.States {
		st.ByState[state] = int(byState[state])
	}
	if lastSync != nil {
		st.LastSyncAt = lastSync.UTC()
	}
	if lastErr != nil && lastErrAt != nil {
		st.LastError, st.LastErrorAt = *lastErr, lastErrAt.UTC()
	}
	s.addLocal(in.Name, &st)
	in.Stats = st
	return in, nil
}

// Info returns a cache's config (secret left out, header values redacted)
// and stats. Counters are the sum over every replica, this one's up to
// now and the others' up to their last flush (StatsInterval).
func (s *Service) Info(ctx context.Context, name string) (autorefresh.Info, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	in, err := s.scanInfo(s.pool.QueryRow(ctx, infoQuery+" WHERE c.name = $1", name))
	if errors.Is(err, pgx.ErrNoRows) {
		return autorefresh.Info{}, cacheNotFound(name)
	}
	if err != nil {
		return autorefresh.Info{}, dbErr(err)
	}
	return in, nil
}

// List returns every cache, by name.
func (s *Service) List(ctx context.Context) ([]autorefresh.Info, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, infoQuery+" ORDER BY c.name")
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	out := []autorefresh.Info{}
	for rows.Next() {
		in, err := s.scanInfo(rows)
		if err != nil {
			return nil, dbErr(err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(err)
	}
	return out, nil
}

func cacheNotFound(name string) error {
	return errs.Errorf(errs.NotFound, "cache %q not found", name)
}
