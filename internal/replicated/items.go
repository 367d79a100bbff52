package replicated

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
)

// itemCols are the columns scanItem reads, in its order.
const itemCols = "id, data, terminal, version, created_at, updated_at, synced_at, pending_delete"

// scanItem reads one row of itemCols.
func scanItem(row pgx.Row) (autorefresh.Item, error) {
	var (
		r       record.Record
		data    []byte
		synced  *time.Time
		pending bool
	)
	if err := row.Scan(&r.ID, &data, &r.Terminal, &r.Version, &r.CreatedAt, &r.UpdatedAt, &synced, &pending); err != nil {
		return autorefresh.Item{}, err
	}
	r.Data = json.RawMessage(data)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	it := autorefresh.Item{Record: &r, PendingDelete: pending}
	if synced != nil {
		t := synced.UTC()
		it.SyncedAt = &t
	}
	return it, nil
}

func itemNotFound(id string) error { return errs.Errorf(errs.NotFound, "item %q not found", id) }

// CreateItem is GetOrCreate: it inserts a new item at version 1 (INSERT ...
// ON CONFLICT DO NOTHING RETURNING), or returns the existing one unchanged.
// created says which; of concurrent creates of one id, on any replicas,
// exactly one is created.
func (s *Service) CreateItem(ctx context.Context, name string, in autorefresh.NewItem) (it autorefresh.Item, created bool, err error) {
	id, terminal := in.ID, in.Terminal
	data, err := autorefresh.CheckCreate(id, in.Data)
	if err != nil {
		return autorefresh.Item{}, false, err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	// The insert skips an existing item and the read then returns it; if a
	// cycle removed that item in between, the id is free again and the
	// create starts over, so that it never answers 404 for a cache that
	// exists. Each round needs a removal to lose, so a few suffice.
	for range createAttempts {
		it, created, err = s.createOnce(ctx, name, id, data, terminal)
		if !errors.Is(err, errItemVanished) {
			return it, created, err
		}
	}
	return autorefresh.Item{}, false, errs.Errorf(errs.Unavailable, "item %q was removed and created again concurrently; try again", id)
}

// createAttempts bounds CreateItem's rounds (see there).
const createAttempts = 4

// errItemVanished says that the item a create found had gone by the time it
// was read.
var errItemVanished = errors.New("the existing item was removed concurrently")

// createOnce is one round of CreateItem.
func (s *Service) createOnce(ctx context.Context, name, id string, data json.RawMessage, terminal bool) (autorefresh.Item, bool, error) {
	full, err := s.items.full(ctx, s)
	if err != nil {
		return autorefresh.Item{}, false, dbErr(err)
	}
	if !full {
		// A new item is due at once with syncOnCreate, else after a
		// jittered resync period.
		it, err := scanItem(s.pool.QueryRow(ctx, `
			INSERT INTO items (cache, id, data, terminal, version, created_at, updated_at, next_sync_at, last_used_at)
			SELECT c.name, $2, $3, $4, 1, now(), now(),
			       CASE WHEN c.sync_on_create THEN now() ELSE now() + c.resync_period * (0.9 + 0.2 * random()) END,
			       now()
			FROM caches c WHERE c.name = $1
			ON CONFLICT (cache, id) DO NOTHING
			RETURNING `+itemCols, name, id, []byte(data), terminal))
		switch {
		case err == nil:
			s.items.created()
			if w := s.worker(name); w != nil && !it.Terminal {
				w.pokeCreated() // sync-on-create without waiting for the next poll
			}
			return it, true, nil
		case isForeignKeyViolation(err):
			// The cache was deleted after the insert read it: the create
			// comes after the delete.
			return autorefresh.Item{}, false, cacheNotFound(name)
		case !errors.Is(err, pgx.ErrNoRows):
			return autorefresh.Item{}, false, dbErr(err)
		}
	}
	// The item exists (or the cache does not, or the server is full).
	it, err := s.readItem(ctx, name, id, true)
	if err == nil {
		return it, false, nil
	}
	if errs.CodeOf(err) == errs.NotFound && s.cacheExists(ctx, name) == nil {
		if full {
			return autorefresh.Item{}, false, errs.Errorf(errs.Capacity,
				"the server holds its maximum of %d items; delete some first", s.opts.MaxItems)
		}
		return autorefresh.Item{}, false, errItemVanished
	}
	return autorefresh.Item{}, false, err
}

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
	it, err := scanItem(s.pool.QueryRow(ctx, "SELECT "+itemCols+" FROM items WHERE cache = $1 AND id = $2", name, id))
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
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Losing these to a crash costs nothing worth an fsync.
		if _, err := tx.Exec(ctx, "SELECT set_config('synchronous_commit', 'off', true)"); err != nil {
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
	it, err := scanItem(s.pool.QueryRow(ctx,
		"UPDATE items SET pending_delete = true WHERE cache = $1 AND id = $2 RETURNING "+itemCols, name, id))
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
// opaque cursor, optionally only terminal (or non-terminal) ones, of at most
// limit items and autorefresh.MaxPageBytes, and the cursor of the next page
// ("" at the end). Cursors are the domain's.
//
// The byte cut is made in the query, so that the data of the items left out
// never leaves PostgreSQL: a running sum of autorefresh.ItemBytes (with the
// data's text length, which is at least its compacted JSON) marks which rows
// fit, and the one row after the last that fits comes without its data, only
// to say that there is more.
func (s *Service) ListItems(ctx context.Context, name, cursor string, limit int, f autorefresh.Filter) ([]autorefresh.Item, string, error) {
	terminal := f.Terminal
	after, err := autorefresh.ParsePage(cursor, limit)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT id, CASE WHEN fits THEN data END, terminal, version,
			created_at, updated_at, synced_at, pending_delete, fits
		FROM (SELECT *, n <= $5 AND (n = 1 OR run <= $6) AS fits FROM (
			SELECT `+itemCols+`, row_number() OVER w AS n,
				sum(`+strconv.Itoa(autorefresh.ItemBytes("", 0))+` + octet_length(id) + octet_length(data::text)) OVER w AS run,
				octet_length(id) + octet_length(data::text) AS size
			FROM items
			WHERE cache = $1 AND id > $2 AND ($3::boolean IS NULL OR terminal = $3)
			WINDOW w AS (ORDER BY id ROWS UNBOUNDED PRECEDING)
			ORDER BY id LIMIT $4) p) q
		WHERE n <= 2 OR run - size - `+strconv.Itoa(autorefresh.ItemBytes("", 0))+` <= $6
		ORDER BY id`, name, after, terminal, limit+1, limit, autorefresh.MaxPageBytes)
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
		r       record.Record
		data    []byte
		synced  *time.Time
		pending bool
		fits    bool
	)
	if err := row.Scan(&r.ID, &data, &r.Terminal, &r.Version, &r.CreatedAt, &r.UpdatedAt, &synced, &pending, &fits); err != nil {
		return autorefresh.Item{}, false, err
	}
	if !fits {
		return autorefresh.Item{}, false, nil
	}
	r.Data = json.RawMessage(data)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	it := autorefresh.Item{Record: &r, PendingDelete: pending}
	if synced != nil {
		t := synced.UTC()
		it.SyncedAt = &t
	}
	return it, true, nil
}

// itemCounter enforces Options.MaxItems approximately. Counting every row
// at every create would cost too much, so the count is taken at most once a
// second, and this replica's creates since are added to it. Other
// replicas' creates within that second are not seen, so the total can go
// past the cap by what the other replicas create in one second. Above a
// million items the count is the planner's estimate (pg_class.reltuples,
// kept by autovacuum and ANALYZE) rather than count(*).
type itemCounter struct {
	max int64

	mu    sync.Mutex
	at    time.Time
	count int64
	since int64 // this replica's creates since at
}

const itemCountTTL = time.Second

func (c *itemCounter) full(ctx context.Context, s *Service) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > itemCountTTL {
		var n int64
		err := s.pool.QueryRow(ctx, `SELECT CASE WHEN reltuples < 1000000 THEN (SELECT count(*) FROM items)
			ELSE reltuples::bigint END FROM pg_class WHERE oid = 'items'::regclass`).Scan(&n)
		if err != nil {
			return false, err
		}
		c.at, c.count, c.since = time.Now(), n, 0
	}
	return c.count+c.since >= c.max, nil
}

func (c *itemCounter) created() {
	c.mu.Lock()
	c.since++
	c.mu.Unlock()
}

// errPending is what the per-item controls answer until the PostgreSQL
// mode implements them.
var errPending = errs.Errorf(errs.Unavailable, "not available in this build yet")

// CreateItems implements autorefresh.Service.
func (s *Service) CreateItems(context.Context, string, []autorefresh.NewItem) ([]autorefresh.Created, error) {
	return nil, errPending
}

// PatchItem implements autorefresh.Service.
func (s *Service) PatchItem(context.Context, string, string, autorefresh.Patch) (autorefresh.Item, error) {
	return autorefresh.Item{}, errPending
}

// RetryItem implements autorefresh.Service.
func (s *Service) RetryItem(context.Context, string, string, time.Duration) (autorefresh.Item, error) {
	return autorefresh.Item{}, errPending
}

// SetPaused implements autorefresh.Service.
func (s *Service) SetPaused(context.Context, string, bool) (autorefresh.Info, error) {
	return autorefresh.Info{}, errPending
}
