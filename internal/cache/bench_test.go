package cache_test

// Benchmarks of the engine alone. bench/ (a module of its own) runs the same
// workloads against Flyte's cache side by side; docs/benchmarks.md has the
// numbers and what each benchmark measures. Run these with
//
//	go test -run '^$' -bench . -benchmem ./internal/cache/

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/util/workqueue"

	"github.com/autorefresh/autorefresh/internal/cache"
)

const (
	benchGetItems  = 100_000 // items held while Gets are measured
	benchHotItems  = 1_000   // items held in the Get benchmark that fits in the CPU caches
	benchRollover  = 100_000 // inserts into one cache before it is replaced (untimed)
	benchEvictSize = 100_000 // size bound of the cache that evicts on every insert
	benchCycle     = 100_000 // items in one refresh cycle
	benchBatch     = 100     // items per batch in the refresh cycle
	benchWorkers   = 10      // sync workers in the refresh cycle
	benchMemItems  = 1_000_000
	// benchStride walks the keys in an order the hardware cannot prefetch;
	// it is coprime with every key count above.
	benchStride = 7919
)

type benchItem struct{ state int64 }

func (i *benchItem) IsTerminal() bool { return i.state < 0 }

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("item-%07d", i)
	}
	return keys
}

func benchItems(n int) []cache.Item {
	backing := make([]benchItem, n)
	out := make([]cache.Item, n)
	for i := range out {
		out[i] = &backing[i]
	}
	return out
}

// syncCounter counts the items passed to the SyncFunc and wakes a waiter when
// the count reaches its target: a channel, not a poll, ends each timed op.
type syncCounter struct {
	n, target atomic.Int64
	ch        chan struct{}
}

func newSyncCounter() *syncCounter { return &syncCounter{ch: make(chan struct{}, 1)} }

func (s *syncCounter) sync(_ context.Context, b cache.Batch) ([]cache.ItemSyncResponse, error) {
	v := s.n.Add(int64(len(b)))
	if t := s.target.Load(); t > 0 && v >= t && s.target.CompareAndSwap(t, 0) {
		s.ch <- struct{}{}
	}
	return nil, nil
}

func (s *syncCounter) waitFor(t int64) {
	s.target.Store(t)
	if s.n.Load() >= t && s.target.CompareAndSwap(t, 0) {
		return
	}
	<-s.ch
}

type benchOpts struct {
	size, workers, batch int
	syncOnCreate, start  bool
	counter              *syncCounter
}

// newBenchCache builds a cache as the bench module does (no-throttle limiter,
// resync period that never fires by itself, no metrics registry); stop stops
// it and waits until it has, which TestMain's leak check relies on.
func newBenchCache(b *testing.B, o benchOpts) (*cache.AutoRefreshCache[cache.Item], func()) {
	b.Helper()
	sync := func(context.Context, cache.Batch) ([]cache.ItemSyncResponse, error) { return nil, nil }
	if o.counter != nil {
		sync = o.counter.sync
	}
	batches := cache.SingleItemBatches
	if o.batch > 1 {
		batches = cache.FixedSizeBatches(o.batch)
	}
	c, err := cache.New(cache.Options[cache.Item]{
		Name:                "bench",
		Sync:                sync,
		CreateBatches:       batches,
		RateLimiter:         workqueue.NewTypedItemExponentialFailureRateLimiter[*cache.Batch](0, 0),
		ResyncPeriod:        time.Hour,
		Parallelism:         max(o.workers, 1),
		Size:                o.size,
		DisableSyncOnCreate: !o.syncOnCreate,
	})
	if err != nil {
		b.Fatal(err)
	}
	if !o.start {
		return c, c.Close
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	return c, func() {
		cancel()
		select {
		case <-c.Stopped():
		case <-time.After(30 * time.Second):
			b.Error("cache did not stop within 30s")
		}
	}
}

func benchFill(b *testing.B, c *cache.AutoRefreshCache[cache.Item], keys []string, items []cache.Item) {
	b.Helper()
	for i, k := range keys {
		if _, err := c.GetOrCreate(k, items[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetParallel: Get hits from GOMAXPROCS goroutines on a cache of
// benchGetItems items.
func BenchmarkGetParallel(b *testing.B) { benchGetParallel(b, benchGetItems) }

// BenchmarkGetParallelHot: the same with benchHotItems items, all of which
// stay in the CPU caches: what is left is the cost of synchronisation.
func BenchmarkGetParallelHot(b *testing.B) { benchGetParallel(b, benchHotItems) }

func benchGetParallel(b *testing.B, items int) {
	keys := benchKeys(items)
	c, stop := newBenchCache(b, benchOpts{size: len(keys)})
	defer stop()
	benchFill(b, c, keys, benchItems(len(keys)))
	var seq, misses atomic.Int64
	n := int64(len(keys))
	t := startCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		i, step := (seq.Add(1)*104729)%n, int64(benchStride)%n
		for pb.Next() {
			if _, err := c.Get(keys[i]); err != nil {
				misses.Add(1)
			}
			if i += step; i >= n {
				i -= n
			}
		}
	})
	t.report()
	if m := misses.Load(); m > 0 {
		b.Fatalf("%d Gets missed", m)
	}
}

// BenchmarkGetOrCreate: inserts of new items, one goroutine, sync-on-create
// off, cache not started; the cache is replaced (untimed) every
// benchRollover inserts.
func BenchmarkGetOrCreate(b *testing.B) {
	keys := benchKeys(benchRollover)
	items := benchItems(len(keys))
	o := benchOpts{size: benchRollover}
	c, stop := newBenchCache(b, o)
	j := 0
	t := startCPU(b)
	for range b.N {
		if j == len(keys) {
			t.stop()
			stop()
			c, stop = newBenchCache(b, o)
			j = 0
			t.start()
		}
		if _, err := c.GetOrCreate(keys[j], items[j]); err != nil {
			b.Fatal(err)
		}
		j++
	}
	t.report()
	stop()
}

// BenchmarkGetOrCreateEvict: inserts of new items into a full cache, so that
// every insert evicts the least recently used item.
func BenchmarkGetOrCreateEvict(b *testing.B) {
	keys := benchKeys(2 * benchEvictSize)
	items := benchItems(len(keys))
	c, stop := newBenchCache(b, benchOpts{size: benchEvictSize})
	defer stop()
	benchFill(b, c, keys[:benchEvictSize], items[:benchEvictSize])
	j := benchEvictSize
	t := startCPU(b)
	for range b.N {
		if _, err := c.GetOrCreate(keys[j], items[j]); err != nil {
			b.Fatal(err)
		}
		if j++; j == len(keys) {
			j = 0
		}
	}
	t.report()
	if ev := c.Stats().Evictions; ev != uint64(b.N) {
		b.Fatalf("%d evictions for %d inserts", ev, b.N)
	}
}

// BenchmarkRefreshCycle: a full cycle of benchCycle items in batches of
// benchBatch with benchWorkers workers and a no-op SyncFunc, timed from
// SyncNow() until the SyncFunc has seen every item.
func BenchmarkRefreshCycle(b *testing.B) {
	keys := benchKeys(benchCycle)
	counter := newSyncCounter()
	c, stop := newBenchCache(b, benchOpts{size: benchCycle, workers: benchWorkers, batch: benchBatch, start: true, counter: counter})
	defer stop()
	benchFill(b, c, keys, benchItems(len(keys)))
	t := startCPU(b)
	for range b.N {
		t.stop()
		// Wait until the previous cycle's results are all applied.
		for st := c.Stats(); st.Enqueued != 0 || st.InFlight != 0; st = c.Stats() {
			runtime.Gosched()
		}
		counter.n.Store(0)
		t.start()
		c.SyncNow()
		counter.waitFor(benchCycle)
	}
	t.report()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchCycle, "ns/item")
}

// BenchmarkMemoryPerItem: live heap per item of a cache holding
// benchMemItems items (HeapAlloc after runtime.GC, with the cache minus
// without it; ids and items are allocated beforehand and not counted).
func BenchmarkMemoryPerItem(b *testing.B) {
	keys := benchKeys(benchMemItems)
	items := benchItems(len(keys))
	var total int64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		before := liveHeap()
		b.StartTimer()
		c, stop := newBenchCache(b, benchOpts{size: benchMemItems})
		benchFill(b, c, keys, items)
		b.StopTimer()
		after := liveHeap()
		runtime.KeepAlive(c)
		stop()
		total += int64(after) - int64(before)
		b.StartTimer()
	}
	b.StopTimer()
	runtime.KeepAlive(keys)
	runtime.KeepAlive(items)
	b.ReportMetric(float64(total)/float64(b.N)/benchMemItems, "B/item")
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// cpuTimer adds up the process's CPU time (all goroutines, GC included) while
// the benchmark timer runs and reports it as cpu-ns/op, which a machine
// shared with other work disturbs much less than wall-clock ns/op.
type cpuTimer struct {
	b           *testing.B
	total, from time.Duration
	on          bool
}

func startCPU(b *testing.B) *cpuTimer {
	t := &cpuTimer{b: b}
	b.ReportAllocs()
	b.ResetTimer()
	t.start()
	return t
}

func (t *cpuTimer) start() {
	t.from, t.on = processCPU(), true
	t.b.StartTimer()
}

func (t *cpuTimer) stop() {
	t.b.StopTimer()
	if t.on {
		t.total += processCPU() - t.from
		t.on = false
	}
}

func (t *cpuTimer) report() {
	t.stop()
	t.b.ReportMetric(float64(t.total.Nanoseconds())/float64(t.b.N), "cpu-ns/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
