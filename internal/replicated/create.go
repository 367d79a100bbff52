package replicated

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
)

// CreateItem is GetOrCreate: it inserts a new item at version 1, or
// returns the existing one unchanged. created says which; of concurrent
// creates of one id, on any replicas, exactly one is created. It is
// CreateItems of one entry, written together with the other creates of
// the cache that arrive meanwhile (createGrouped).
func (s *Service) CreateItem(ctx context.Context, name string, in autorefresh.NewItem) (autorefresh.Item, bool, error) {
	out, err := s.createGrouped(ctx, name, in)
	if err != nil {
		return autorefresh.Item{}, false, err
	}
	return out.Item, out.Created, out.Err
}

// CreateItems creates 1 to autorefresh.MaxBatchCreate items, each as
// CreateItem would, in one statement: INSERT ... SELECT FROM unnest(...)
// ON CONFLICT DO NOTHING for the new ones, with the existing ones read in
// the same statement. An entry that does not validate, or that the item
// cap leaves out, gets its own error; the others go on.
//
// The records are autorefresh.NewRecord's, so that a deadline is set as in
// the embedded mode. That needs the cache's config: this replica keeps
// each cache's last read (configs), and the statement inserts only if the
// cache is still that registration at that generation; if not, the
// config is read again and the statement run again.
func (s *Service) CreateItems(ctx context.Context, name string, in []autorefresh.NewItem) ([]autorefresh.Created, error) {
	if len(in) == 0 || len(in) > autorefresh.MaxBatchCreate {
		return nil, errs.Errorf(errs.Invalid, "items: must be 1 to %d", autorefresh.MaxBatchCreate)
	}
	out := make([]autorefresh.Created, len(in))
	// The first entry of each valid id is created; the others answer
	// as a create right after it would: the same item, not created.
	first := make(map[string]int, len(in))
	var pending []int // indexes of the first entry of each valid id
	data := make([]json.RawMessage, len(in))
	for i, e := range in {
		d, err := autorefresh.CheckCreate(e.ID, e.Data)
		if err == nil {
			err = autorefresh.CheckTTL(e.TTL)
		}
		if err != nil {
			out[i].Err = err
			continue
		}
		if _, dup := first[e.ID]; dup {
			continue
		}
		first[e.ID], data[i] = i, d
		pending = append(pending, i)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	// A round inserts what is new and reads what exists. An entry neither
	// inserted nor read was created by someone else after the statement's
	// snapshot, or removed by a cycle after it: the next round finds it.
	// Each round needs such a race to lose, so a few suffice.
	for round := 0; len(pending) > 0; round++ {
		if round == createAttempts {
			for _, i := range pending {
				out[i].Err = errs.Errorf(errs.Unavailable, "item %q was removed and created again concurrently; try again", in[i].ID)
			}
			break
		}
		var err error
		pending, err = s.createRound(ctx, name, in, data, pending, out)
		if err != nil {
			return nil, err
		}
	}
	for i, e := range in {
		if j, ok := first[e.ID]; ok && j < i && out[i].Err == nil {
			out[i] = autorefresh.Created{Item: out[j].Item, Err: out[j].Err}
		}
	}
	return out, nil
}

// createAttempts bounds CreateItems' rounds (see there).
const createAttempts = 4

// createRound is one round of CreateItems for the entries pending; it
// fills their results in out and returns those still pending.
func (s *Service) createRound(ctx context.Context, name string, in []autorefresh.NewItem, data []json.RawMessage, pending []int, out []autorefresh.Created) ([]int, error) {
	room, err := s.items.room(ctx, s)
	if err != nil {
		return nil, dbErr(err)
	}
	for range createAttempts {
		reg, err := s.configs.get(ctx, s, name)
		if err != nil {
			return nil, err
		}
		now := time.Now().UTC()
		n := len(pending)
		var (
			ids      = make([]string, n)
			datas    = make([]string, n)
			terminal = make([]bool, n)
			states   = make([]int16, n)
			times    = make([]time.Time, n)
			expires  = make([]*time.Time, n)
		)
		for k, i := range pending {
			rec := autorefresh.NewRecord(in[i], data[i], reg.cfg, now)
			ids[k], datas[k], terminal[k], states[k], times[k] = rec.ID, string(rec.Data), rec.Terminal, int16(rec.State), rec.CreatedAt
			if !rec.ExpiresAt.IsZero() {
				expires[k] = &rec.ExpiresAt
			}
		}
		var got map[string]autorefresh.Created
		var created int
		err = retryTx(ctx, func() error {
			got, created, err = s.insertItems(ctx, name, reg, ids, datas, terminal, states, times, expires, room)
			return err
		})
		if isForeignKeyViolation(err) {
			// The cache was deleted after the insert read it: the
			// create comes after the delete.
			return nil, cacheNotFound(name)
		}
		if err != nil {
			return nil, dbErr(err)
		}
		if len(got) == 0 && !s.configs.check(ctx, s, name, reg) {
			// The cache is gone or was changed since this replica read
			// its config: read it again.
			continue
		}
		if created > 0 {
			s.items.created(created)
			if w := s.worker(name); w != nil {
				w.pokeCreated() // sync-on-create without waiting for the next poll
			}
		}
		var left []int
		for k, i := range pending {
			c, ok := got[ids[k]]
			switch {
			case ok:
				out[i] = c
			case int64(created) >= room:
				out[i].Err = errs.Errorf(errs.Capacity, "the server holds its maximum of %d items; delete some first", s.opts.MaxItems)
			default:
				left = append(left, i)
			}
		}
		return left, nil
	}
	return nil, errs.Errorf(errs.Unavailable, "cache %q changed repeatedly during the create; try again", name)
}

// insertItems runs createQuery and returns the items it inserted or read,
// by id, and how many it inserted.
func (s *Service) insertItems(ctx context.Context, name string, reg registration, ids, datas []string, terminal []bool,
	states []int16, times []time.Time, expires []*time.Time, room int64) (map[string]autorefresh.Created, int, error) {
	rows, err := s.pool.Query(ctx, createQuery, name, reg.createdAt, reg.gen, ids, datas, terminal, states, times, expires, room)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	got := make(map[string]autorefresh.Created, len(ids))
	created := 0
	for rows.Next() {
		var (
			x   itemRow
			new bool
		)
		if err := rows.Scan(append([]any{&new}, x.dest()...)...); err != nil {
			return nil, 0, err
		}
		it := x.item()
		got[it.ID] = autorefresh.Created{Item: it, Created: new}
		if new {
			created++
		}
	}
	return got, created, rows.Err()
}

// createQuery is CreateItems' statement. c is the cache if it is still the
// registration the records were made for ($2, $3); u the entries in
// request order. At most $10 (the room left under the item cap) of those
// that do not exist are inserted. A new item is due at once with
// syncOnCreate, else after a jittered resync period, and never after its
// deadline. The existing items come from the statement's snapshot, which
// does not see the rows it inserts.
const createQuery = `
	WITH c AS (
		SELECT name, paused, sync_on_create, resync_period FROM caches
		WHERE name = $1 AND created_at = $2 AND generation = $3),
	u AS (
		SELECT * FROM unnest($4::text[], $5::jsonb[], $6::boolean[], $7::smallint[], $8::timestamptz[], $9::timestamptz[])
			WITH ORDINALITY AS u(id, data, terminal, state, ts, expires_at, ord)),
	ins AS (
		INSERT INTO items (cache, id, data, terminal, state, version, created_at, updated_at, expires_at, next_sync_at, last_used_at)
		SELECT c.name, u.id, u.data, u.terminal, u.state, 1, u.ts, u.ts, u.expires_at,
		       least(CASE WHEN c.sync_on_create THEN now() ELSE now() + c.resync_period * (0.9 + 0.2 * random()) END, u.expires_at),
		       now()
		FROM c, (SELECT * FROM u WHERE NOT EXISTS (SELECT 1 FROM items e WHERE e.cache = $1 AND e.id = u.id)
		         ORDER BY ord LIMIT $10) u
		ON CONFLICT (cache, id) DO NOTHING
		RETURNING *)
	SELECT true, ` + itemCols + ` FROM ins i, c
	UNION ALL
	SELECT false, ` + itemCols + ` FROM items i, c WHERE i.cache = $1 AND i.id = ANY($4)`

// registration is a cache's config as this replica last read it, with
// what names that registration: its creation time and generation (a cache
// deleted and registered again starts its generations over).
type registration struct {
	createdAt time.Time
	gen       int64
	cfg       autorefresh.Config
}

// configs are the caches' registrations as this replica last read them,
// for the creates. The reconcile loop refreshes them; a create that finds
// one out of date reads it again.
type configs struct {
	mu sync.Mutex
	m  map[string]registration
}

func (c *configs) set(name string, r registration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]registration)
	}
	c.m[name] = r
}

func (c *configs) drop(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, name)
}

// get returns the registration of a cache, read if this replica has none.
func (c *configs) get(ctx context.Context, s *Service, name string) (registration, error) {
	c.mu.Lock()
	r, ok := c.m[name]
	c.mu.Unlock()
	if ok {
		return r, nil
	}
	var b []byte
	err := s.pool.QueryRow(ctx, "SELECT created_at, generation, config FROM caches WHERE name = $1", name).Scan(&r.createdAt, &r.gen, &b)
	if errors.Is(err, pgx.ErrNoRows) {
		return registration{}, cacheNotFound(name)
	}
	if err != nil {
		return registration{}, dbErr(err)
	}
	if err := json.Unmarshal(b, &r.cfg); err != nil {
		return registration{}, errs.Wrap(errs.Internal, err, "cache: stored config does not decode")
	}
	r.cfg = r.cfg.WithDefaults()
	c.set(name, r)
	return r, nil
}

// check reports whether r is still the cache's registration; if not, it
// forgets it, so that get reads it again. A database error counts as a
// change: get then reports it.
func (c *configs) check(ctx context.Context, s *Service, name string, r registration) bool {
	var same bool
	err := s.pool.QueryRow(ctx, "SELECT created_at = $2 AND generation = $3 FROM caches WHERE name = $1",
		name, r.createdAt, r.gen).Scan(&same)
	if err == nil && same {
		return true
	}
	c.drop(name)
	return false
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

// room returns how many items may still be created (0 or more).
func (c *itemCounter) room(ctx context.Context, s *Service) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > itemCountTTL {
		var n int64
		err := s.pool.QueryRow(ctx, `SELECT CASE WHEN reltuples < 1000000 THEN (SELECT count(*) FROM items)
			ELSE reltuples::bigint END FROM pg_class WHERE oid = 'items'::regclass`).Scan(&n)
		if err != nil {
			return 0, err
		}
		c.at, c.count, c.since = time.Now(), n, 0
	}
	return max(c.max-c.count-c.since, 0), nil
}

func (c *itemCounter) created(n int) {
	c.mu.Lock()
	c.since += int64(n)
	c.mu.Unlock()
}
