package backend_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/internal/store"
)

// BenchmarkRestart measures what a restart of the embedded durable mode
// costs with many items in the file: Open (the bbolt walk, decoding every
// record, building each cache's engine) and Close; and, once open, the live
// heap per item, and the file's size per item. The items are those of
// cmd/bench-e2e (small JSON data, never synced). BENCH_RESTART_ITEMS sets
// how many (default 1,000,000).
//
//	go test -run '^$' -bench BenchmarkRestart -benchtime 3x ./internal/backend/
func BenchmarkRestart(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("BENCH_RESTART_ITEMS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	fill(b, dir, n)
	ctx := context.Background()
	var heap uint64
	var open, close time.Duration
	for b.Loop() {
		t0 := time.Now()
		bk, err := backend.Open(ctx, options(func(o *backend.Options) { o.DataDir = dir }))
		if err != nil {
			b.Fatal(err)
		}
		open += time.Since(t0)
		b.StopTimer()
		heap = liveHeap()
		b.StartTimer()
		t0 = time.Now()
		bk.Close()
		close += time.Since(t0)
	}
	b.ReportMetric(float64(heap)/float64(n), "heapB/item")
	if fi, err := os.Stat(filepath.Join(dir, store.FileName)); err == nil {
		b.ReportMetric(float64(fi.Size())/float64(n), "fileB/item")
	}
	b.ReportMetric(open.Seconds()/float64(b.N), "open-s/op")
	b.ReportMetric(close.Seconds()/float64(b.N), "close-s/op")
}

// fill writes a cache "rss" with n items into a data file in dir, as
// cmd/bench-e2e's bulk creates would leave it.
func fill(b *testing.B, dir string, n int) {
	b.Helper()
	db, err := store.OpenBolt(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	c := jobs("http://127.0.0.1:1/sync")
	c.Size = 5_000_000
	cfg, err := json.Marshal(c)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := db.Apply(ctx, []store.Mutation{{Op: store.PutCache, Cache: "rss", Config: cfg}}); err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	const batch = 10_000
	for i := 0; i < n; i += batch {
		ms := make([]store.Mutation, 0, batch)
		for k := i; k < min(n, i+batch); k++ {
			id := "r" + strconv.Itoa(k/1000) + "-" + strconv.Itoa(k%1000)
			data := `{"status":"running","n":` + strconv.Itoa(k%1000) + `}`
			ms = append(ms, store.Mutation{Op: store.PutItem, Cache: "rss", Item: &record.Record{
				ID: id, Data: json.RawMessage(data), Version: 1, CreatedAt: now, UpdatedAt: now, State: record.StateActive,
			}})
		}
		if err := db.Apply(ctx, ms); err != nil {
			b.Fatal(err)
		}
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
