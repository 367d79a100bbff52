package bench

// The two caches under test, built the same way for every benchmark, and the
// small pieces of machinery the benchmarks share. docs/benchmarks.md explains
// what each benchmark measures; this file is how.

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	flytecache "github.com/flyteorg/flyte/flytestdlib/cache"
	"github.com/flyteorg/flyte/flytestdlib/promutils"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/autorefresh/autorefresh/internal/cache"
)

// idlePeriod is the resync period of every cache: long enough that no cycle
// ever starts by itself during a benchmark. Cycles are started explicitly.
const idlePeriod = time.Hour

// benchItem is the small item both caches hold. One type satisfies both
// libraries' Item interfaces (each is just IsTerminal).
type benchItem struct{ state int64 }

func (i *benchItem) IsTerminal() bool { return i.state < 0 }

// makeKeys returns n distinct ids, built once so that no benchmark allocates
// or formats a key inside its timed loop.
func makeKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("item-%07d", i)
	}
	return keys
}

// makeItems returns n distinct items as the library's Item type.
func makeItems[I any](n int, conv func(*benchItem) I) []I {
	backing := make([]benchItem, n)
	out := make([]I, n)
	for i := range out {
		out[i] = conv(&backing[i])
	}
	return out
}

func flyteItem(p *benchItem) flytecache.Item { return p }
func oursItem(p *benchItem) cache.Item       { return p }

// opts is what a benchmark asks of a cache; both constructors honour all of it.
type opts struct {
	size         int
	workers      int
	batchSize    int // 0 or 1: one item per batch
	syncOnCreate bool
	start        bool
	// synced is told how many items each SyncFunc call received.
	synced *counter
}

// ---- Flyte ----------------------------------------------------------------

var flyteScopes atomic.Int64

// flyteCache is Flyte's InMemoryAutoRefresh with the clock that lets a
// benchmark start one of its refresh cycles.
type flyteCache struct {
	*flytecache.InMemoryAutoRefresh
	clock *triggerClock
}

// newFlyte builds (and, if asked, starts) a Flyte cache; stop tears it down.
// Its metrics go to a scope of its own: Flyte registers them on the global
// Prometheus registry, where a repeated name panics.
func newFlyte(b *testing.B, o opts) (c *flyteCache, stop func()) {
	b.Helper()
	clk := newTriggerClock(idlePeriod)
	sync := func(_ context.Context, batch flytecache.Batch) ([]flytecache.ItemSyncResponse, error) {
		if o.synced != nil {
			o.synced.add(len(batch))
		}
		return nil, nil
	}
	batches := flytecache.SingleItemBatches
	if o.batchSize > 1 {
		batches = flyteFixedSizeBatches(o.batchSize)
	}
	scope := promutils.NewScope(fmt.Sprintf("flytebench%d", flyteScopes.Add(1)))
	ar, err := flytecache.NewInMemoryAutoRefresh("bench", sync,
		workqueue.NewTypedItemExponentialFailureRateLimiter[any](0, 0),
		idlePeriod, uint(max(o.workers, 1)), uint(o.size), scope,
		flytecache.WithClock(clk), flytecache.WithCreateBatchesFunc(batches),
		flytecache.WithSyncOnCreate(o.syncOnCreate))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if o.start {
		if err := ar.Start(ctx); err != nil {
			b.Fatal(err)
		}
	}
	c = &flyteCache{InMemoryAutoRefresh: ar, clock: clk}
	return c, func() {
		cancel()
		c.shutDownQueue()
	}
}

// shutDownQueue shuts Flyte's work queue down. Flyte never does (its workers
// stay blocked in Get after the context is cancelled, and the queue's own
// goroutines run forever), so without this every Flyte cache of a run would
// stay alive, with its items, and skew the GC work and heap of the benchmarks
// after it. It runs only outside timed regions.
func (f *flyteCache) shutDownQueue() {
	v := reflect.ValueOf(f.InMemoryAutoRefresh).Elem().FieldByName("workqueue")
	q := reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem().Interface().(workqueue.RateLimitingInterface)
	q.ShutDown()
}

// cycle starts one Flyte refresh cycle: it fires the enqueue loop's timer.
func (f *flyteCache) cycle() { f.clock.fire() }

// waitIdle waits until the enqueue loop has finished the previous cycle and
// re-armed its timer, so that the next cycle() is not lost.
func (f *flyteCache) waitIdle() { <-f.clock.armed }

// flyteFixedSizeBatches is the same batcher as cache.FixedSizeBatches, for
// Flyte's types: flytestdlib has none of its own.
func flyteFixedSizeBatches(size int) flytecache.CreateBatchesFunc {
	return func(_ context.Context, snapshot []flytecache.ItemWrapper) ([]flytecache.Batch, error) {
		batches := make([]flytecache.Batch, 0, (len(snapshot)+size-1)/size)
		for start := 0; start < len(snapshot); start += size {
			end := min(start+size, len(snapshot))
			batches = append(batches, snapshot[start:end:end])
		}
		return batches, nil
	}
}

// triggerClock is the real clock, except for the one timer whose duration is
// the resync period (Flyte's enqueue loop timer), which fires only when the
// benchmark calls fire. Each fire also moves the clock forward by six resync
// periods: Flyte skips items whose "processing" mark is younger than five
// periods, and a mark can be left behind when a worker takes a batch before
// the enqueue loop has stored the mark (a Flyte race), so without the jump
// some items would sit out the next cycle. The jump makes every cycle a full
// one, which is what the benchmark measures. Now and Since cost what the real
// clock's do plus one atomic load.
type triggerClock struct {
	clock.RealClock
	period time.Duration
	offset atomic.Int64
	mu     sync.Mutex
	timer  *manualTimer
	armed  chan struct{} // a value each time the period timer is (re)armed
}

func newTriggerClock(period time.Duration) *triggerClock {
	return &triggerClock{period: period, armed: make(chan struct{}, 1)}
}

func (c *triggerClock) Now() time.Time {
	return time.Now().Add(time.Duration(c.offset.Load()))
}

func (c *triggerClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func (c *triggerClock) NewTimer(d time.Duration) clock.Timer {
	if d != c.period {
		return c.RealClock.NewTimer(d)
	}
	t := &manualTimer{ch: make(chan time.Time, 1), clk: c}
	c.mu.Lock()
	c.timer = t
	c.mu.Unlock()
	c.signalArmed()
	return t
}

func (c *triggerClock) signalArmed() {
	select {
	case c.armed <- struct{}{}:
	default:
	}
}

// fire jumps the clock and fires the period timer.
func (c *triggerClock) fire() {
	c.offset.Add(int64(6 * c.period))
	c.mu.Lock()
	t := c.timer
	c.mu.Unlock()
	if t == nil {
		panic("triggerClock: fire before the enqueue loop made its timer")
	}
	select {
	case t.ch <- c.Now():
	default:
	}
}

type manualTimer struct {
	ch  chan time.Time
	clk *triggerClock
}

func (t *manualTimer) C() <-chan time.Time { return t.ch }
func (t *manualTimer) Stop() bool          { return true }
func (t *manualTimer) Reset(time.Duration) bool {
	t.clk.signalArmed()
	return true
}

// ---- ours -----------------------------------------------------------------

// newOurs builds (and, if asked, starts) our cache with the same settings;
// stop stops it and waits until it has.
func newOurs(b *testing.B, o opts) (c *cache.AutoRefreshCache[cache.Item], stop func()) {
	b.Helper()
	sync := func(_ context.Context, batch cache.Batch) ([]cache.ItemSyncResponse, error) {
		if o.synced != nil {
			o.synced.add(len(batch))
		}
		return nil, nil
	}
	batches := cache.SingleItemBatches
	if o.batchSize > 1 {
		batches = cache.FixedSizeBatches(o.batchSize)
	}
	c, err := cache.New(cache.Options[cache.Item]{
		Name:                "bench",
		Sync:                sync,
		CreateBatches:       batches,
		RateLimiter:         workqueue.NewTypedItemExponentialFailureRateLimiter[*cache.Batch](0, 0),
		ResyncPeriod:        idlePeriod,
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

// oursIdle waits until no batch is queued or being synced (and so every
// in-flight mark is cleared), so that the next SyncNow snapshots every item.
// It runs only outside timed regions.
func oursIdle(c *cache.AutoRefreshCache[cache.Item]) {
	for st := c.Stats(); st.Enqueued != 0 || st.InFlight != 0; st = c.Stats() {
		runtime.Gosched()
	}
}

// ---- shared ---------------------------------------------------------------

// counter counts synced items and wakes one waiter when the count reaches the
// waiter's target. The waiter blocks on a channel: nothing polls or sleeps
// while a benchmark's timer runs.
type counter struct {
	n      atomic.Int64
	target atomic.Int64 // 0 when no one waits
	ch     chan struct{}
}

func newCounter() *counter { return &counter{ch: make(chan struct{}, 1)} }

func (c *counter) add(k int) {
	v := c.n.Add(int64(k))
	if t := c.target.Load(); t > 0 && v >= t && c.target.CompareAndSwap(t, 0) {
		c.ch <- struct{}{}
	}
}

// waitFor blocks until at least t items have been counted.
func (c *counter) waitFor(t int64) {
	c.target.Store(t)
	if c.n.Load() >= t && c.target.CompareAndSwap(t, 0) {
		return
	}
	<-c.ch
}

func (c *counter) reset() { c.n.Store(0) }

// The libraries' own method sets, generic over their Item types, so that one
// timed loop serves both and each call is the interface call a user makes.
type getter[I any] interface {
	Get(id string) (I, error)
}

type creator[I any] interface {
	GetOrCreate(id string, item I) (I, error)
}

// fill inserts keys[i] → items[i] for every key.
func fill[I any](b *testing.B, c creator[I], keys []string, items []I) {
	b.Helper()
	for i, k := range keys {
		if _, err := c.GetOrCreate(k, items[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// heapInUse returns the live heap after two full collections.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// cpuTimer runs alongside the benchmark timer and adds up the CPU time the
// whole process (every goroutine, the GC, the runtime) spends while the timer
// runs, reported as cpu-ns/op. On a machine that other work shares, wall-clock
// ns/op goes up whenever the benchmark is descheduled; CPU time per op is
// much less sensitive to that, so both are reported.
type cpuTimer struct {
	b     *testing.B
	total time.Duration
	since time.Duration
	on    bool
}

// startCPU resets the benchmark timer and starts both clocks.
func startCPU(b *testing.B) *cpuTimer {
	t := &cpuTimer{b: b}
	b.ReportAllocs()
	b.ResetTimer()
	t.start()
	return t
}

func (t *cpuTimer) start() {
	t.since = processCPU()
	t.on = true
	t.b.StartTimer()
}

func (t *cpuTimer) stop() {
	t.b.StopTimer()
	if t.on {
		t.total += processCPU() - t.since
		t.on = false
	}
}

// report stops both clocks and reports cpu-ns/op.
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
