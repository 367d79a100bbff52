package bench

// Side-by-side benchmarks: every Benchmark below runs the same workload on
// Flyte's flytestdlib cache (impl=flyte) and on ours (impl=autorefresh).
// Run them with `make bench` or, from this directory:
//
//	go test -run '^$' -bench . -benchmem -count 5 .
//
// docs/benchmarks.md has the results and says what each one measures.

import (
	"runtime"
	"sync/atomic"
	"testing"

	flytecache "github.com/flyteorg/flyte/flytestdlib/cache"

	"github.com/autorefresh/autorefresh/internal/cache"
)

const (
	// getItems is the number of items held while Gets are measured: as many
	// as the refresh cycle, far more than fit in the CPU caches.
	getItems = 100_000
	// hotItems is the item count of the Get benchmark whose items all stay
	// in the CPU caches, which isolates the cost of synchronisation.
	hotItems = 1_000
	// insertRollover is how many items a cache receives in the insert
	// benchmarks before it is replaced by an empty one (untimed), so that
	// ns/op is the mean cost of filling a cache from 0 to this many items
	// whatever b.N is, and memory stays bounded.
	insertRollover = 100_000
	// evictSize is the size bound of the cache that evicts on every insert.
	evictSize = 100_000
	// The refresh cycle: this many items, cut into batches of cycleBatch,
	// synced by cycleWorkers workers through a limiter that never waits.
	cycleItems   = 100_000
	cycleBatch   = 100
	cycleWorkers = 10
	// memItems is the number of items whose heap cost is measured.
	memItems = 1_000_000
	// stride walks the keys in an order the hardware cannot prefetch; it is
	// prime and coprime with every key count here, so a walk with step
	// stride mod n visits all n keys.
	stride = 7919
)

// BenchmarkGetParallel: Get of an existing item (a hit) from GOMAXPROCS
// goroutines at once, on a cache holding getItems items, each goroutine
// walking all of them in a scattered order.
func BenchmarkGetParallel(b *testing.B) { benchGetParallel(b, getItems) }

// BenchmarkGetParallelHot: the same on a cache of hotItems items.
func BenchmarkGetParallelHot(b *testing.B) { benchGetParallel(b, hotItems) }

func benchGetParallel(b *testing.B, n int) {
	keys := makeKeys(n)
	b.Run("impl=flyte", func(b *testing.B) {
		c, stop := newFlyte(b, opts{size: n})
		defer stop()
		fill(b, c, keys, makeItems(len(keys), flyteItem))
		runGetParallel[flytecache.Item](b, c, keys)
	})
	b.Run("impl=autorefresh", func(b *testing.B) {
		c, stop := newOurs(b, opts{size: n})
		defer stop()
		fill(b, c, keys, makeItems(len(keys), oursItem))
		runGetParallel[cache.Item](b, c, keys)
	})
}

func runGetParallel[I any](b *testing.B, c getter[I], keys []string) {
	var seq, misses atomic.Int64
	n := int64(len(keys))
	t := startCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		i, step := (seq.Add(1)*104729)%n, int64(stride)%n // each goroutine starts elsewhere
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

// BenchmarkGetOrCreateHitParallel: GetOrCreate of an item that exists, from
// GOMAXPROCS goroutines (the call a plugin makes on every poll).
func BenchmarkGetOrCreateHitParallel(b *testing.B) {
	keys := makeKeys(getItems)
	b.Run("impl=flyte", func(b *testing.B) {
		c, stop := newFlyte(b, opts{size: getItems})
		defer stop()
		items := makeItems(len(keys), flyteItem)
		fill(b, c, keys, items)
		runGetOrCreateParallel[flytecache.Item](b, c, keys, items)
	})
	b.Run("impl=autorefresh", func(b *testing.B) {
		c, stop := newOurs(b, opts{size: getItems})
		defer stop()
		items := makeItems(len(keys), oursItem)
		fill(b, c, keys, items)
		runGetOrCreateParallel[cache.Item](b, c, keys, items)
	})
}

func runGetOrCreateParallel[I any](b *testing.B, c creator[I], keys []string, items []I) {
	var seq atomic.Int64
	n := int64(len(keys))
	t := startCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		i, step := (seq.Add(1)*104729)%n, int64(stride)%n
		for pb.Next() {
			if _, err := c.GetOrCreate(keys[i], items[i]); err != nil {
				panic(err)
			}
			if i += step; i >= n {
				i -= n
			}
		}
	})
	t.report()
}

// BenchmarkGetOrCreate: GetOrCreate of a new item (an insert), one goroutine,
// sync-on-create off and the cache not started, so only the insert path is
// measured. Every insertRollover inserts the cache is replaced (untimed).
func BenchmarkGetOrCreate(b *testing.B) {
	keys := makeKeys(insertRollover)
	o := opts{size: insertRollover}
	b.Run("impl=flyte", func(b *testing.B) {
		items := makeItems(len(keys), flyteItem)
		runInsert(b, keys, func() (creator[flytecache.Item], func()) { return newFlyte(b, o) }, items, nil)
	})
	b.Run("impl=autorefresh", func(b *testing.B) {
		items := makeItems(len(keys), oursItem)
		runInsert(b, keys, func() (creator[cache.Item], func()) { return newOurs(b, o) }, items, nil)
	})
}

// BenchmarkGetOrCreateSyncOnCreate: as BenchmarkGetOrCreate, but with each
// library's default sync-on-create on and the cache started with
// cycleWorkers workers and a no-op SyncFunc: every insert queues a one-item
// batch. The timer also covers draining the queue: it stops only when every
// inserted item has been synced, so ns/op is the cost of insert + sync.
func BenchmarkGetOrCreateSyncOnCreate(b *testing.B) {
	keys := makeKeys(insertRollover)
	synced := newCounter()
	o := opts{size: insertRollover, workers: cycleWorkers, syncOnCreate: true, start: true, synced: synced}
	b.Run("impl=flyte", func(b *testing.B) {
		items := makeItems(len(keys), flyteItem)
		runInsert(b, keys, func() (creator[flytecache.Item], func()) { return newFlyte(b, o) }, items, synced)
	})
	b.Run("impl=autorefresh", func(b *testing.B) {
		items := makeItems(len(keys), oursItem)
		runInsert(b, keys, func() (creator[cache.Item], func()) { return newOurs(b, o) }, items, synced)
	})
}

// runInsert inserts keys in order into a fresh cache, replacing the cache
// (untimed) when every key is in. With synced set, it also waits (timed)
// until every inserted item has been synced before a cache is replaced and
// at the end.
func runInsert[I any](b *testing.B, keys []string, newCache func() (creator[I], func()), items []I, synced *counter) {
	c, stop := newCache()
	if synced != nil {
		synced.reset()
	}
	j := 0
	t := startCPU(b)
	for range b.N {
		if j == len(keys) {
			if synced != nil {
				synced.waitFor(int64(j))
			}
			t.stop()
			stop()
			c, stop = newCache()
			if synced != nil {
				synced.reset()
			}
			j = 0
			t.start()
		}
		if _, err := c.GetOrCreate(keys[j], items[j]); err != nil {
			b.Fatal(err)
		}
		j++
	}
	if synced != nil {
		synced.waitFor(int64(j))
	}
	t.report()
	stop()
}

// BenchmarkGetOrCreateEvict: GetOrCreate of a new item into a full cache of
// evictSize items, so that every insert also evicts the least recently used
// item. One goroutine, sync-on-create off, not started.
func BenchmarkGetOrCreateEvict(b *testing.B) {
	keys := makeKeys(2 * evictSize)
	o := opts{size: evictSize}
	b.Run("impl=flyte", func(b *testing.B) {
		c, stop := newFlyte(b, o)
		defer stop()
		runEvict[flytecache.Item](b, c, keys, makeItems(len(keys), flyteItem))
	})
	b.Run("impl=autorefresh", func(b *testing.B) {
		c, stop := newOurs(b, o)
		defer stop()
		runEvict[cache.Item](b, c, keys, makeItems(len(keys), oursItem))
	})
}

func runEvict[I any](b *testing.B, c creator[I], keys []string, items []I) {
	fill(b, c, keys[:evictSize], items[:evictSize])
	// The cache holds the last evictSize keys inserted, and the next key was
	// inserted evictSize inserts before the oldest of those: always new.
	j := evictSize
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
}

// BenchmarkRefreshCycle: one full refresh cycle of cycleItems items, batches
// of cycleBatch, cycleWorkers workers, a limiter that never throttles and a
// no-op SyncFunc. An op is timed from the trigger to the moment the SyncFunc
// has been called for the last item: for ours the trigger is SyncNow(); for
// Flyte, which has no such call, it is firing its resync timer (see
// triggerClock). Between ops (untimed) the harness waits for the cache to go
// idle so that the next cycle finds every item due.
func BenchmarkRefreshCycle(b *testing.B) {
	keys := makeKeys(cycleItems)
	synced := newCounter()
	o := opts{size: cycleItems, workers: cycleWorkers, batchSize: cycleBatch, start: true, synced: synced}
	b.Run("impl=flyte", func(b *testing.B) {
		c, stop := newFlyte(b, o)
		defer stop()
		fill(b, c, keys, makeItems(len(keys), flyteItem))
		runCycles(b, synced, c.waitIdle, c.cycle)
	})
	b.Run("impl=autorefresh", func(b *testing.B) {
		c, stop := newOurs(b, o)
		defer stop()
		fill(b, c, keys, makeItems(len(keys), oursItem))
		runCycles(b, synced, func() { oursIdle(c) }, c.SyncNow)
	})
}

func runCycles(b *testing.B, synced *counter, waitIdle, trigger func()) {
	t := startCPU(b)
	for range b.N {
		t.stop()
		waitIdle()
		synced.reset()
		t.start()
		trigger()
		synced.waitFor(cycleItems)
	}
	t.report()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/cycleItems, "ns/item")
}

// BenchmarkMemoryPerItem: live heap held by a cache of memItems items, per
// item, measured as HeapAlloc after runtime.GC() with the cache filled minus
// HeapAlloc before the cache was built. The ids and items are allocated
// before the first measurement and kept alive throughout, so B/item is the
// cache's own cost per item (map slots, list links, bookkeeping). ns/op is
// the time to build and fill the cache; B/op and allocs/op count the same.
func BenchmarkMemoryPerItem(b *testing.B) {
	keys := makeKeys(memItems)
	o := opts{size: memItems}
	b.Run("impl=flyte", func(b *testing.B) {
		items := makeItems(len(keys), flyteItem)
		runMemory(b, func() (creator[flytecache.Item], func()) { return newFlyte(b, o) }, keys, items)
	})
	b.Run("impl=autorefresh", func(b *testing.B) {
		items := makeItems(len(keys), oursItem)
		runMemory(b, func() (creator[cache.Item], func()) { return newOurs(b, o) }, keys, items)
	})
}

func runMemory[I any](b *testing.B, newCache func() (creator[I], func()), keys []string, items []I) {
	var total int64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		before := heapInUse()
		b.StartTimer()
		c, stop := newCache()
		fill(b, c, keys, items)
		b.StopTimer()
		after := heapInUse()
		runtime.KeepAlive(c)
		stop()
		total += int64(after) - int64(before)
		b.StartTimer()
	}
	b.StopTimer()
	runtime.KeepAlive(keys)
	runtime.KeepAlive(items)
	b.ReportMetric(float64(total)/float64(b.N)/memItems, "B/item")
}
