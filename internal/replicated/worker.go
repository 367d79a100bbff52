package replicated

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/internal/syncers"
)

// MaxPollInterval bounds how long a due item waits for a replica to look.
const MaxPollInterval = 250 * time.Millisecond

// writeBackTimeout bounds one attempt at writing a sync's result back.
const writeBackTimeout = 5 * time.Second

// worker is one replica's refresh loop for one cache, with one config
// generation. A new generation gets a new worker.
type worker struct {
	s         *Service
	name      string
	gen       int64
	createdAt time.Time
	cfg       autorefresh.Config
	wh        *syncers.Webhook
	limiter   *rate.Limiter

	resync   time.Duration
	poll     time.Duration // how often the loop looks for due items
	leaseTTL time.Duration // 2 × the webhook timeout
	hkCheck  time.Duration // how often it asks for the deletion/eviction pass

	wake chan struct{}
	// created is poked by creates: the loop waits createLinger for more
	// of them before it claims, so that a burst shares batches.
	created chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

func (s *Service) newWorker(name string, gen int64, createdAt time.Time, cfg autorefresh.Config) (*worker, error) {
	cfg = cfg.WithDefaults()
	wh, err := syncers.New(syncers.Options{
		Cache: name, Policy: s.opts.Egress, Client: s.opts.HTTPClient, Calls: s.opts.Calls, Logger: s.opts.Logger, Metrics: s.whMetrics,
		Webhook: cfg.WebhookConfig(), Tracing: s.opts.Tracing,
	})
	if err != nil {
		return nil, err
	}
	resync := time.Duration(cfg.ResyncPeriod)
	w := &worker{
		s: s, name: name, gen: gen, createdAt: createdAt, cfg: cfg, wh: wh,
		limiter:  rate.NewLimiter(rate.Limit(cfg.RateLimit.QPS), cfg.RateLimit.Burst),
		resync:   resync,
		poll:     max(min(resync/4, MaxPollInterval), 5*time.Millisecond),
		leaseTTL: 2 * time.Duration(cfg.Webhook.Timeout),
		wake:     make(chan struct{}, 1),
		created:  make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	w.hkCheck = min(max(resync/4, w.poll), time.Second)
	return w, nil
}

// poke makes the loop look for due items now.
func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// pokeCreated tells the loop that an item was created and is due now.
func (w *worker) pokeCreated() {
	select {
	case w.created <- struct{}{}:
	default:
	}
}

// createLinger is how long the loop lets created items gather before it
// claims them, as the embedded mode's sync-on-create does. There is no bound
// on waiting create batches here, as the claim takes due items oldest
// first: a created item never jumps ahead of one due for its refresh.
const createLinger = 20 * time.Millisecond

// claimed is an item leased by this replica, as the webhook sees it: a
// cache.ItemWrapperOf[*record.Record].
type claimed struct {
	rec   *record.Record
	epoch int64
}

func (c *claimed) GetID() cache.ItemID     { return c.rec.ID }
func (c *claimed) GetItem() *record.Record { return c.rec }

// run polls for due items and hands them to the webhook, parallelism
// batches at a time, until ctx ends. Database errors are retried with
// backoff; the loop never gives up.
func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	defer w.wh.Close()
	// Webhook calls under way may finish for DrainTimeout after ctx ends.
	callCtx, stopCalls := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCalls()
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(w.s.opts.DrainTimeout, stopCalls)
		context.AfterFunc(callCtx, func() { t.Stop() })
	})
	defer stopDrain()
	var inflight sync.WaitGroup
	defer inflight.Wait()

	sem := make(chan struct{}, w.cfg.Parallelism)
	ticker := time.NewTicker(w.poll)
	defer ticker.Stop()
	var bo backoff
	lastHK := time.Now()
	for {
		var err error
		if time.Since(lastHK) >= w.hkCheck {
			lastHK = time.Now()
			err = w.housekeep(ctx)
		}
		if err == nil {
			err = w.dispatch(ctx, callCtx, sem, &inflight)
		}
		if err != nil && ctx.Err() == nil {
			if !bo.wait(ctx, w.s.log, "refresh loop: database error; retrying", zap.String("cache", w.name), zapErr(err)) {
				return
			}
			continue
		}
		bo.reset()
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-w.wake:
		case <-w.created:
			if !sleepCtx(ctx, createLinger) {
				return
			}
		}
	}
}

// dispatch claims due items, a batch per free slot, and syncs each batch on
// a goroutine of its own. A batch that finishes pokes the loop.
func (w *worker) dispatch(ctx, callCtx context.Context, sem chan struct{}, inflight *sync.WaitGroup) error {
	for ctx.Err() == nil {
		select {
		case sem <- struct{}{}:
		default:
			return nil // every slot is busy
		}
		// The rate limit paces webhook calls: wait for a token before
		// claiming, so that no lease runs down while waiting.
		if t := w.limiter.Tokens(); t < 1 {
			wait := time.Duration((1 - t) / float64(w.limiter.Limit()) * float64(time.Second))
			if wait > w.poll || !sleepCtx(ctx, wait) {
				<-sem
				return nil
			}
		}
		claimedAt := time.Now() // before the claim: the lease may only be shorter than we think
		batch, err := w.claim(ctx)
		if err != nil || len(batch) == 0 {
			<-sem
			return err
		}
		w.limiter.Allow()
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			defer func() {
				<-sem
				w.poke()
			}()
			w.syncBatch(callCtx, batch, claimedAt)
		}()
		if len(batch) < w.cfg.BatchSize {
			return nil
		}
	}
	return nil
}

// claim leases up to BatchSize due items: not terminal, not pending delete,
// next_sync_at passed by rateLimit.baseDelay (the embedded mode's work
// queue holds each batch at least baseDelay too). SKIP LOCKED lets replicas claim side by side without
// waiting for each other. The claim gives each item a new epoch and moves
// next_sync_at to the end of the lease, so that nobody else claims it until
// the lease lapses. Epochs come from one sequence (migration 0002), never
// from the row: a row created again under an old id must not meet the
// epochs of its predecessor's leases.
func (w *worker) claim(ctx context.Context) ([]*claimed, error) {
	rows, err := w.s.pool.Query(ctx, `
		WITH due AS (
			SELECT cache, id, lease_owner AS prev_owner FROM items
			WHERE cache = $1 AND NOT terminal AND NOT pending_delete AND next_sync_at <= now() - $5::interval
			ORDER BY next_sync_at
			LIMIT $2
			FOR UPDATE SKIP LOCKED)
		UPDATE items i SET lease_owner = $3, lease_until = now() + $4::interval,
			next_sync_at = now() + $4::interval, epoch = nextval('item_epochs')
		FROM due WHERE i.cache = due.cache AND i.id = due.id
		RETURNING i.id, i.data, i.terminal, i.version, i.created_at, i.updated_at, i.epoch, due.prev_owner IS NOT NULL`,
		w.name, w.cfg.BatchSize, w.s.owner, w.leaseTTL, time.Duration(w.cfg.RateLimit.BaseDelay))
	if err != nil {
		return nil, err
	}
	var out []*claimed
	expired := 0
	for rows.Next() {
		var (
			r      record.Record
			data   []byte
			c      claimed
			lapsed bool
		)
		if err := rows.Scan(&r.ID, &data, &r.Terminal, &r.Version, &r.CreatedAt, &r.UpdatedAt, &c.epoch, &lapsed); err != nil {
			rows.Close()
			return nil, err
		}
		r.Data = data
		r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
		c.rec = &r
		out = append(out, &c)
		if lapsed {
			expired++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) > 0 {
		w.s.metrics.claims.WithLabelValues(w.name).Add(float64(len(out)))
		w.s.local(w.name).enqueued.Add(int64(len(out)))
	}
	if expired > 0 {
		// The previous holder never wrote back: it died, hung or lost the
		// database for longer than the lease.
		w.s.metrics.expiries.WithLabelValues(w.name).Add(float64(expired))
	}
	return out, nil
}

// syncBatch calls the webhook and writes the answer back.
func (w *worker) syncBatch(ctx context.Context, batch []*claimed, claimedAt time.Time) {
	wrappers := make(cache.BatchOf[*record.Record], len(batch))
	for i, c := range batch {
		wrappers[i] = c
	}
	// A call must be able to end within the lease, or another replica may
	// be calling about the same items by then. Past that point (this
	// process was paused, say) the batch is dropped: the items are synced
	// by whoever claims them next.
	if time.Since(claimedAt) > w.leaseTTL-time.Duration(w.cfg.Webhook.Timeout) {
		w.s.metrics.batches.WithLabelValues(w.name, "lease_lapsed").Inc()
		return
	}
	resps, err := w.wh.Sync(ctx, wrappers)
	st := w.s.local(w.name)
	if err != nil {
		st.syncErrors.Add(1)
		st.setError(err.Error())
		w.s.metrics.batches.WithLabelValues(w.name, "error").Inc()
		w.s.metrics.syncErrors.WithLabelValues(w.name, cache.ReasonOf(err)).Inc()
	} else {
		st.syncs.Add(1)
		st.setSynced()
		w.s.metrics.batches.WithLabelValues(w.name, "ok").Inc()
	}
	// A cancelled call (the replica is stopping, or the cache changed)
	// hands its items back due now, for another loop to take at once.
	dueNow := err != nil && ctx.Err() != nil
	w.writeBack(ctx, batch, resps, err == nil, dueNow, claimedAt)
}

// writeBack applies a sync's result to the items whose epoch is still the
// one this replica claimed, and releases their leases. Items claimed again
// since (the lease lapsed) are left alone: their late write is rejected
// and counted as stale. It retries database errors until the lease would
// have lapsed anyway, or until ctx (the calls' context, which outlives a
// stop by DrainTimeout) ends.
func (w *worker) writeBack(ctx context.Context, batch []*claimed, resps []cache.ItemSyncResponseOf[*record.Record], ok, dueNow bool, claimedAt time.Time) {
	n := len(batch)
	var (
		ids      = make([]string, n)
		epochs   = make([]int64, n)
		upd      = make([]bool, n)
		data     = make([]string, n)
		terminal = make([]bool, n)
	)
	byID := make(map[string]*record.Record, len(resps))
	for _, r := range resps {
		if r.Action != cache.Update {
			continue
		}
		if r.Item != nil {
			byID[r.ID] = r.Item
		}
	}
	updates := 0
	for i, c := range batch {
		ids[i], epochs[i], data[i] = c.rec.ID, c.epoch, "null"
		if rec := byID[c.rec.ID]; rec != nil {
			// rec is c.rec.Next(...): the version is c.rec.Version + 1,
			// which the epoch check makes the row's version + 1.
			upd[i], terminal[i] = true, rec.Terminal
			if len(rec.Data) > 0 {
				data[i] = string(rec.Data)
			}
			updates++
		}
	}
	deadline := claimedAt.Add(w.leaseTTL)
	var bo backoff
	// The batch goes in chunks: whole at first, half as large after each
	// write the database cancelled for taking too long, so that a batch
	// too slow to write in one statement (statement_timeout) is written in
	// parts instead of cancelled again until its lease lapses. A chunk
	// written stays written: its leases are released.
	chunk, done, written := n, 0, 0
	for done < n {
		end := min(done+chunk, n)
		part, err := w.apply(ids[done:end], epochs[done:end], upd[done:end], data[done:end], terminal[done:end], ok, dueNow)
		if isDataError(err) {
			// A value the database refuses, which record.CheckData let
			// through: it must cost its own item's update, not the batch.
			var refused int
			part, refused, err = w.applyEach(ids[done:end], epochs[done:end], upd[done:end], data[done:end], terminal[done:end], ok, dueNow)
			updates -= refused
		}
		if err == nil {
			written, done = written+part, end
			bo.reset()
			continue
		}
		if tooSlow(err) && chunk > 1 {
			chunk = (chunk + 1) / 2
		}
		d := bo.next()
		if time.Now().Add(d).After(deadline) || !sleepCtx(ctx, d) {
			w.s.log.Warn("sync result not written back; the items will be synced again when their lease lapses",
				zap.String("cache", w.name), zap.Int("items", n-done), zapErr(err))
			return
		}
	}
	if ok {
		w.s.metrics.items.WithLabelValues(w.name, "update").Add(float64(updates))
		w.s.metrics.items.WithLabelValues(w.name, "unchanged").Add(float64(n - updates))
	}
	if written < n {
		w.countStale(ids, epochs)
	}
}

// applyEach writes a batch back one item at a time, for a batch that the
// database refused for a value in it: an item whose update is refused is
// written back unchanged (its lease released), logged and counted in
// refused. It is not atomic: if the database fails part way, the caller
// retries the whole batch, and the items already written, whose leases are
// released, are not written twice (see apply).
func (w *worker) applyEach(ids []string, epochs []int64, upd []bool, data []string, terminal []bool, ok, dueNow bool) (written, refused int, err error) {
	for i := range ids {
		n, err := w.apply(ids[i:i+1], epochs[i:i+1], upd[i:i+1], data[i:i+1], terminal[i:i+1], ok, dueNow)
		if isDataError(err) && upd[i] {
			w.s.log.Error("sync result dropped: the database refuses its data",
				zap.String("cache", w.name), zap.String("id", ids[i]), zapErr(err))
			refused++
			n, err = w.apply(ids[i:i+1], epochs[i:i+1], []bool{false}, []string{"null"}, terminal[i:i+1], ok, dueNow)
		}
		if err != nil {
			return written, refused, err
		}
		written += n
	}
	return written, refused, nil
}

// apply runs the fenced write-back and returns how many rows it changed.
// The fence is the epoch of the claim and this replica's lease: a retry of
// a write-back whose commit went through but whose answer was lost finds
// the lease released and changes nothing, so no update is applied twice.
// An item marked for deletion meanwhile keeps its state (its sync is
// dropped, as in the embedded mode) and only has its lease released. The
// next sync is due after the cache's resync period as it is now in the
// database, not as this worker was built with: a PUT that changed it while
// the call was under way applies from the next cycle. dueNow makes the
// items due at once instead.
func (w *worker) apply(ids []string, epochs []int64, upd []bool, data []string, terminal []bool, ok, dueNow bool) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), writeBackTimeout)
	defer cancel()
	tag, err := w.s.pool.Exec(ctx, `
		UPDATE items i SET
			data       = CASE WHEN u.upd AND NOT i.pending_delete THEN u.data ELSE i.data END,
			terminal   = CASE WHEN u.upd AND NOT i.pending_delete THEN u.terminal ELSE i.terminal END,
			version    = CASE WHEN u.upd AND NOT i.pending_delete THEN i.version + 1 ELSE i.version END,
			updated_at = CASE WHEN u.upd AND NOT i.pending_delete THEN now() ELSE i.updated_at END,
			synced_at  = CASE WHEN $7 AND NOT i.pending_delete THEN now() ELSE i.synced_at END,
			next_sync_at = now() + CASE WHEN $8 THEN interval '0' ELSE c.resync_period END * (0.9 + 0.2 * random()),
			lease_owner = NULL, lease_until = NULL
		FROM unnest($2::text[], $3::bigint[], $4::boolean[], $5::jsonb[], $6::boolean[]) AS u(id, epoch, upd, data, terminal),
			caches c
		WHERE c.name = $1 AND i.cache = $1 AND i.id = u.id AND i.epoch = u.epoch AND i.lease_owner = $9`,
		w.name, ids, epochs, upd, data, terminal, ok, dueNow, w.s.owner)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// countStale counts the items of a write-back that were claimed again
// since: those whose row now has another epoch (not those deleted
// meanwhile, nor those a lost answer made us write twice).
func (w *worker) countStale(ids []string, epochs []int64) {
	ctx, cancel := context.WithTimeout(context.Background(), writeBackTimeout)
	defer cancel()
	var stale int
	if err := w.s.pool.QueryRow(ctx, `SELECT count(*) FROM items i
		JOIN unnest($2::text[], $3::bigint[]) AS u(id, epoch) ON i.id = u.id
		WHERE i.cache = $1 AND i.epoch <> u.epoch`, w.name, ids, epochs).Scan(&stale); err != nil {
		return
	}
	if stale > 0 {
		w.s.metrics.staleWrites.WithLabelValues(w.name).Add(float64(stale))
		w.s.log.Warn("late sync results rejected: the lease lapsed and the items were claimed again",
			zap.String("cache", w.name), zap.Int("items", stale))
	}
}

// housekeep runs the cache's deletion and eviction pass, on one replica
// per resync period (whichever moves caches.housekept_at first): it
// removes the items marked by DeleteItem, then, if the cache holds more
// than its size, the least recently used items beyond it.
func (w *worker) housekeep(ctx context.Context) error {
	var mine bool
	err := w.s.pool.QueryRow(ctx, `UPDATE caches SET housekept_at = now()
		WHERE name = $1 AND housekept_at <= now() - $2::interval RETURNING true`, w.name, w.resync).Scan(&mine)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	st := w.s.local(w.name)
	tag, err := w.s.pool.Exec(ctx, "DELETE FROM items WHERE cache = $1 AND pending_delete", w.name)
	if err != nil {
		return err
	}
	st.deletions.Add(tag.RowsAffected())
	var count int64
	if err := w.s.pool.QueryRow(ctx, "SELECT count(*) FROM items WHERE cache = $1", w.name).Scan(&count); err != nil {
		return err
	}
	if over := count - int64(w.cfg.Size); over > 0 {
		err := pgx.BeginFunc(ctx, w.s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config('autorefresh.delete_kind', 'evicted', true)"); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `DELETE FROM items WHERE cache = $1 AND id IN (
				SELECT id FROM items WHERE cache = $1 ORDER BY last_used_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)`,
				w.name, over)
			st.evictions.Add(tag.RowsAffected())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
