package replicated

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/autorefresh/autorefresh/internal/pgtest"
)

// BenchmarkPGClaimScale measures the claim of a batch of 100 with 100,000
// and 1,000,000 items in the table (CLAIM_SCALE_ROWS, comma-separated, sets
// the sizes: add 10000000 for ten million, which needs about 6 GB of disk),
// to show that its latency does not grow with the table. Each size gets a
// fresh database (PGBENCH_URL's server if set, else the test cluster's),
// loaded with COPY (without triggers, as a restore): one cache of that many items whose next syncs are
// spread evenly over the hour around now, so half of them are due. Then
// CLAIM_SCALE_CLAIMS claims (default 300) are made one after the other,
// as a refresh loop makes them, each timed from the call to its answer
// (round trip and commit included); it reports their p50 and p99.
func BenchmarkPGClaimScale(b *testing.B) {
	sizes := []int{100000, 1000000}
	if env := os.Getenv("CLAIM_SCALE_ROWS"); env != "" {
		sizes = nil
		for _, f := range strings.Split(env, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatalf("CLAIM_SCALE_ROWS: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	claims := 300
	if env := os.Getenv("CLAIM_SCALE_CLAIMS"); env != "" {
		var err error
		if claims, err = strconv.Atoi(env); err != nil {
			b.Fatalf("CLAIM_SCALE_CLAIMS: %v", err)
		}
	}
	for _, rows := range sizes {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			url := benchDB(b)
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			s, err := New(ctx, testOptions(b, url))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			cfg := testCfg("http://127.0.0.1:9/sync", time.Hour, 5*time.Second)
			cfg.BatchSize, cfg.Size = 100, rows
			if _, err := s.Put(ctx, "big", cfg); err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			if err := copyItems(ctx, url, "big", rows); err != nil {
				b.Fatal(err)
			}
			// As the reconcile loop does after a load.
			if err := s.freshenStats(ctx); err != nil {
				b.Fatal(err)
			}
			b.Logf("%d rows loaded in %v", rows, time.Since(t0).Round(time.Millisecond))
			w, err := s.newWorker("big", 1, time.Time{}, cfg)
			if err != nil {
				b.Fatal(err)
			}
			took := make([]time.Duration, 0, claims)
			b.ResetTimer()
			for range claims {
				t := time.Now()
				batch, _, err := w.claim(ctx)
				if err != nil || len(batch) != cfg.BatchSize {
					b.Fatalf("claim: %d items, %v", len(batch), err)
				}
				took = append(took, time.Since(t))
			}
			b.StopTimer()
			slices.Sort(took)
			p50, p99 := took[len(took)/2], took[len(took)*99/100]
			b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(0, "ns/op")
			b.Logf("%d rows: claim of 100: p50 %v, p99 %v, max %v", rows, p50, p99, took[len(took)-1])
		})
	}
}

// benchDB is a fresh database: on PGBENCH_URL's server if set, else on
// the test cluster.
func benchDB(b *testing.B) string {
	base := os.Getenv("PGBENCH_URL")
	if base == "" {
		return pgtest.NewDB(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("bench_%d", time.Now().UnixNano())
	if err := pgtest.Exec(ctx, base, "CREATE DATABASE "+name); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = pgtest.Exec(ctx, base, "DROP DATABASE "+name+" WITH (FORCE)")
	})
	i := strings.LastIndex(base, "/")
	return base[:i+1] + name
}

// copyItems loads n items into cache with COPY, their next syncs spread
// evenly from half an hour ago to half an hour from now.
func copyItems(ctx context.Context, url, cache string, n int) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	// Without the triggers, as a restore loads them: no notification per
	// row (ten million of them would fill the notification queue), no
	// foreign key check per row (the cache was just registered).
	if _, err := conn.Exec(ctx, "SET session_replication_role = replica"); err != nil {
		return err
	}
	now := time.Now()
	i := 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"items"},
		[]string{"cache", "id", "data", "created_at", "updated_at", "next_sync_at", "last_used_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			i++
			next := now.Add(-30*time.Minute + time.Duration(i)*time.Hour/time.Duration(n))
			return []any{cache, "item-" + strconv.Itoa(i), `{"status": "running"}`, now, now, next, now}, nil
		}))
	return err
}
