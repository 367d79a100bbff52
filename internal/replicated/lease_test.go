package replicated

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/pgtest"
	"github.com/autorefresh/autorefresh/internal/record"
)

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// testCfg is a config whose items a claim takes as soon as they are due:
// its baseDelay (a claim takes items due that long ago) is a nanosecond,
// which PostgreSQL's microsecond intervals make zero, so that tests which
// claim right after a create need not wait or poll.
func testCfg(url string, resync, timeout time.Duration) autorefresh.Config {
	on := true
	return autorefresh.Config{
		Webhook:      autorefresh.Webhook{URL: url, Timeout: autorefresh.Duration(timeout)},
		ResyncPeriod: autorefresh.Duration(resync), SyncOnCreate: &on,
		RateLimit: &autorefresh.RateLimit{BaseDelay: autorefresh.Duration(time.Nanosecond)},
	}
}

func newService(t testing.TB, url string) *Service {
	t.Helper()
	s, err := New(ctxFor(t, 30*time.Second), testOptions(t, url))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func update(c *claimed, data string) []cache.ItemSyncResponseOf[*record.Record] {
	return []cache.ItemSyncResponseOf[*record.Record]{{ID: c.rec.ID, Action: cache.Update,
		Item: c.rec.Next(json.RawMessage(data), false, time.Now())}}
}

// TestLateWriteOfALapsedLeaseIsRejected drives two replicas' claims and
// write-backs by hand: A claims, its lease lapses, B claims the item again,
// and A's late result must not overwrite B's.
func TestLateWriteOfALapsedLeaseIsRejected(t *testing.T) {
	url := pgtest.NewDB(t)
	a, b := newService(t, url), newService(t, url)
	ctx := ctxFor(t, 30*time.Second)
	cfg := testCfg("http://127.0.0.1:1/sync", time.Hour, time.Second)
	if _, err := a.Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "x", Data: json.RawMessage(`{"by": "nobody"}`), Terminal: false}); err != nil {
		t.Fatal(err)
	}
	wA, err := a.newWorker("jobs", 1, time.Time{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	wB, err := b.newWorker("jobs", 1, time.Time{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if wA.leaseTTL != 2*time.Second {
		t.Fatalf("lease TTL %s, want 2 × the webhook timeout", wA.leaseTTL)
	}
	batchA, _, err := wA.claim(ctx)
	if err != nil || len(batchA) != 1 || batchA[0].epoch != 1 {
		t.Fatalf("A's claim: %v, %v", batchA, err)
	}
	if got, _, err := wB.claim(ctx); err != nil || len(got) != 0 {
		t.Fatalf("B claimed a leased item: %v, %v", got, err)
	}
	// The lease lapses (A hangs, or loses the database, for too long).
	if err := pgtest.Exec(ctx, url, "UPDATE items SET next_sync_at = now(), lease_until = now()"); err != nil {
		t.Fatal(err)
	}
	batchB, _, err := wB.claim(ctx)
	if err != nil || len(batchB) != 1 || batchB[0].epoch != 2 {
		t.Fatalf("B's claim after the lapse: %v, %v", batchB, err)
	}
	if n := testutil.ToFloat64(b.metrics.expiries.WithLabelValues("jobs")); n != 1 {
		t.Fatalf("lease expiries on B: %v", n)
	}
	// A's late write is fenced off and counted.
	wA.writeBack(ctx, batchA, update(batchA[0], `{"by": "A"}`), true, false, time.Now())
	if n := testutil.ToFloat64(a.metrics.staleWrites.WithLabelValues("jobs")); n != 1 {
		t.Fatalf("stale writes on A: %v", n)
	}
	it, err := a.GetItem(ctx, "jobs", "x")
	if err != nil {
		t.Fatal(err)
	}
	if it.Version != 1 || !jsonIs(it.Data, `{"by": "nobody"}`) || it.SyncedAt != nil {
		t.Fatalf("A's late write landed: %+v", *it.Record)
	}
	// B's write, with the current epoch, lands.
	wB.writeBack(ctx, batchB, update(batchB[0], `{"by": "B"}`), true, false, time.Now())
	it, err = a.GetItem(ctx, "jobs", "x")
	if err != nil {
		t.Fatal(err)
	}
	if it.Version != 2 || !jsonIs(it.Data, `{"by": "B"}`) || it.SyncedAt == nil {
		t.Fatalf("B's write: %+v", *it.Record)
	}
	var owner *string
	if err := a.pool.QueryRow(ctx, "SELECT lease_owner FROM items").Scan(&owner); err != nil || owner != nil {
		t.Fatalf("lease not released: %v, %v", owner, err)
	}
	if n := testutil.ToFloat64(b.metrics.staleWrites.WithLabelValues("jobs")); n != 0 {
		t.Fatalf("stale writes on B: %v", n)
	}

	// A write-back for an item deleted meanwhile is not a stale write.
	if err := pgtest.Exec(ctx, url, "UPDATE items SET next_sync_at = now()"); err != nil {
		t.Fatal(err)
	}
	batchA, _, err = wA.claim(ctx)
	if err != nil || len(batchA) != 1 {
		t.Fatalf("claim: %v, %v", batchA, err)
	}
	if err := pgtest.Exec(ctx, url, "DELETE FROM items"); err != nil {
		t.Fatal(err)
	}
	wA.writeBack(ctx, batchA, nil, true, false, time.Now())
	if n := testutil.ToFloat64(a.metrics.staleWrites.WithLabelValues("jobs")); n != 1 {
		t.Fatalf("stale writes on A after a deleted item: %v", n)
	}
}

func jsonIs(got json.RawMessage, want string) bool { return jsonEq(got, []byte(want)) }

func jsonEq(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// overlapUpstream answers every item unchanged, and records calls per id
// and any id that is in two calls at once.
type overlapUpstream struct {
	mu       sync.Mutex
	active   map[string]bool
	calls    map[string]int
	overlaps []string
	total    atomic.Int64
	delay    time.Duration
}

func newOverlapUpstream(delay time.Duration) *overlapUpstream {
	return &overlapUpstream{active: map[string]bool{}, calls: map[string]int{}, delay: delay}
}

func (u *overlapUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	u.total.Add(1)
	u.mu.Lock()
	for _, it := range req.Items {
		if u.active[it.ID] {
			u.overlaps = append(u.overlaps, it.ID)
		}
		u.active[it.ID] = true
		u.calls[it.ID]++
	}
	u.mu.Unlock()
	time.Sleep(u.delay)
	u.mu.Lock()
	for _, it := range req.Items {
		delete(u.active, it.ID)
	}
	u.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (u *overlapUpstream) snapshot() (calls map[string]int, overlaps []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	calls = make(map[string]int, len(u.calls))
	for k, v := range u.calls {
		calls[k] = v
	}
	return calls, append([]string(nil), u.overlaps...)
}

// TestReplicasShareTheWork runs three replicas in-process against one
// upstream: every item is synced, by all of them together, and never in two
// calls at once.
func TestReplicasShareTheWork(t *testing.T) {
	url := pgtest.NewDB(t)
	up := newOverlapUpstream(20 * time.Millisecond)
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close) // after the replicas stop
	var reps []*Service
	for range 3 {
		s, _ := startService(t, testOptions(t, url))
		reps = append(reps, s)
	}
	ctx := ctxFor(t, 60*time.Second)
	cfg := testCfg(srv.URL+"/sync", 300*time.Millisecond, time.Second)
	cfg.BatchSize, cfg.Parallelism = 5, 4
	if _, err := reps[0].Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := range n {
		if _, _, err := reps[i%3].CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "item" + itoa(i), Data: nil, Terminal: false}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		calls, overlaps := up.snapshot()
		if len(overlaps) > 0 {
			t.Fatalf("items in two concurrent calls: %v", overlaps)
		}
		done := len(calls) == n
		for _, c := range calls {
			done = done && c >= 3
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s only %d of %d items synced 3 times", len(calls), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, s := range reps {
		if c := testutil.ToFloat64(s.metrics.claims.WithLabelValues("jobs")); c == 0 {
			t.Errorf("replica %d claimed nothing", i)
		}
		if st := testutil.ToFloat64(s.metrics.staleWrites.WithLabelValues("jobs")); st != 0 {
			t.Errorf("replica %d had %v stale writes without any lapse", i, st)
		}
	}
}

func itoa(i int) string { return string(json.Number(jsonInt(i))) }

func jsonInt(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestStopLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	url := pgtest.NewDB(t)
	up := newOverlapUpstream(0)
	srv := httptest.NewServer(up)
	defer srv.Close()
	opts := testOptions(t, url)
	opts.OnEvent = func(string, autorefresh.Event) {}
	s, stop := startService(t, opts)
	ctx := ctxFor(t, 30*time.Second)
	if _, err := s.Put(ctx, "jobs", testCfg(srv.URL+"/sync", 50*time.Millisecond, time.Second)); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "i" + itoa(i), Data: nil, Terminal: false}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for up.total.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatal("no syncs")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	srv.CloseClientConnections()
}

// claimN makes a worker of generation gen for the cache "jobs" on s and
// claims with it, failing the test unless exactly n items are claimed.
func claimN(t *testing.T, ctx context.Context, s *Service, gen int64, cfg autorefresh.Config, n int) (*worker, []*claimed) {
	t.Helper()
	w, err := s.newWorker("jobs", gen, time.Time{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	batch, _, err := w.claim(ctx)
	if err != nil || len(batch) != n {
		t.Fatalf("claim: %d items (%v), want %d", len(batch), err, n)
	}
	return w, batch
}
