package replicated

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/pgtest"
)

// TestDeleteCacheWhileSyncing: deleting a cache whose many items are being
// synced without pause succeeds every time. The cascade delete of the items
// and the batched write-backs lock many item rows each; unless they take
// them in one order, PostgreSQL picks one of them as a deadlock victim
// (40P01), and the delete answered 503.
func TestDeleteCacheWhileSyncing(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 20,000 items per round")
	}
	url := pgtest.NewDB(t)
	var synced atomic.Int64
	up := noContentUpstream(t, &synced)
	s, _ := startService(t, testOptions(t, url))
	ctx := ctxFor(t, 3*time.Minute)
	cfg := testCfg(up.URL, 10*time.Millisecond, 5*time.Second)
	cfg.BatchSize, cfg.Parallelism, cfg.Size = 100, 10, 1000000
	cfg.RateLimit.QPS, cfg.RateLimit.Burst = 1000000, 1000000
	const items, rounds = 20000, 5
	for round := range rounds {
		if _, err := s.Put(ctx, "jobs", cfg); err != nil {
			t.Fatal(err)
		}
		if err := pgtest.Exec(ctx, url, `INSERT INTO items (cache, id, data, created_at, updated_at, next_sync_at, last_used_at)
			SELECT 'jobs', 'item-' || g, '{"status": "running"}', now(), now(), now(), now() FROM generate_series(1, $1) g`, items); err != nil {
			t.Fatal(err)
		}
		// Twenty batches synced: the loop is at full speed, with
		// write-backs in flight.
		from := synced.Load()
		pollUntil(t, "syncs under way", 2*time.Minute, func() bool { return synced.Load()-from >= 2000 })
		if err := s.Delete(ctx, "jobs"); err != nil {
			t.Fatalf("round %d: Delete: %v", round, err)
		}
		if _, err := s.Info(ctx, "jobs"); errs.CodeOf(err) != errs.NotFound {
			t.Fatalf("round %d: Info after Delete: %v, want not found", round, err)
		}
	}
}
