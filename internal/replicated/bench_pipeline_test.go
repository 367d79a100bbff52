package replicated

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/pgtest"
)

// BenchmarkSyncPipeline measures, in this process, the items per second
// one replica syncs through claim → webhook call → write-back, as
// BenchmarkPGSyncThroughput does with the real server: 20,000 items always
// due, batchSize 100, parallelism 10, an upstream answering 204 at once.
// In process, so that -cpuprofile, -mutexprofile and -blockprofile see the
// replica's side. It runs one window whatever b.N is (BENCH_WINDOW,
// default 10s). PGBENCH_URL points it at a database of your own (one with
// pg_stat_statements loaded, say) instead of the test cluster.
func BenchmarkSyncPipeline(b *testing.B) {
	url := os.Getenv("PGBENCH_URL")
	if url == "" {
		url = pgtest.NewDB(b)
	}
	var synced atomic.Int64
	up := noContentUpstream(b, &synced)
	s, stop := startService(b, testOptions(b, url))
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := testCfg(up.URL, 10*time.Millisecond, 5*time.Second)
	cfg.BatchSize, cfg.Parallelism, cfg.Size = 100, 10, 1000000
	cfg.RateLimit.QPS, cfg.RateLimit.Burst = 1000000, 1000000
	if _, err := s.Put(ctx, "jobs", cfg); err != nil {
		b.Fatal(err)
	}
	const items = 20000
	if err := pgtest.Exec(ctx, url, `INSERT INTO items (cache, id, data, created_at, updated_at, next_sync_at, last_used_at)
		SELECT 'jobs', 'item-' || g, '{"status": "running"}', now(), now(), now(), now() FROM generate_series(1, $1) g`, items); err != nil {
		b.Fatal(err)
	}
	window := benchWindow()
	time.Sleep(2 * time.Second) // warm up
	b.ResetTimer()
	start, t0 := synced.Load(), time.Now()
	time.Sleep(window)
	rate := float64(synced.Load()-start) / time.Since(t0).Seconds()
	b.StopTimer()
	b.ReportMetric(rate, "items/s")
	b.ReportMetric(0, "ns/op")
}
