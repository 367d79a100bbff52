package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/autorefresh/autorefresh/internal/errs"
)

func TestGetOrCreateIsAtomic(t *testing.T) {
	var created atomic.Int32
	h := newHarness(t, Options[Item]{Sync: newRecorder(advance).sync, OnEvent: func(ev Event[Item]) {
		if ev.Type == Created {
			created.Add(1)
		}
	}})
	const n = 64
	results := make([]Item, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			it, err := h.c.GetOrCreate("same", item(fmt.Sprint(i)))
			if err != nil {
				t.Error(err)
			}
			results[i] = it
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if results[i] != results[0] {
			t.Fatalf("caller %d got %v, caller 0 got %v", i, results[i], results[0])
		}
	}
	if created.Load() != 1 || h.c.Len() != 1 {
		t.Fatalf("created %d times, len %d", created.Load(), h.c.Len())
	}
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	var evicted []ItemID
	h := newHarness(t, Options[Item]{Sync: newRecorder(advance).sync, Size: 3, OnEvent: func(ev Event[Item]) {
		if ev.Type == Evicted {
			evicted = append(evicted, ev.ID)
		}
	}})
	for _, id := range []string{"a", "b", "c"} {
		h.c.GetOrCreate(id, item("done"))
	}
	mustGet(t, h.c, "a") // b is now the least recently used
	h.c.GetOrCreate("d", item("done"))
	mustGet(t, h.c, "c")
	h.c.GetOrCreate("e", item("done")) // evicts a (used before c, d)
	if strings.Join(evicted, ",") != "b,a" {
		t.Fatalf("evicted %v, want [b a]", evicted)
	}
	for _, id := range []string{"c", "d", "e"} {
		mustGet(t, h.c, id)
	}
}

func TestUpdateForRemovedItemIsDropped(t *testing.T) {
	for _, how := range []string{"deleted", "evicted"} {
		t.Run(how, func(t *testing.T) {
			entered := make(chan struct{}, 1)
			release := make(chan struct{})
			sync := func(ctx context.Context, b Batch) ([]ItemSyncResponse, error) {
				entered <- struct{}{}
				<-release
				return []ItemSyncResponse{{ID: b[0].GetID(), Item: item("running"), Action: Update}}, nil
			}
			h := newHarness(t, Options[Item]{Sync: sync, Size: 1})
			h.start()
			h.c.GetOrCreate("a", item("new"))
			<-entered
			if how == "deleted" {
				if err := h.c.DeleteDelayed("a"); err != nil {
					t.Fatal(err)
				}
				h.tick()
			} else {
				h.c.GetOrCreate("b", item("done"))
			}
			if _, err := h.c.Get("a"); !IsNotFound(err) {
				t.Fatalf("a still present after being %s: %v", how, err)
			}
			close(release)
			h.idle()
			if _, err := h.c.Get("a"); !IsNotFound(err) {
				t.Fatalf("a late update re-inserted a %s item", how)
			}
			if got := testutil.ToFloat64(h.c.m.items.WithLabelValues("dropped")); got != 1 {
				t.Fatalf("dropped updates = %v, want 1", got)
			}
		})
	}
}

func TestUpdateAfterRecreateDoesNotTouchNewItem(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	sync := func(ctx context.Context, b Batch) ([]ItemSyncResponse, error) {
		if b[0].GetItem().(*testItem).status == "old" {
			entered <- struct{}{}
			<-release
			return []ItemSyncResponse{{ID: b[0].GetID(), Item: item("from-old-sync"), Action: Update}}, nil
		}
		return nil, nil
	}
	h := newHarness(t, Options[Item]{Sync: sync})
	h.start()
	h.c.GetOrCreate("a", item("old"))
	<-entered
	h.c.DeleteDelayed("a")
	h.tick()
	h.c.GetOrCreate("a", item("new"))
	close(release)
	h.idle()
	if s := mustGet(t, h.c, "a").status; s != "new" {
		t.Fatalf("the old entry's sync overwrote the new one: %q", s)
	}
}

func TestNoItemInTwoBatchesOrInFlightTwice(t *testing.T) {
	var mu sync.Mutex
	inFlight := map[ItemID]bool{}
	var overlaps, synced atomic.Int32
	sync := func(ctx context.Context, b Batch) ([]ItemSyncResponse, error) {
		synced.Add(int32(len(b)))
		mu.Lock()
		for _, w := range b {
			if inFlight[w.GetID()] {
				overlaps.Add(1)
			}
			inFlight[w.GetID()] = true
		}
		mu.Unlock()
		time.Sleep(50 * time.Microsecond) // widen the window for overlaps
		mu.Lock()
		for _, w := range b {
			delete(inFlight, w.GetID())
		}
		mu.Unlock()
		return nil, nil
	}
	// A CreateBatchesFunc that repeats every item in two batches, and adds a
	// wrapper the cache never handed out.
	dup := func(ctx context.Context, s []ItemWrapper) ([]Batch, error) {
		return []Batch{s, s, {fakeWrapper("ghost")}}, nil
	}
	h := newHarness(t, Options[Item]{Sync: sync, CreateBatches: dup, Parallelism: 8, DisableSyncOnCreate: true})
	h.start()
	for i := range 200 {
		h.c.GetOrCreate(fmt.Sprint(i), item("new"))
	}
	for range 20 {
		h.tick()
		h.c.SyncNow()
	}
	h.idle()
	if overlaps.Load() != 0 {
		t.Fatalf("%d items were in flight twice", overlaps.Load())
	}
	if _, err := h.c.Get("ghost"); !IsNotFound(err) {
		t.Fatal("a batch entry created an item")
	}
	// What reached the SyncFunc is exactly what was queued: the repeats
	// and the ghost were dropped before queueing.
	// A trigger may still be pending, so wait for the counts to meet
	// rather than read them once.
	eventually(t, "everything queued was synced, once", func() bool {
		st := h.c.Stats()
		return st.EnqueuedTotal >= 200 && int64(st.EnqueuedTotal) == int64(synced.Load())
	})
}

type fakeWrapper string

func (f fakeWrapper) GetID() ItemID { return string(f) }
func (f fakeWrapper) GetItem() Item { return item("new") }

func TestFailingSyncIsNotRetriedInALoop(t *testing.T) {
	var calls atomic.Int32
	sync := func(ctx context.Context, b Batch) ([]ItemSyncResponse, error) {
		calls.Add(1)
		return nil, reasonErr("status_5xx")
	}
	h := newHarness(t, Options[Item]{Sync: sync, ResyncPeriod: time.Hour})
	h.start()
	for i := range 100 {
		h.c.GetOrCreate(fmt.Sprint(i), item("new"))
	}
	eventually(t, "100 calls", func() bool { return calls.Load() >= 100 })
	h.idle()
	if calls.Load() != 100 {
		t.Fatalf("%d calls for 100 created items, want exactly 100", calls.Load())
	}
	st := h.c.Stats()
	if st.SyncErrors != 100 || st.LastError == "" || st.Syncs != 0 {
		t.Fatalf("stats after failures: %+v", st)
	}
	if got := testutil.ToFloat64(h.c.m.syncErrors.WithLabelValues("status_5xx")); got != 100 {
		t.Fatalf("sync_errors_total{reason=status_5xx} = %v", got)
	}
	for i := range 100 {
		if mustGet(t, h.c, fmt.Sprint(i)).status != "new" {
			t.Fatal("a failed sync changed an item")
		}
	}
	// At the next resync they are all tried again, once.
	h.tick()
	eventually(t, "retry at resync", func() bool { return calls.Load() == 200 })
	h.idle()
	if calls.Load() != 200 {
		t.Fatalf("%d calls after one resync", calls.Load())
	}
}

type reasonErr string

func (r reasonErr) Error() string           { return "upstream said " + string(r) }
func (r reasonErr) SyncErrorReason() string { return string(r) }

func TestErrorReasonsAreCapped(t *testing.T) {
	h := newHarness(t, Options[Item]{Sync: newRecorder(advance).sync})
	for i := range maxErrorReasons + 10 {
		h.c.m.syncError(fmt.Sprintf("r%d", i))
	}
	if n := testutil.CollectAndCount(h.c.m.syncErrors); n != maxErrorReasons+1 {
		t.Fatalf("%d reason series, want %d", n, maxErrorReasons+1)
	}
}

func TestCreateBatchesFailureReleasesItems(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	var calls atomic.Int32
	batches := func(ctx context.Context, s []ItemWrapper) ([]Batch, error) {
		if fail.Load() {
			panic("bad batcher")
		}
		return SingleItemBatches(ctx, s)
	}
	sync := func(ctx context.Context, b Batch) ([]ItemSyncResponse, error) {
		calls.Add(1)
		return nil, nil
	}
	h := newHarness(t, Options[Item]{Sync: sync, CreateBatches: batches, DisableSyncOnCreate: true})
	h.start()
	h.c.GetOrCreate("a", item("new"))
	h.tick()
	if st := h.c.Stats(); st.SyncErrors != 1 || st.InFlight != 0 {
		t.Fatalf("after a panicking batcher: %+v", st)
	}
	fail.Store(false)
	h.tick()
	eventually(t, "sync after recovery", func() bool { return calls.Load() == 1 })
}

func TestStartTwiceAndStopLeavesNoGoroutines(t *testing.T) {
	h := newHarness(t, Options[Item]{Sync: newRecorder(advance).sync, Parallelism: 5})
	ctx, cancel := context.WithCancel(context.Background())
	if err := h.c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.c.Start(ctx); !errors.Is(err, ErrAlreadyStarted) {
		t.Fatalf("second Start: %v", err)
	}
	for i := range 20 {
		h.c.GetOrCreate(fmt.Sprint(i), item("new"))
	}
	cancel()
	select {
	case <-h.c.Stopped():
	case <-time.After(10 * time.Second):
		t.Fatal("not stopped")
	}
	goleak.VerifyNone(t, goleak.IgnoreCurrent())
	if st := h.c.Stats(); st.InFlight != 0 {
		t.Fatalf("in-flight after stop: %d", st.InFlight)
	}
	// Metrics go with the cache.
	if mfs, _ := h.reg.Gather(); len(mfs) != 0 {
		t.Fatalf("%d metric families left registered after stop", len(mfs))
	}
}

func TestMetricsAreLabelledByCache(t *testing.T) {
	rec := newRecorder(advance)
	h := newHarness(t, Options[Item]{Name: "jobs", Sync: rec.sync})
	h.start()
	h.c.GetOrCreate("a", item("new"))
	eventually(t, "sync", func() bool { return rec.count() == 1 })
	h.idle()
	h.c.Get("a")
	h.c.Get("missing")
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"autorefresh_cache_items": false, "autorefresh_cache_hits_total": false, "autorefresh_cache_misses_total": false,
		"autorefresh_cache_evictions_total": false, "autorefresh_cache_deletions_total": false,
		"autorefresh_sync_duration_seconds": false, "autorefresh_sync_batches_total": false,
		"autorefresh_synced_items_total": false, "autorefresh_workqueue_adds_total": false,
		"autorefresh_workqueue_depth": false, "autorefresh_workqueue_work_duration_seconds": false,
	}
	for _, mf := range mfs {
		if _, ok := want[mf.GetName()]; ok {
			want[mf.GetName()] = true
		}
		for _, m := range mf.GetMetric() {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == "cache" && l.GetValue() == "jobs" {
					found = true
				}
				if l.GetValue() == "a" {
					t.Fatalf("%s has an item id as a label value", mf.GetName())
				}
			}
			if !found {
				t.Fatalf("%s lacks cache=jobs", mf.GetName())
			}
		}
	}
	for name, ok := range want {
		if !ok {
			t.Errorf("metric %s missing", name)
		}
	}
	if got := testutil.ToFloat64(h.c.m.items.WithLabelValues("update")); got != 1 {
		t.Fatalf("synced_items_total{action=update} = %v", got)
	}
	st := h.c.Stats()
	if st.Hits != 1 || st.Misses != 1 {
		t.Fatalf("hits/misses %d/%d", st.Hits, st.Misses)
	}
	// A second cache on the same registry coexists; a duplicate name does not.
	if _, err := New(Options[Item]{Name: "other", Sync: rec.sync, ResyncPeriod: time.Second, Parallelism: 1, Size: 1, Registerer: h.reg}); err != nil {
		t.Fatalf("second cache: %v", err)
	}
	if _, err := New(Options[Item]{Name: "jobs", Sync: rec.sync, ResyncPeriod: time.Second, Parallelism: 1, Size: 1, Registerer: h.reg}); err == nil {
		t.Fatal("duplicate cache name registered twice")
	}
}

func TestOptionsAreValidated(t *testing.T) {
	ok := Options[Item]{Name: "x", Sync: newRecorder(advance).sync, ResyncPeriod: time.Second, Parallelism: 1, Size: 1}
	cases := map[string]func(o *Options[Item]){
		"name":         func(o *Options[Item]) { o.Name = "" },
		"bad name":     func(o *Options[Item]) { o.Name = "a b" },
		"sync":         func(o *Options[Item]) { o.Sync = nil },
		"resyncPeriod": func(o *Options[Item]) { o.ResyncPeriod = 0 },
		"parallelism":  func(o *Options[Item]) { o.Parallelism = 0 },
		"size":         func(o *Options[Item]) { o.Size = -1 },
	}
	for field, mutate := range cases {
		o := ok
		mutate(&o)
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), strings.Fields(field)[len(strings.Fields(field))-1]) {
			t.Errorf("%s: got %v", field, err)
		}
	}
	if _, err := New(ok); err != nil {
		t.Fatal(err)
	}
}

func TestListPagesInIDOrder(t *testing.T) {
	h := newHarness(t, Options[Item]{Sync: newRecorder(advance).sync})
	for i := range 25 {
		st := "new"
		if i%2 == 0 {
			st = "done"
		}
		h.c.GetOrCreate(fmt.Sprintf("id%02d", i), item(st))
	}
	var got []string
	cursor := ""
	for {
		page, more, err := h.c.List(cursor, 4, func(e Entry[Item]) bool { return e.Item.IsTerminal() })
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			got = append(got, e.ID)
		}
		if !more {
			break
		}
		cursor = page[len(page)-1].ID
	}
	want := []string{}
	for i := 0; i < 25; i += 2 {
		want = append(want, fmt.Sprintf("id%02d", i))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("pages gave %v, want %v", got, want)
	}
}

func TestSnapshotRestoreKeepsRecencyAndPending(t *testing.T) {
	src := newHarness(t, Options[Item]{Sync: newRecorder(advance).sync})
	for _, id := range []string{"a", "b", "c"} {
		src.c.GetOrCreate(id, item("new"))
	}
	mustGet(t, src.c, "a")
	src.c.DeleteDelayed("c")
	dst := newHarness(t, Options[Item]{Sync: newRecorder(advance).sync, Size: 2})
	dst.c.Restore(src.c.Snapshot())
	// Order was b, c, a (oldest first): with size 2, b goes.
	if _, err := dst.c.Get("b"); !IsNotFound(err) {
		t.Fatal("restore did not evict the least recently used")
	}
	en, err := dst.c.Lookup("c")
	if err != nil || !en.PendingDelete {
		t.Fatalf("pending delete lost: %+v %v", en, err)
	}
	dst.start()
	dst.tick()
	if _, err := dst.c.Get("c"); !IsNotFound(err) {
		t.Fatal("restored pending delete not carried out at the next cycle")
	}
}

func TestDeleteDelayedUnknown(t *testing.T) {
	h := newHarness(t, Options[Item]{Sync: newRecorder(advance).sync})
	if err := h.c.DeleteDelayed("nope"); !IsNotFound(err) {
		t.Fatalf("got %v", err)
	}
	if _, _, err := h.c.Create("x", nil); err == nil {
		t.Fatal("nil item accepted")
	}
}

func TestStopDrainsSyncsUnderWay(t *testing.T) {
	for _, drain := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprint("drain=", drain), func(t *testing.T) {
			entered := make(chan struct{})
			release := make(chan struct{})
			var sawCancel atomic.Bool
			sync := func(ctx context.Context, b Batch) ([]ItemSyncResponse, error) {
				close(entered)
				select {
				case <-release:
					return []ItemSyncResponse{{ID: b[0].GetID(), Item: item("done"), Action: Update}}, nil
				case <-ctx.Done():
					sawCancel.Store(true)
					return nil, ctx.Err()
				}
			}
			h := newHarness(t, Options[Item]{Sync: sync, Parallelism: 1, DrainTimeout: drain})
			ctx, cancel := context.WithCancel(context.Background())
			if err := h.c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			h.c.GetOrCreate("a", item("new"))
			<-entered
			cancel()
			if drain > 0 {
				// The call under way is allowed to finish and its result applies.
				close(release)
			}
			select {
			case <-h.c.Stopped():
			case <-time.After(10 * time.Second):
				t.Fatal("not stopped")
			}
			got := mustGet(t, h.c, "a").status
			if drain > 0 && (got != "done" || sawCancel.Load()) {
				t.Fatalf("with a drain timeout the sync should finish: status %q, cancelled %v", got, sawCancel.Load())
			}
			if drain == 0 && (got != "new" || !sawCancel.Load()) {
				t.Fatalf("without a drain timeout the sync should be cancelled: status %q", got)
			}
		})
	}
}

func TestBudgetBoundsCachesTogether(t *testing.T) {
	b := NewBudget(3)
	one := newHarness(t, Options[Item]{Name: "one", Sync: newRecorder(advance).sync, Budget: b})
	two := newHarness(t, Options[Item]{Name: "two", Sync: newRecorder(advance).sync, Budget: b, Size: 1})
	one.c.GetOrCreate("a", item("done"))
	one.c.GetOrCreate("b", item("done"))
	two.c.GetOrCreate("x", item("done"))
	if _, err := one.c.GetOrCreate("c", item("done")); errs.CodeOf(err) != errs.Capacity {
		t.Fatalf("fourth item with a budget of 3: %v", err)
	}
	if _, err := one.c.GetOrCreate("a", item("done")); err != nil {
		t.Fatalf("an existing item must still be returned at capacity: %v", err)
	}
	one.c.DeleteDelayed("a")
	one.start()
	one.tick()
	if b.Used() != 2 {
		t.Fatalf("used %d after a deletion, want 2", b.Used())
	}
	if _, err := two.c.GetOrCreate("y", item("done")); err != nil { // evicts x: net zero
		t.Fatal(err)
	}
	if b.Used() != 2 {
		t.Fatalf("used %d, want 2", b.Used())
	}
	two.c.Close()
	if b.Used() != 1 {
		t.Fatalf("a closed cache kept its budget: used %d", b.Used())
	}
}
