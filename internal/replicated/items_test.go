package replicated

import (
	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/pgtest"
)

// TestReadsMoveLastUsedAt: a GET records the use, and the next flush moves
// last_used_at (the LRU order of the size bound), at most once a second.
func TestReadsMoveLastUsedAt(t *testing.T) {
	url := pgtest.NewDB(t)
	s := newService(t, url)
	ctx := ctxFor(t, 30*time.Second)
	if _, err := s.Put(ctx, "jobs", testCfg("http://127.0.0.1:1/sync", time.Hour, time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"read", "unread"} {
		if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: id, Data: nil, Terminal: false}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pgtest.Exec(ctx, url, "UPDATE items SET last_used_at = now() - interval '1 hour'"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetItem(ctx, "jobs", "read"); err != nil {
		t.Fatal(err)
	}
	if err := s.flushTouches(ctx); err != nil {
		t.Fatal(err)
	}
	var read, unread time.Duration
	if err := s.pool.QueryRow(ctx, `SELECT
		extract(epoch FROM now() - (SELECT last_used_at FROM items WHERE id = 'read')) * 1e9,
		extract(epoch FROM now() - (SELECT last_used_at FROM items WHERE id = 'unread')) * 1e9`).Scan(&read, &unread); err != nil {
		t.Fatal(err)
	}
	if read > time.Minute || unread < 59*time.Minute {
		t.Fatalf("last used: read %s ago, unread %s ago", read, unread)
	}
	if err := s.flushTouches(ctx); err != nil { // nothing recorded: no statement
		t.Fatal(err)
	}
}

// TestDataPostgreSQLRefusesIsInvalid: jsonb cannot hold \u0000; that is the
// client's INVALID, not a 500.
func TestDataPostgreSQLRefusesIsInvalid(t *testing.T) {
	url := pgtest.NewDB(t)
	s := newService(t, url)
	ctx := ctxFor(t, 30*time.Second)
	if _, err := s.Put(ctx, "jobs", testCfg("http://127.0.0.1:1/sync", time.Hour, time.Second)); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "nul", Data: []byte(`{"s": "a\u0000b"}`), Terminal: false})
	if errs.CodeOf(err) != errs.Invalid {
		t.Fatalf("\\u0000 in data: %v (code %s), want INVALID", err, errs.CodeOf(err))
	}
}
