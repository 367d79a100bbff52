package replicated

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/record"
)

// resyncAfter, as a written-back item's after, schedules its next sync a
// jittered resync period from now.
const resyncAfter = -1

// wbItem is one item of a write-back: its claim, and what to write.
type wbItem struct {
	id    string
	epoch int64
	// rec, if set, is the record to write as it is: the rules that made
	// it (record.Next, Fail, Recovered, Expire) live in record and the
	// syncer, not here.
	rec *record.Record
	// after is when the next sync is due, in microseconds from now, or
	// resyncAfter.
	after int64
}

// writeBack applies a sync's result to the items whose epoch is still the
// one this replica claimed, and releases their leases. Items claimed again
// since (the lease lapsed), or whose epoch a PATCH, a retry or an expiry
// took meanwhile, are left alone: their late write is rejected and counted
// as stale. It retries database errors until the lease would have lapsed
// anyway, or until ctx (the calls' context, which outlives a stop by
// DrainTimeout) ends.
//
// resps are the syncer's: an Update carries the record to write; any
// response may carry NextSyncAfter, the wait before the item's next sync
// (0: the resync period). ok says the call succeeded (the items count as
// synced); dueNow makes every item due at once instead.
func (w *worker) writeBack(ctx context.Context, batch []*claimed, resps []cache.ItemSyncResponseOf[*record.Record], ok, dueNow bool, claimedAt time.Time) {
	n := len(batch)
	type answer struct {
		rec   *record.Record
		after time.Duration
	}
	byID := make(map[string]answer, len(resps))
	for _, r := range resps {
		a := byID[r.ID]
		if r.Action == cache.Update && r.Item != nil {
			a.rec = r.Item
		}
		if r.NextSyncAfter > 0 {
			a.after = r.NextSyncAfter
		}
		byID[r.ID] = a
	}
	items := make([]wbItem, n)
	updates := 0
	for i, c := range batch {
		a := byID[c.rec.ID]
		items[i] = wbItem{id: c.rec.ID, epoch: c.epoch, rec: a.rec, after: resyncAfter}
		if a.after > 0 {
			items[i].after = a.after.Microseconds()
		}
		if a.rec != nil {
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
		part, err := w.apply(items[done:end], ok, dueNow)
		if isDataError(err) {
			// A value the database refuses, which record.CheckData let
			// through: it must cost its own item's update, not the batch.
			var refused int
			part, refused, err = w.applyEach(items[done:end], ok, dueNow)
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
		ids, epochs := make([]string, n), make([]int64, n)
		for i, it := range items {
			ids[i], epochs[i] = it.id, it.epoch
		}
		w.countStale(ids, epochs)
	}
}

// applyEach writes a batch back one item at a time, for a batch that the
// database refused for a value in it: an item whose update is refused is
// written back unchanged (its lease released), logged and counted in
// refused. It is not atomic: if the database fails part way, the caller
// retries the whole batch, and the items already written, whose leases are
// released, are not written twice (see apply).
func (w *worker) applyEach(items []wbItem, ok, dueNow bool) (written, refused int, err error) {
	for i := range items {
		n, err := w.apply(items[i:i+1], ok, dueNow)
		if isDataError(err) && items[i].rec != nil {
			w.s.log.Error("sync result dropped: the database refuses its data",
				zap.String("cache", w.name), zap.String("id", items[i].id), zapErr(err))
			refused++
			kept := items[i]
			kept.rec = nil
			n, err = w.apply([]wbItem{kept}, ok, dueNow)
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
// dropped, as in the embedded mode) and only has its lease released.
//
// A record is written as given, its version included: the epoch fence
// means the row is still at the version the record was made from. The
// next sync is due after the item's own wait, else after the cache's
// resync period as it is now in the database, not as this worker was built
// with (a PUT that changed it while the call was under way applies from
// the next cycle); dueNow makes it due at once. Never after the item's
// deadline, though: the claim that finds it due then expires it.
//
// A failed call (ok false) whose cache was paused by the time it is
// written back fails no item, as in the embedded mode: nothing is failed
// while a cache is paused. Its records are dropped and the leases
// released; the items are due again one period on. The check is in the
// statement, so a pause committed before it is always seen.
//
// i.id = ANY($5) repeats the join with u as an index condition, so that
// the plan reads the batch's rows by primary key whatever the planner
// believes of the table: before the first ANALYZE of a freshly loaded
// table, it believed the cache had a few rows and none leased, and
// scanned all of the cache's rows per write-back (100 ms for 20,000).
func (w *worker) apply(items []wbItem, ok, dueNow bool) (int, error) {
	n := len(items)
	var (
		ids       = make([]string, n)
		epochs    = make([]int64, n)
		upd       = make([]bool, n)
		versions  = make([]int64, n)
		data      = make([]string, n)
		terminal  = make([]bool, n)
		states    = make([]int16, n)
		attempts  = make([]int32, n)
		lastErrs  = make([]string, n)
		updatedAt = make([]time.Time, n)
		after     = make([]int64, n)
	)
	for i, it := range items {
		ids[i], epochs[i], after[i], data[i] = it.id, it.epoch, it.after, "null"
		if r := it.rec; r != nil {
			upd[i], versions[i], terminal[i], states[i] = true, r.Version, r.Terminal, int16(r.StateOf())
			attempts[i], lastErrs[i], updatedAt[i] = r.Attempts, r.LastError, r.UpdatedAt
			if len(r.Data) > 0 {
				data[i] = string(r.Data)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeBackTimeout)
	defer cancel()
	tag, err := lockedExec(ctx, w.s.pool, lockCacheItemsSharedNoNestLoop, w.name, `
		UPDATE items i SET
			data       = CASE WHEN u.upd AND NOT i.pending_delete AND ($3 OR NOT c.paused) THEN u.data ELSE i.data END,
			terminal   = CASE WHEN u.upd AND NOT i.pending_delete AND ($3 OR NOT c.paused) THEN u.terminal ELSE i.terminal END,
			version    = CASE WHEN u.upd AND NOT i.pending_delete AND ($3 OR NOT c.paused) THEN u.version ELSE i.version END,
			state      = CASE WHEN u.upd AND NOT i.pending_delete AND ($3 OR NOT c.paused) THEN u.state ELSE i.state END,
			attempts   = CASE WHEN u.upd AND NOT i.pending_delete AND ($3 OR NOT c.paused) THEN u.attempts ELSE i.attempts END,
			last_error = CASE WHEN u.upd AND NOT i.pending_delete AND ($3 OR NOT c.paused) THEN u.last_error ELSE i.last_error END,
			updated_at = CASE WHEN u.upd AND NOT i.pending_delete AND ($3 OR NOT c.paused) THEN u.updated_at ELSE i.updated_at END,
			synced_at  = CASE WHEN $3 AND NOT i.pending_delete THEN now() ELSE i.synced_at END,
			next_sync_at = least(now() + CASE
				WHEN $4 THEN interval '0'
				WHEN u.after >= 0 AND ($3 OR NOT c.paused) THEN u.after * interval '1 microsecond'
				ELSE c.resync_period * (0.9 + 0.2 * random()) END, i.expires_at),
			lease_owner = NULL, lease_until = NULL
		FROM unnest($5::text[], $6::bigint[], $7::boolean[], $8::bigint[], $9::jsonb[], $10::boolean[],
				$11::smallint[], $12::integer[], $13::text[], $14::timestamptz[], $15::bigint[])
			AS u(id, epoch, upd, version, data, terminal, state, attempts, last_error, updated_at, after),
			caches c
		WHERE c.name = $1 AND i.cache = $1 AND i.id = ANY($5) AND i.id = u.id AND i.epoch = u.epoch AND i.lease_owner = $2`,
		w.name, w.s.owner, ok, dueNow, ids, epochs, upd, versions, data, terminal, states, attempts, lastErrs, updatedAt, after)
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
		w.s.log.Warn("late sync results rejected: the items were claimed again (their lease lapsed), or changed by a PATCH, a retry or their expiry",
			zap.String("cache", w.name), zap.Int("items", stale))
	}
}
