package replicated

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/autorefresh/autorefresh/internal/pgtest"
	"github.com/autorefresh/autorefresh/internal/record"
)

// TestItemsStoredBeforeStatesGetTheirState: migration 0004 gives the items
// of an older schema the state their terminal flag says, and no deadline.
func TestItemsStoredBeforeStatesGetTheirState(t *testing.T) {
	url := pgtest.NewDB(t)
	ctx := ctxFor(t, 30*time.Second)
	ms, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate(ctx, pool, ms[:3]); err != nil {
		t.Fatal(err)
	}
	pool.Close()
	if err := pgtest.Exec(ctx, url, `
		INSERT INTO caches (name, config, resync_period, sync_on_create)
			VALUES ('jobs', '{"webhook": {"url": "http://127.0.0.1:1/sync"}}', '1 hour', true);
		INSERT INTO items (cache, id, data, terminal, version, created_at, updated_at, next_sync_at, last_used_at) VALUES
			('jobs', 'live', '{}', false, 3, now(), now(), now(), now()),
			('jobs', 'done', '{}', true, 5, now(), now(), now(), now())`); err != nil {
		t.Fatal(err)
	}
	s := newService(t, url)
	for id, want := range map[string]record.State{"live": record.StateActive, "done": record.StateCompleted} {
		it, err := s.GetItem(ctx, "jobs", id)
		if err != nil {
			t.Fatal(err)
		}
		if it.State != want || it.Attempts != 0 || it.LastError != "" || !it.ExpiresAt.IsZero() {
			t.Fatalf("%s after the upgrade: %+v", id, *it.Record)
		}
	}
	if in, err := s.Info(ctx, "jobs"); err != nil || in.Paused {
		t.Fatalf("paused after the upgrade: %v, %v", in.Paused, err)
	}
}
