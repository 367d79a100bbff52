package replicated

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/autorefresh/autorefresh/internal/pgtest"
)

func TestMigrationsRunOnceUnderConcurrentRunners(t *testing.T) {
	url := pgtest.NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Neither file may run twice: 0001 would fail (the table exists) and
	// 0002 would count twice. The sleep keeps the first runner inside its
	// lock while the second one arrives.
	fsys := fstest.MapFS{
		"m/0001_create.sql": {Data: []byte("CREATE TABLE counter (n int); INSERT INTO counter VALUES (0); SELECT pg_sleep(0.3);")},
		"m/0002_count.sql":  {Data: []byte("UPDATE counter SET n = n + 1;")},
		"m/README":          {Data: []byte("not a migration")},
	}
	ms, err := loadMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].version != 1 || ms[1].version != 2 {
		t.Fatalf("loaded %+v", ms)
	}
	const runners = 3
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		applied  []int64
		errsSeen []error
	)
	for range runners {
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := migrate(ctx, pool, ms)
			mu.Lock()
			defer mu.Unlock()
			applied = append(applied, a...)
			if err != nil {
				errsSeen = append(errsSeen, err)
			}
		}()
	}
	wg.Wait()
	if len(errsSeen) > 0 {
		t.Fatalf("runners failed: %v", errsSeen)
	}
	slices.Sort(applied)
	if !slices.Equal(applied, []int64{1, 2}) {
		t.Fatalf("applied %v, want each version once", applied)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n, rows int
	if err := pool.QueryRow(ctx, "SELECT n, (SELECT count(*) FROM schema_migrations) FROM counter").Scan(&n, &rows); err != nil {
		t.Fatal(err)
	}
	if n != 1 || rows != 2 {
		t.Fatalf("counter %d, schema_migrations rows %d; want 1 and 2", n, rows)
	}
	// A later run applies nothing.
	if a, err := migrate(ctx, pool, ms); err != nil || len(a) != 0 {
		t.Fatalf("second run: applied %v, %v", a, err)
	}
}

func TestEmbeddedMigrationsConcurrentStarts(t *testing.T) {
	url := pgtest.NewDB(t)
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := New(ctx, testOptions(t, url))
			if err == nil {
				s.Close()
			}
			errc <- err
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatalf("concurrent start: %v", err)
		}
	}
	ms, _ := loadMigrations(migrationFiles, "migrations")
	if len(ms) == 0 {
		t.Fatal("no embedded migrations")
	}
}
