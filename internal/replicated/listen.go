package replicated

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/record"
)

// notifyChannel is the one LISTEN/NOTIFY channel; see migrations/0001.
const notifyChannel = "autorefresh"

// note is one notification's payload.
type note struct {
	Kind    string `json:"k"`           // "c" cache, "i" item, "s" sync asked for; "l" (local only) events lost
	Cache   string `json:"c"`           // cache name
	ID      string `json:"i,omitempty"` // item id
	Version int64  `json:"v,omitempty"` // item version after the change
	Type    string `json:"t,omitempty"` // created, updated, deleted, evicted
	Gen     int64  `json:"g,omitempty"` // cache generation; 0 when deleted
	// The whole item, for a created or updated item of at most 7000 bytes.
	Full      bool            `json:"full,omitempty"`
	Terminal  bool            `json:"term,omitempty"`
	CreatedAt time.Time       `json:"ca,omitzero"`
	UpdatedAt time.Time       `json:"ua,omitzero"`
	Data      json.RawMessage `json:"d,omitempty"`
	State     int16           `json:"st,omitempty"`
	Attempts  int32           `json:"at,omitempty"`
	LastError string          `json:"le,omitempty"`
	ExpiresAt *time.Time      `json:"ex,omitempty"`
}

func notePayload(kind, cacheName string) string {
	b, _ := json.Marshal(note{Kind: kind, Cache: cacheName})
	return string(b)
}

// listenLoop keeps a dedicated connection LISTENing, and makes it again,
// with backoff, whenever it is lost. It starts with first, if Start could
// make it. It returns only when ctx ends.
func (s *Service) listenLoop(ctx context.Context, first *pgx.Conn) {
	var bo backoff
	for again := false; ; again = true {
		conn, err := first, error(nil)
		first = nil
		if conn == nil {
			conn, err = s.dialListen(ctx)
		}
		if err == nil {
			bo.reset()
			err = s.listen(ctx, conn, again)
		}
		if ctx.Err() != nil {
			return
		}
		s.metrics.reconnects.Inc()
		if !bo.wait(ctx, s.log, "LISTEN connection lost; reconnecting", zapErr(err)) {
			return
		}
	}
}

// dialListen makes a connection of its own and LISTENs on it.
func (s *Service) dialListen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// listen serves one LISTEN connection until it fails or ctx ends, and
// closes it. again says that an earlier connection was lost.
func (s *Service) listen(ctx context.Context, conn *pgx.Conn, again bool) error {
	defer closeConn(conn)
	// Whatever changed while nobody listened: the reconcile re-reads the
	// caches. Item events of that gap are lost, and the watchers are told
	// so, after the events from before it.
	s.kickReconcile()
	if again && s.opts.OnEvent != nil {
		select {
		case s.notes <- note{Kind: "l"}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var nt note
		if err := json.Unmarshal([]byte(n.Payload), &nt); err != nil {
			s.log.Warn("notification not understood", zap.String("payload", n.Payload))
			continue
		}
		s.handleNote(ctx, nt)
	}
}

func (s *Service) handleNote(ctx context.Context, nt note) {
	switch nt.Kind {
	case "c":
		s.kickReconcile()
	case "s":
		if w := s.worker(nt.Cache); w != nil {
			w.poke()
		}
	case "i":
		if nt.Type == "created" {
			if w := s.worker(nt.Cache); w != nil {
				w.pokeCreated() // sync-on-create of an item made on another replica
			}
		}
		if s.opts.OnEvent != nil {
			select {
			case s.notes <- nt:
			case <-ctx.Done():
			}
		}
	}
}

// eventLoop turns item notifications into events: it re-reads the created
// and updated items, many at once, and calls OnEvent in notification
// (commit) order.
func (s *Service) eventLoop(ctx context.Context) {
	const maxBatch = 512
	batch := make([]note, 0, maxBatch)
	ahead := make(map[itemKey]int64)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
		case nt := <-s.notes:
			batch = append(batch, nt)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case nt := <-s.notes:
				batch = append(batch, nt)
			default:
				break more
			}
		}
		s.emit(ctx, batch, ahead)
	}
}

type itemKey struct{ cache, id string }

// emit calls OnEvent for each note of the batch. A note that carries its
// item is reported with it; the others' items are re-read, many at once: an
// update whose item has moved on (or gone) since is then skipped, as the
// later notification carries the newer state, and a creation is reported
// with the item as it now is. Deletions and evictions carry no item.
//
// A creation reported as the item now is may be ahead of notifications
// still to come: of the updates committed between the creation and the
// read, whose notes carry their item (small ones do) and so are not
// skipped as moved on. ahead keeps, across batches, the version each such
// creation was reported at, and the updates up to it are skipped, so that
// an item's events never go back in version. An entry goes once the note
// of that version (or the item's deletion) has come.
func (s *Service) emit(ctx context.Context, batch []note, ahead map[itemKey]int64) {
	var caches, ids []string
	for _, nt := range batch {
		if (nt.Type == "created" || nt.Type == "updated") && !nt.Full {
			caches, ids = append(caches, nt.Cache), append(ids, nt.ID)
		}
	}
	live := make(map[itemKey]*record.Record, len(ids))
	if len(ids) > 0 {
		var bo backoff
		for attempt := 0; ; attempt++ {
			err := s.readLive(ctx, caches, ids, live)
			if err == nil {
				break
			}
			if attempt == 3 || ctx.Err() != nil {
				s.log.Warn("item events dropped: the items could not be read", zap.Int("events", len(ids)), zapErr(err))
				s.lost()
				break
			}
			if !sleepCtx(ctx, bo.next()) {
				return
			}
		}
	}
	for _, nt := range batch {
		if nt.Kind == "l" {
			s.lost()
			continue
		}
		ev := autorefresh.Event{ID: nt.ID}
		key := itemKey{nt.Cache, nt.ID}
		if v, ok := ahead[key]; ok {
			if nt.Type == "updated" && nt.Version < v {
				continue // reported already, by the creation
			}
			delete(ahead, key)
			if nt.Type == "updated" && nt.Version == v {
				continue
			}
		}
		switch nt.Type {
		case "created", "updated":
			rec := live[key]
			if nt.Full {
				data := nt.Data
				if len(data) == 0 {
					data = json.RawMessage("null")
				}
				rec = &record.Record{ID: nt.ID, Data: data, Terminal: nt.Terminal, Version: nt.Version,
					CreatedAt: nt.CreatedAt.UTC(), UpdatedAt: nt.UpdatedAt.UTC(),
					State: record.State(nt.State), Attempts: nt.Attempts, LastError: nt.LastError}
				if nt.ExpiresAt != nil {
					rec.ExpiresAt = nt.ExpiresAt.UTC()
				}
			}
			if rec == nil || (nt.Type == "updated" && rec.Version != nt.Version) {
				continue
			}
			ev.Type, ev.Item = autorefresh.EventCreated, rec
			if nt.Type == "updated" {
				ev.Type = autorefresh.EventUpdated
			} else if rec.Version > nt.Version {
				ahead[key] = rec.Version
			}
		case "deleted":
			ev.Type = autorefresh.EventDeleted
		case "evicted":
			ev.Type = autorefresh.EventEvicted
		default:
			continue
		}
		s.opts.OnEvent(nt.Cache, ev)
	}
}

// lost tells OnLost, if set, that item events may have been lost.
func (s *Service) lost() {
	if s.opts.OnLost != nil {
		s.opts.OnLost()
	}
}

func (s *Service) readLive(ctx context.Context, caches, ids []string, into map[itemKey]*record.Record) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT i.cache, `+recordCols+`
		FROM unnest($1::text[], $2::text[]) AS k(cache, id) JOIN items i ON i.cache = k.cache AND i.id = k.id`, caches, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			c string
			x recordRow
		)
		if err := rows.Scan(append([]any{&c}, x.dest()...)...); err != nil {
			return err
		}
		r := x.record()
		into[itemKey{c, r.ID}] = r
	}
	return rows.Err()
}
