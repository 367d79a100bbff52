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
	// sync is wh.Sync; tests put upstream answers of their own in its
	// place.
	sync    func(context.Context, cache.BatchOf[*record.Record]) ([]cache.ItemSyncResponseOf[*record.Record], error)
	limiter *rate.Limiter

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
		Schedule: cfg.Policy(),
	})
	if err != nil {
		return nil, err
	}
	resync := time.Duration(cfg.ResyncPeriod)
	w := &worker{
		s: s, name: name, gen: gen, createdAt: createdAt, cfg: cfg, wh: wh, sync: wh.Sync,
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

// dispatch claims due items for every free slot in one statement, and
// syncs each batch of them on a goroutine of its own. A batch that
// finishes pokes the loop.
//
// One claim for all the free slots, not one per slot: the claims of a
// cache are made one after the other by this loop, each a round trip and
// a commit, and one per batch bounded the replica to about a hundred
// batches a second whatever parallelism allowed.
func (w *worker) dispatch(ctx, callCtx context.Context, sem chan struct{}, inflight *sync.WaitGroup) error {
	for ctx.Err() == nil {
		slots := takeSlots(sem)
		if slots == 0 {
			return nil // every slot is busy
		}
		// The rate limit paces webhook calls: wait for a token before
		// claiming, so that no lease runs down while waiting, and claim
		// no more batches than there are tokens.
		if t := w.limiter.Tokens(); t < float64(slots) {
			if t < 1 {
				wait := time.Duration((1 - t) / float64(w.limiter.Limit()) * float64(time.Second))
				if wait > w.poll || !sleepCtx(ctx, wait) {
					releaseSlots(sem, slots)
					return nil
				}
				t = 1
			}
			releaseSlots(sem, slots-int(t))
			slots = int(t)
		}
		claimedAt := time.Now() // before the claim: the lease may only be shorter than we think
		batch, expired, err := w.claimN(ctx, slots*w.cfg.BatchSize)
		if err == nil && len(expired) > 0 {
			err = w.expire(ctx, expired, claimedAt)
		}
		batches := (len(batch) + w.cfg.BatchSize - 1) / w.cfg.BatchSize
		releaseSlots(sem, slots-batches)
		if err != nil || batches == 0 {
			releaseSlots(sem, batches)
			if err != nil || len(expired) == 0 {
				return err
			}
			continue // only expiries: there may be more due
		}
		for len(batch) > 0 {
			part := batch[:min(w.cfg.BatchSize, len(batch))]
			batch = batch[len(part):]
			w.limiter.Allow()
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				defer func() {
					<-sem
					w.poke()
				}()
				w.syncBatch(callCtx, part, claimedAt)
			}()
		}
		if batches*w.cfg.BatchSize+len(expired) < slots*w.cfg.BatchSize {
			return nil
		}
	}
	return nil
}

// takeSlots takes every free slot of sem and returns how many.
func takeSlots(sem chan struct{}) int {
	for n := 0; ; n++ {
		select {
		case sem <- struct{}{}:
		default:
			return n
		}
	}
}

// releaseSlots gives n slots of sem back.
func releaseSlots(sem chan struct{}, n int) {
	for range n {
		<-sem
	}
}

// claim leases up to BatchSize due items: claimN of one batch.
func (w *worker) claim(ctx context.Context) (batch, expired []*claimed, err error) {
	return w.claimN(ctx, w.cfg.BatchSize)
}

// claimN leases up to n due items: not terminal, not pending delete,
// next_sync_at passed by rateLimit.baseDelay (the embedded mode's work
// queue holds each batch at least baseDelay too), of a cache that is not
// paused. SKIP LOCKED lets replicas claim side by side without waiting for
// each other. The claim gives each item a new epoch and moves next_sync_at
// to the end of the lease, so that nobody else claims it until the lease
// lapses. Epochs come from one sequence (migration 0002), never from the
// row: a row created again under an old id must not meet the epochs of its
// predecessor's leases.
//
// The rows to update are also looked up by primary key from the claimed
// ids (= ANY), so that the plan never hashes the whole cache to join them:
// for a claim of several batches of a cache of 20,000 items it did, and
// read every row.
//
// Items past their deadline come back apart, in expired: they are never
// handed to the webhook, and the caller expires them (under a lease like
// any other, so that no other replica does the same meanwhile).
// next_sync_at is never after expires_at, the end of a sync's lease
// included, so an item is due by its deadline and the claim that finds it
// after expires it, even while a sync of it is under way: that sync's
// write-back is then fenced off.
func (w *worker) claimN(ctx context.Context, n int) (batch, expired []*claimed, err error) {
	rows, err := w.s.pool.Query(ctx, `
		WITH due AS (
			SELECT cache, id, lease_owner IS NOT NULL AND lease_until <= now() AS lapsed FROM items
			WHERE cache = $1 AND NOT terminal AND NOT pending_delete AND next_sync_at <= now() - $5::interval
			  AND NOT (SELECT paused FROM caches WHERE name = $1)
			ORDER BY next_sync_at
			LIMIT $2
			FOR UPDATE SKIP LOCKED)
		UPDATE items i SET lease_owner = $3, lease_until = now() + $4::interval,
			next_sync_at = CASE WHEN i.expires_at <= now() THEN now() + $4::interval
				ELSE least(now() + $4::interval, i.expires_at) END,
			epoch = nextval('item_epochs')
		FROM due WHERE i.cache = $1 AND i.id = ANY(ARRAY(SELECT id FROM due)) AND i.cache = due.cache AND i.id = due.id
		RETURNING `+recordCols+`, i.epoch, due.lapsed, i.expires_at <= now()`,
		w.name, n, w.s.owner, w.leaseTTL, time.Duration(w.cfg.RateLimit.BaseDelay))
	if err != nil {
		return nil, nil, err
	}
	lapsed := 0
	for rows.Next() {
		var (
			x       recordRow
			c       claimed
			lap     bool
			overdue *bool
		)
		if err := rows.Scan(append(x.dest(), &c.epoch, &lap, &overdue)...); err != nil {
			rows.Close()
			return nil, nil, err
		}
		c.rec = x.record()
		if overdue != nil && *overdue {
			expired = append(expired, &c)
		} else {
			batch = append(batch, &c)
		}
		if lap {
			lapsed++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(batch) > 0 {
		w.s.metrics.claims.WithLabelValues(w.name).Add(float64(len(batch)))
		w.s.local(w.name).enqueued.Add(int64(len(batch)))
	}
	if lapsed > 0 {
		// The previous holder never wrote back: it died, hung or lost the
		// database for longer than the lease.
		w.s.metrics.expiries.WithLabelValues(w.name).Add(float64(lapsed))
	}
	return batch, expired, nil
}

// expire writes back the claimed items that are past their deadline as
// record.Expire makes them (terminal, StateExpired, version + 1: an
// updated event), fenced by the claim's epoch like a sync's result.
func (w *worker) expire(ctx context.Context, batch []*claimed, claimedAt time.Time) error {
	now := time.Now().UTC()
	resps := make([]cache.ItemSyncResponseOf[*record.Record], len(batch))
	for i, c := range batch {
		resps[i] = cache.ItemSyncResponseOf[*record.Record]{ID: c.rec.ID, Action: cache.Update, Item: c.rec.Expire(now)}
	}
	w.writeBack(ctx, batch, resps, false, false, claimedAt)
	return ctx.Err()
}

// syncBatch calls the webhook and writes the answer back: the records the
// webhook returns, for a failed call too (its failed attempts).
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
	resps, err := w.sync(ctx, wrappers)
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
	for _, r := range resps {
		if r.Err != nil {
			// An item the upstream could not answer for: a failed
			// attempt of its own (its record says so), counted apart
			// from the batch's outcome.
			w.s.metrics.syncErrors.WithLabelValues(w.name, cache.ReasonOf(r.Err)).Inc()
		}
	}
	// A cancelled call (the replica is stopping, or the cache changed)
	// hands its items back due now, for another loop to take at once.
	dueNow := err != nil && ctx.Err() != nil
	w.writeBack(ctx, batch, resps, err == nil, dueNow, claimedAt)
}

// minHousekeep is the least time between two deletion and eviction passes
// of a cache.
const minHousekeep = time.Second

// housekeep runs the cache's deletion and eviction pass, on one replica
// per resync period but at most once a second (whichever moves
// caches.housekept_at first): it removes the items marked by DeleteItem,
// then, if the cache holds more than its size, the least recently used
// items beyond it. Not more often: the pass counts the cache's items, and
// with a resync period of 10ms it counted 20,000 rows a hundred times a
// second (and would count ten million as often). A sync request (Sync)
// removes the marked items at once whatever the period.
func (w *worker) housekeep(ctx context.Context) error {
	var mine bool
	err := w.s.pool.QueryRow(ctx, `UPDATE caches SET housekept_at = now()
		WHERE name = $1 AND housekept_at <= now() - $2::interval RETURNING true`, w.name, max(w.resync, minHousekeep)).Scan(&mine)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	st := w.s.local(w.name)
	tag, err := lockedExec(ctx, w.s.pool, lockCacheItemsShared, w.name, "DELETE FROM items WHERE cache = $1 AND pending_delete", w.name)
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
