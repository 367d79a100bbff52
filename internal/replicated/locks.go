package replicated

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Deleting a cache deletes its items by cascade, thousands of rows in one
// statement, in whatever order its plan visits them. A write-back, the
// deletion pass or a sync request also locks many of the cache's item rows
// in one statement, in an order of its own. Two such statements that meet
// each wait for a row the other holds, and PostgreSQL ends one of them as a
// deadlock victim (40P01). Taking the rows in one order everywhere would
// cost a row lock (a WAL record) per item and write-back; instead every
// statement that locks many items of a cache first takes the cache's item
// lock, an advisory transaction lock: shared by those statements, so they
// run side by side as before, and exclusive by Delete, taken before it
// locks anything. A delete then waits for the statements under way to
// commit while holding nothing they need, and the ones that start later
// wait for it. Claims take no such lock: they skip locked rows (SKIP
// LOCKED) and so never wait; single-row changes wait for one row only.
//
// The key is the cache name's hashtext under a class of our own (the
// two-int4 form, so it never meets cachesLockKey). Two names with the same
// hash only make each other's deletes wait a little longer.

// cacheLockClass is the advisory lock class of the cache item locks:
// 0x61726974, "arit".
const cacheLockClass = "1634888052"

// lockCacheItemsShared takes the item lock of cache $1, shared, for the
// transaction (see above).
const lockCacheItemsShared = "SELECT pg_advisory_xact_lock_shared(" + cacheLockClass + ", hashtext($1))"

// lockCacheItemsSharedNoNestLoop is lockCacheItemsShared that also plans
// the rest of the transaction without nested loops: the write-back's. Its
// join of the batch's rows (by primary key) with the unnest of its values
// was planned as a nested loop that ran the unnest again for each row
// (10,000 rows for a batch of 100) whenever the planner believed the
// fence (lease_owner = this replica) left one row; hashing the 100 values
// once costs nothing whatever it believes. JIT is off too: the cost of
// the one nested loop left (with the cache's row) is counted as disabled,
// far above jit_above_cost, and compiling took seconds.
const lockCacheItemsSharedNoNestLoop = "SELECT pg_advisory_xact_lock_shared(" + cacheLockClass + ", hashtext($1)), " +
	"set_config('enable_nestloop', 'off', true), set_config('jit', 'off', true)"

// lockCacheItems takes the item lock of cache $1 exclusively, for the
// transaction: Delete's.
const lockCacheItems = "SELECT pg_advisory_xact_lock(" + cacheLockClass + ", hashtext($1))"

// lockCachesItemsShared takes the item locks of the caches in $1, shared,
// in the order given: callers pass the names sorted and distinct, so that
// two such transactions never take them in opposite orders.
const lockCachesItemsShared = "SELECT pg_advisory_xact_lock_shared(" + cacheLockClass + ", hashtext(c)) FROM unnest($1::text[]) WITH ORDINALITY AS u(c, n) ORDER BY n"

// batcher is what lockedBatch sends its batch through: the pool.
type batcher interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}

// lockedBatch runs the statements that queue queues after the shared item
// lock of cache, in one implicit transaction and one round trip (a
// pipelined batch ends with one Sync). Results go to the queued queries'
// callbacks; it returns the first error.
func lockedBatch(ctx context.Context, db batcher, cache string, queue func(*pgx.Batch)) error {
	return lockedBatchWith(ctx, db, lockCacheItemsShared, cache, queue)
}

// lockedBatchWith is lockedBatch with lock, lockCacheItemsShared or
// lockCacheItemsSharedNoNestLoop, as its first statement.
func lockedBatchWith(ctx context.Context, db batcher, lock, cache string, queue func(*pgx.Batch)) error {
	var b pgx.Batch
	b.Queue(lock, cache)
	queue(&b)
	return db.SendBatch(ctx, &b).Close()
}

// lockedExec is lockedBatchWith of one statement, sql with args; it
// returns the statement's command tag.
func lockedExec(ctx context.Context, db batcher, lock, cache, sql string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := lockedBatchWith(ctx, db, lock, cache, func(b *pgx.Batch) {
		b.Queue(sql, args...).Exec(func(t pgconn.CommandTag) error {
			tag = t
			return nil
		})
	})
	return tag, err
}

// txAttempts bounds how often a transaction chosen as a deadlock victim,
// or that could not be serialized, is run: retryTx.
const txAttempts = 4

// retryTx runs f, and again (up to txAttempts in all, after a short random
// pause) while PostgreSQL rolled it back as a deadlock victim (40P01) or a
// serialization failure (40001): nothing of it was committed, so running it
// again is safe, and the client is told to try again (503) only if that
// keeps happening. f must be a whole transaction, or one statement.
func retryTx(ctx context.Context, f func() error) error {
	var err error
	for attempt := range txAttempts {
		if err = f(); !txRetryable(err) || attempt == txAttempts-1 {
			return err
		}
		// Up to 10ms, 20ms, 40ms: the other transaction usually commits
		// within that.
		if !sleepCtx(ctx, time.Duration(rand.Int64N(int64(10*time.Millisecond)<<attempt))) {
			return err
		}
	}
	return err
}

// txRetryable reports whether err is PostgreSQL rolling the transaction
// back as a deadlock victim (40P01) or a serialization failure (40001).
func txRetryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}
