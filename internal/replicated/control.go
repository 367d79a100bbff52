package replicated

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
)

// changeAttempts bounds the rounds of a PATCH or a retry that lose to
// concurrent changes of the item (each round needs one to lose).
const changeAttempts = 8

// errChanged says that the item changed between a round's read and write.
var errChanged = errors.New("the item changed concurrently")

// change applies f to an item: it reads the item, lets f make the new
// record, and writes it if the item is still at the version read, else
// starts over. f returns nil to write nothing.
//
// A write takes a new epoch from the sequence and releases the lease, so
// that a sync of the item under way cannot write back over the change
// (later change wins): its write-back is fenced off like that of a lapsed
// lease. The item keeps its next_sync_at, the end of that lease included,
// so that no second call for it starts while the first may still be
// running; set moves it (reopen or due now).
func (s *Service) change(ctx context.Context, name, id string, f func(cur *record.Record) (*record.Record, changeOpts, error)) (autorefresh.Item, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	for range changeAttempts {
		cur, err := s.readItem(ctx, name, id, false)
		if err != nil {
			return autorefresh.Item{}, err
		}
		n, o, err := f(cur.Record)
		if err != nil {
			return autorefresh.Item{}, err
		}
		if n == nil && !o.dueNow {
			return cur, nil
		}
		var it autorefresh.Item
		err = retryTx(ctx, func() error {
			it, err = s.writeChange(ctx, name, cur.Record, n, o)
			return err
		})
		if errors.Is(err, errChanged) {
			continue
		}
		return it, err
	}
	return autorefresh.Item{}, errs.Errorf(errs.Unavailable, "item %q changed repeatedly during the request; try again", id)
}

// changeOpts are how a change moves the item's schedule.
type changeOpts struct {
	// dueNow makes the item due now, unless a sync of it is under way.
	dueNow bool
}

// writeChange writes n over cur (nil n: only the schedule), if the row is
// still at cur's version.
func (s *Service) writeChange(ctx context.Context, name string, cur, n *record.Record, o changeOpts) (autorefresh.Item, error) {
	var row pgx.Row
	if n == nil {
		// Only due now, and only if no sync of it is under way: that
		// sync's write-back schedules it.
		row = s.pool.QueryRow(ctx, `UPDATE items i SET next_sync_at = least(i.next_sync_at, now())
			FROM caches c WHERE c.name = i.cache AND i.cache = $1 AND i.id = $2 AND i.version = $3
			  AND (i.lease_owner IS NULL OR i.lease_until <= now())
			RETURNING `+itemCols, name, cur.ID, cur.Version)
	} else {
		var expires *time.Time
		if !n.ExpiresAt.IsZero() {
			expires = &n.ExpiresAt
		}
		// A reopened item (terminal before, not now) has a next_sync_at
		// from when it was last synced: it is due now.
		row = s.pool.QueryRow(ctx, `UPDATE items i SET data = $4, terminal = $5, version = $6, state = $7,
				attempts = $8, last_error = $9, updated_at = $10, expires_at = $11,
				next_sync_at = least(CASE WHEN $12 OR (i.terminal AND NOT $5) THEN now() ELSE i.next_sync_at END, $11),
				epoch = nextval('item_epochs'), lease_owner = NULL, lease_until = NULL
			FROM caches c WHERE c.name = i.cache AND i.cache = $1 AND i.id = $2 AND i.version = $3
			RETURNING `+itemCols,
			name, cur.ID, cur.Version, string(n.Data), n.Terminal, n.Version, int16(n.StateOf()),
			n.Attempts, n.LastError, n.UpdatedAt, expires, o.dueNow)
	}
	it, err := scanItem(row)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if n == nil {
			// Under a lease, or changed: read it again to tell.
			again, rerr := s.readItem(ctx, name, cur.ID, false)
			if rerr == nil && again.Version == cur.Version {
				return again, nil
			}
		}
		return autorefresh.Item{}, errChanged
	case err != nil:
		return autorefresh.Item{}, dbErr(err)
	}
	return it, nil
}

// PatchItem changes an item's data and terminal flag as a sync reply's
// update would (record.Patch), if it is at p.IfMatch (when set). The
// notification of the new version is its updated event. A sync of the
// item under way is fenced off (see change): its answer, about the state
// before, cannot undo the PATCH.
func (s *Service) PatchItem(ctx context.Context, name, id string, p autorefresh.Patch) (autorefresh.Item, error) {
	if p.Data != nil {
		if err := record.CheckData(p.Data); err != nil {
			return autorefresh.Item{}, errs.Errorf(errs.Invalid, "data: %s", err)
		}
	}
	it, err := s.change(ctx, name, id, func(cur *record.Record) (*record.Record, changeOpts, error) {
		if p.IfMatch > 0 && cur.Version != p.IfMatch {
			return nil, changeOpts{}, errs.Errorf(errs.PreconditionFailed,
				"item %q is at version %d, not %d", id, cur.Version, p.IfMatch)
		}
		return cur.Patch(p.Data, p.Terminal, time.Now().UTC()), changeOpts{}, nil
	})
	if err == nil && it.NextSyncAt != nil && !it.NextSyncAt.After(time.Now()) {
		if w := s.worker(name); w != nil {
			w.poke() // reopened, due now
		}
	}
	return it, err
}

// RetryItem makes a failed or expired item active again (record.Retry),
// with its deadline ttl from now (0: none), and due now; an active item
// only becomes due now (unless a sync of it is under way); a completed one
// answers Conflict. This replica's worker is poked; the others find the
// item at their next poll.
func (s *Service) RetryItem(ctx context.Context, name, id string, ttl time.Duration) (autorefresh.Item, error) {
	if err := autorefresh.CheckTTL(ttl); err != nil {
		return autorefresh.Item{}, err
	}
	it, err := s.change(ctx, name, id, func(cur *record.Record) (*record.Record, changeOpts, error) {
		now := time.Now().UTC()
		var expires time.Time
		if ttl > 0 {
			expires = now.Add(ttl)
		}
		n, changed, ok := cur.Retry(expires, now)
		switch {
		case !ok:
			return nil, changeOpts{}, errs.Errorf(errs.Conflict, "item %q is completed; a retry does not reopen it", id)
		case !changed:
			n = nil
		}
		return n, changeOpts{dueNow: true}, nil
	})
	if err == nil {
		if w := s.worker(name); w != nil {
			w.poke()
		}
	}
	return it, err
}

// SetPaused pauses or resumes a cache's refresh, for every replica: the
// claim reads caches.paused, so a replica stops claiming at its next poll,
// and the notification pokes every replica's loop, so that a resumed
// cache is looked at at once. Calls under way finish and are written back.
func (s *Service) SetPaused(ctx context.Context, name string, paused bool) (autorefresh.Info, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var found bool
	err := s.pool.QueryRow(ctx, `WITH u AS (UPDATE caches SET paused = $2 WHERE name = $1 RETURNING name)
		SELECT count(pg_notify('autorefresh', $3)) > 0 FROM u`, name, paused, notePayload("s", name)).Scan(&found)
	if err != nil {
		return autorefresh.Info{}, dbErr(err)
	}
	if !found {
		return autorefresh.Info{}, cacheNotFound(name)
	}
	if w := s.worker(name); w != nil {
		w.poke()
	}
	return s.Info(ctx, name)
}
