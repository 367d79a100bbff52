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

// BenchmarkPGClaimScale measures the claim of a batch of 100 (the real
// claim statement, worker.claim) as the items table grows: 100k, 1M and 10M
// rows by default (CLAIM_SCALE_ROWS, comma-separated, ascending). Each stage
// adds rows with COPY until the table holds its count, then runs
// CLAIM_SCALE_CLAIMS claims (default 500, after 20 not counted) and
// reports their p50, p99 and max. Every stage loads exactly the due rows
// its claims take, so the due set is the same size at every stage and only
// the table grows around it:
// a third of the rows are terminal (outside the claim's partial index), the
// rest active and due at some time in the next two hours. The rows are all
// in one cache, the worst case for an index led by the cache. Each
// sub-benchmark runs once whatever b.N is. 10M rows take a few GB of disk
// and minutes to load; the database is dropped at the end.
//
//	go test -run '^$' -bench BenchmarkPGClaimScale -benchtime 1x -timeout 60m ./internal/replicated/
func BenchmarkPGClaimScale(b *testing.B) {
	pgtest.SkipIfUnavailable(b)
	stages := []int{100_000, 1_000_000, 10_000_000}
	if v := os.Getenv("CLAIM_SCALE_ROWS"); v != "" {
		stages = stages[:0]
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("CLAIM_SCALE_ROWS: %q is not a positive count", f)
			}
			stages = append(stages, n)
		}
	}
	claims := 500
	if v := os.Getenv("CLAIM_SCALE_CLAIMS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("CLAIM_SCALE_CLAIMS: %q is not a positive count", v)
		}
		claims = n
	}
	url := pgtest.NewDB(b)
	s := newService(b, url)
	ctx := ctxFor(b, 60*time.Minute)
	cfg := testCfg("http://127.0.0.1:1/sync", time.Hour, 30*time.Second)
	cfg.BatchSize = 100
	if _, err := s.Put(ctx, "big", cfg); err != nil {
		b.Fatal(err)
	}
	w, err := s.newWorker("big", 1, time.Time{}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	loaded := 0
	for _, rows := range stages {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			// A few claims first, not counted, so that the first stage's
			// figures are not those of a cold cache and a fresh plan.
			const warm = 20
			due := (warm + claims) * cfg.BatchSize
			if rows-loaded < due {
				b.Skipf("a stage must add at least the %d due rows its claims take", due)
			}
			start := time.Now()
			if err := loadItems(ctx, s, "big", loaded, rows-loaded, due); err != nil {
				b.Fatal(err)
			}
			loaded = rows
			b.Logf("%d rows in the table (%s to load and analyze)", rows, time.Since(start).Round(time.Second))
			took := make([]time.Duration, 0, claims)
			got := 0
			for c := range warm + claims {
				t0 := time.Now()
				batch, expired, err := w.claim(ctx)
				if c >= warm {
					took = append(took, time.Since(t0))
				}
				if err != nil {
					b.Fatal(err)
				}
				got += len(batch) + len(expired)
			}
			if got != due {
				b.Fatalf("the claims took %d items, want the %d due", got, due)
			}
			slices.Sort(took)
			q := func(p float64) float64 {
				return float64(took[min(len(took)-1, int(p*float64(len(took))))].Microseconds()) / 1000
			}
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
		})
	}
}

// loadItems adds n rows to cache with COPY, numbered from first: due of
// them due now, a third of the others terminal, the rest due later. The
// notify trigger is off during the load (ten million notifications would
// fill PostgreSQL's queue and tell no one anything), and the table is
// analyzed after it, as autovacuum would before long.
func loadItems(ctx context.Context, s *Service, cache string, first, n, due int) error {
	if _, err := s.pool.Exec(ctx, "ALTER TABLE items DISABLE TRIGGER items_notify_insert"); err != nil {
		return err
	}
	now := time.Now().UTC()
	data := []byte(`{"status":"Started","attempt":3}`)
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		k := first + i
		next, terminal, state := now.Add(time.Minute+time.Duration(k%7200)*time.Second), false, 1
		switch {
		case i < due:
			next = now.Add(-time.Second)
		case k%3 == 0:
			terminal, state = true, 2
		}
		i++
		return []any{cache, "item-" + strconv.Itoa(k), data, terminal, state, int64(2), now, now, next, now}, nil
	})
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"items"},
		[]string{"cache", "id", "data", "terminal", "state", "version", "created_at", "updated_at", "next_sync_at", "last_used_at"}, src)
	if _, e := s.pool.Exec(ctx, "ALTER TABLE items ENABLE TRIGGER items_notify_insert"); err == nil {
		err = e
	}
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, "ANALYZE items")
	return err
}
