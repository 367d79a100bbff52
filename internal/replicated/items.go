package replicated

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
)

// itemCols are the columns an itemRow reads, in its order, from items i
// joined with their cache c (whose pause hides NextSyncAt).
const itemCols = `i.id, i.data, i.terminal, i.version, i.created_at, i.updated_at, i.synced_at, i.pending_delete,
	i.state, i.attempts, i.last_error, i.expires_at, i.next_sync_at, c.paused`

// recordCols are the columns of a record alone (recordRow), from items i.
const recordCols = "i.id, i.data, i.terminal, i.version, i.created_at, i.updated_at, i.state, i.attempts, i.last_error, i.expires_at"

// recordRow is the scan target of recordCols.
type recordRow struct {
	r       record.Record
	data    []byte
	state   int16
	expires *time.Time
}

func (x *recordRow) dest() []any {
	return []any{&x.r.ID, &x.data, &x.r.Terminal, &x.r.Version, &x.r.CreatedAt, &x.r.UpdatedAt,
		&x.state, &x.r.Attempts, &x.r.LastError, &x.expires}
}

// record returns the record scanned, its times in UTC.
func (x *recordRow) record() *record.Record {
	r := x.r
	r.Data = json.RawMessage(x.data)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	r.State = record.State(x.state)
	if x.expires != nil {
		r.ExpiresAt = x.expires.UTC()
	}
	return &r
}

// itemRow is the scan target of itemCols.
type itemRow struct {
	recordRow
	synced, next *time.Time
	pending      bool
	paused       *bool // nil when the cache is gone (an outer join)
}

func (x *itemRow) dest() []any {
	return append(x.recordRow.dest()[:6], &x.synced, &x.pending, &x.state, &x.r.Attempts, &x.r.LastError, &x.expires, &x.next, &x.paused)
}

// item returns the item scanned: NextSyncAt is left out for a terminal
// item, which is never synced again, and in a paused cache, which syncs
// nothing until it is resumed.
func (x *itemRow) item() autorefresh.Item {
	it := autorefresh.Item{Record: x.record(), PendingDelete: x.pending}
	if x.synced != nil {
		t := x.synced.UTC()
		it.SyncedAt = &t
	}
	if x.next != nil && !it.Terminal && (x.paused == nil || !*x.paused) {
		t := x.next.UTC()
		it.NextSyncAt = &t
	}
	return it
}

// scanItem reads one row of itemCols.
func scanItem(row pgx.Row) (autorefresh.Item, error) {
	var x itemRow
	if err := row.Scan(x.dest()...); err != nil {
		return autorefresh.Item{}, err
	}
	return x.item(), nil
}

func itemNotFound(id string) error { return errs.Errorf(errs.NotFound, "item %q not found", id) }

// GetItem returns an item.
func (s *Service) GetItem(ctx context.Context, name, id string) (autorefresh.Item, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	it, err := s.readItem(ctx, name, id, true)
	switch errs.CodeOf(err) {
	case "":
		s.local(name).hits.Add(1)
	case errs.NotFound:
		s.local(name).misses.Add(1)
	}
	return it, err
}

// readItem reads an item; touch records the use for the LRU order of the
// size bound (see touches).
func (s *Service) readItem(ctx context.Context, name, id string, touch bool) (autorefresh.Item, error) {
	it, err := scanItem(s.pool.QueryRow(ctx, "SELECT "+itemCols+" FROM items i JOIN caches c ON c.name = i.cache WHERE i.cache = $1 AND i.id = $2", name, id))
	if errors.Is(err, pgx.ErrNoRows) {
		if err := s.cacheExists(ctx, name); err != nil {
			return autorefresh.Item{}, err
		}
		return autorefresh.Item{}, itemNotFound(id)
	}
	if err != nil {
		return autorefresh.Item{}, dbErr(err)
	}
	if touch {
		s.touches.add(name, id)
	}
	return it, nil
}

// touches are the items read since the last flush. Reads stay reads: the
// uses are written in one statement a second (statsLoop), without waiting
// for the commit to be durable, so an item's last_used_at moves at most once
// a second. Past maxTouches distinct items in a second, further uses are not
// recorded. Both make the LRU order approximate.
type touches struct {
	mu  sync.Mutex
	set map[itemKey]struct{}
}

const maxTouches = 100_000

func (t *touches) add(cacheName, id string) {
	t.mu.Lock()
	if t.set == nil {
		t.set = make(map[itemKey]struct{})
	}
	if len(t.set) < maxTouches {
		t.set[itemKey{cacheName, id}] = struct{}{}
	}
	t.mu.Unlock()
}

func (t *touches) take() map[itemKey]struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	set := t.set
	t.set = nil
	return set
}

// flushTouches writes the recorded uses.
func (s *Service) flushTouches(ctx context.Context) error {
	set := s.touches.take()
	if len(set) == 0 {
		return nil
	}
	caches, ids := make([]string, 0, len(set)), make([]string, 0, len(set))
	for k := range set {
		caches, ids = append(caches, k.cache), append(ids, k.id)
	}
	names := slices.Compact(slices.Sorted(slices.Values(caches)))
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Losing these to a crash costs nothing worth an fsync.
		if _, err := tx.Exec(ctx, "SELECT set_config('synchronous_commit', 'off', true)"); err != nil {
			return err
		}
		// Many items, of several caches: their item locks first, in
		// name order (locks.go).
		if _, err := tx.Exec(ctx, lockCachesItemsShared, names); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE items i SET last_used_at = now()
			FROM unnest($1::text[], $2::text[]) AS k(cache, id)
			WHERE i.cache = k.cache AND i.id = k.id AND i.last_used_at < now() - interval '1 second'`, caches, ids)
		return err
	})
}

// cacheExists returns nil, a NotFound error, or a database error.
func (s *Service) cacheExists(ctx context.Context, name string) error {
	var ok bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM caches WHERE name = $1)", name).Scan(&ok); err != nil {
		return dbErr(err)
	}
	if !ok {
		return cacheNotFound(name)
	}
	return nil
}

// DeleteItem marks an item for deletion (pending_delete) and returns it as
// it now is. The next deletion pass of the cache, on whichever replica runs
// it first, removes it.
func (s *Service) DeleteItem(ctx context.Context, name, id string) (autorefresh.Item, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var it autorefresh.Item
	err := retryTx(ctx, func() (err error) {
		it, err = scanItem(s.pool.QueryRow(ctx, `UPDATE items i SET pending_delete = true FROM caches c
			WHERE c.name = i.cache AND i.cache = $1 AND i.id = $2 RETURNING `+itemCols, name, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		if err := s.cacheExists(ctx, name); err != nil {
			return autorefresh.Item{}, err
		}
		return autorefresh.Item{}, itemNotFound(id)
	}
	if err != nil {
		return autorefresh.Item{}, dbErr(err)
	}
	return it, nil
}

// ListItems returns a page of items in id order (bytewise) after the
// opaque cursor, that pass the filter (terminal flag, state), of at most
// limit items and autorefresh.MaxPageBytes, and the cursor of the next page
// ("" at the end). Cursors are the domain's.
//
// The byte cut is made in the query, so that the data of the items left out
// never leaves PostgreSQL: a running sum of autorefresh.ItemBytes (with the
// data's text length, which is at least its compacted JSON) marks which rows
// fit, and the one row after the last that fits comes without its data, only
// to say that there is more.
func (s *Service) ListItems(ctx context.Context, name, cursor string, limit int, f autorefresh.Filter) ([]autorefresh.Item, string, error) {
	after, err := autorefresh.ParsePage(cursor, limit)
	if err != nil {
		return nil, "", err
	}
	var state *int16
	if f.State != record.StateUnset {
		st := int16(f.State)
		state = &st
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	overhead := strconv.Itoa(autorefresh.ItemBytes("", 0))
	rows, err := s.pool.Query(ctx, `SELECT id, CASE WHEN fits THEN data END, terminal, version, created_at, updated_at,
			synced_at, pending_delete, state, attempts, last_error, expires_at, next_sync_at, paused, fits
		FROM (SELECT *, n <= $5 AND (n = 1 OR run <= $6) AS fits FROM (
			SELECT i.*, c.paused, row_number() OVER w AS n,
				sum(`+overhead+` + octet_length(i.id) + octet_length(i.data::text)) OVER w AS run,
				octet_length(i.id) + octet_length(i.data::text) AS size
			FROM items i JOIN caches c ON c.name = i.cache
			WHERE i.cache = $1 AND i.id > $2 AND ($3::boolean IS NULL OR i.terminal = $3)
			  AND ($7::smallint IS NULL OR i.state = $7)
			WINDOW w AS (ORDER BY i.id ROWS UNBOUNDED PRECEDING)
			ORDER BY i.id LIMIT $4) p) q
		WHERE n <= 2 OR run - size - `+overhead+` <= $6
		ORDER BY id`, name, after, f.Terminal, limit+1, limit, autorefresh.MaxPageBytes, state)
	if err != nil {
		return nil, "", dbErr(err)
	}
	page := make([]autorefresh.Item, 0, min(limit, 64))
	more := false
	for rows.Next() {
		it, fits, err := scanListed(rows)
		if err != nil {
			rows.Close()
			return nil, "", dbErr(err)
		}
		if !fits {
			more = true
			break
		}
		page = append(page, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", dbErr(err)
	}
	if len(page) == 0 {
		if err := s.cacheExists(ctx, name); err != nil {
			return nil, "", err
		}
	}
	next := ""
	if more && len(page) > 0 {
		next = autorefresh.Cursor(page[len(page)-1].ID)
	}
	return page, next, nil
}

// scanListed reads a row of ListItems' query: itemCols (data NULL for a row
// that does not fit the page) and whether it fits.
func scanListed(row pgx.Row) (autorefresh.Item, bool, error) {
	var (
		x    itemRow
		fits bool
	)
	if err := row.Scan(append(x.dest(), &fits)...); err != nil {
		return autorefresh.Item{}, false, err
	}
	if !fits {
		return autorefresh.Item{}, false, nil
	}
	return x.item(), true, nil
}
