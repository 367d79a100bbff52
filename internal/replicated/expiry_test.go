package replicated

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/pgtest"
	"github.com/autorefresh/autorefresh/internal/record"
)

// callLog is an upstream that answers every batch "nothing changed" and
// records when each id was sent.
type callLog struct {
	mu    sync.Mutex
	calls map[string][]time.Time
}

func newCallLog(t *testing.T) (*callLog, string) {
	l := &callLog{calls: map[string][]time.Time{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		now := time.Now()
		l.mu.Lock()
		for _, it := range req.Items {
			l.calls[it.ID] = append(l.calls[it.ID], now)
		}
		l.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return l, srv.URL + "/sync"
}

func (l *callLog) count(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls[id])
}

// progress waits until id has been sent n more times: proof that the
// refresh loops ran, instead of a sleep.
func (l *callLog) progress(t *testing.T, id string, n int) {
	t.Helper()
	from := l.count(id)
	waitUntil(t, "the refresh making progress", 20*time.Second, func() bool { return l.count(id) >= from+n })
}

// TestExpiryWithNoClaimAfterTheDeadline: an item past its deadline becomes
// expired (version + 1, an updated event) within a resync period of it,
// and is never sent again, while the loop goes on syncing the others.
func TestExpiryWithNoClaimAfterTheDeadline(t *testing.T) {
	url := pgtest.NewDB(t)
	up, hook := newCallLog(t)
	var evs itemEvents
	opts := testOptions(t, url)
	opts.OnEvent = evs.onEvent
	s, _ := startService(t, opts)
	ctx := ctxFor(t, 60*time.Second)
	const resync = time.Second
	cfg := testCfg(hook, resync, time.Second)
	cfg.ItemTTL = autorefresh.Duration(time.Hour) // the cache's, which an item's own ttl overrides
	if _, err := s.Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	short, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "short", TTL: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got := short.ExpiresAt.Sub(short.CreatedAt); got != 1500*time.Millisecond {
		t.Fatalf("deadline %s after the create, want the item's ttl", got)
	}
	long, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "long"})
	if err != nil {
		t.Fatal(err)
	}
	if got := long.ExpiresAt.Sub(long.CreatedAt); got != time.Hour {
		t.Fatalf("deadline %s after the create, want the cache's itemTTL", got)
	}
	var expired autorefresh.Event
	waitUntil(t, "the item expired", 20*time.Second, func() bool {
		var ok bool
		expired, ok = evs.find("short", func(ev autorefresh.Event) bool {
			return ev.Type == autorefresh.EventUpdated && ev.Item.StateOf() == record.StateExpired
		})
		return ok
	})
	it, err := s.GetItem(ctx, "jobs", "short")
	if err != nil {
		t.Fatal(err)
	}
	if !it.Terminal || it.StateOf() != record.StateExpired || it.Version != expired.Item.Version || it.NextSyncAt != nil {
		t.Fatalf("expired item: %+v next %v (event %+v)", *it.Record, it.NextSyncAt, *expired.Item)
	}
	if late := it.UpdatedAt.Sub(it.ExpiresAt); late < 0 || late > resync {
		t.Fatalf("expired %s after its deadline, want within the resync period %s", late, resync)
	}
	sent := up.count("short")
	up.mu.Lock()
	for _, at := range up.calls["short"] {
		if at.After(it.UpdatedAt) {
			t.Errorf("short sent at %v, after it expired at %v", at, it.UpdatedAt)
		}
	}
	up.mu.Unlock()
	up.progress(t, "long", 2)
	if n := up.count("short"); n != sent {
		t.Fatalf("the expired item was sent %d more times", n-sent)
	}
	if n := testutil.ToFloat64(s.metrics.staleWrites.WithLabelValues("jobs")); n != 0 {
		t.Fatalf("stale writes: %v", n)
	}
}

// TestClaimExpiresInsteadOfHandingOut: the claim gives the webhook no item
// past its deadline; the loop's expiry of it fences off a sync of it that
// was still under way.
func TestClaimExpiresInsteadOfHandingOut(t *testing.T) {
	url := pgtest.NewDB(t)
	s := newService(t, url)
	ctx := ctxFor(t, 30*time.Second)
	cfg := testCfg("http://127.0.0.1:1/sync", time.Hour, time.Second)
	if _, err := s.Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"inflight", "idle"} {
		if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: id, TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	// A claims "inflight" and calls; the deadline passes meanwhile (the
	// lease's next_sync_at is capped at it).
	if err := pgtest.Exec(ctx, url, "UPDATE items SET next_sync_at = now() + interval '1 hour' WHERE id = 'idle'"); err != nil {
		t.Fatal(err)
	}
	wA, batchA := claimN(t, ctx, s, 1, cfg, 1)
	_, next, _ := rowOf(t, ctx, s, "inflight")
	if it, _ := s.GetItem(ctx, "jobs", "inflight"); next.After(it.ExpiresAt) {
		t.Fatalf("leased until %v, past the deadline %v", next, it.ExpiresAt)
	}
	if err := pgtest.Exec(ctx, url, "UPDATE items SET expires_at = now() - interval '1 millisecond', next_sync_at = now() - interval '1 millisecond'"); err != nil {
		t.Fatal(err)
	}
	wB, err := s.newWorker("jobs", 2, time.Time{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	batch, expired, err := wB.claim(ctx)
	if err != nil || len(batch) != 0 || len(expired) != 2 {
		t.Fatalf("claim past the deadline: %d to sync, %d to expire (%v)", len(batch), len(expired), err)
	}
	if err := wB.expire(ctx, expired, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"inflight", "idle"} {
		it, err := s.GetItem(ctx, "jobs", id)
		if err != nil || it.StateOf() != record.StateExpired || it.Version != 2 || !it.Terminal {
			t.Fatalf("%s: %+v, %v", id, it.Record, err)
		}
	}
	// A's answer comes too late.
	wA.writeBack(ctx, batchA, update(batchA[0], `{"late": true}`), true, false, time.Now())
	if it, _ := s.GetItem(ctx, "jobs", "inflight"); it.StateOf() != record.StateExpired || it.Version != 2 {
		t.Fatalf("the late answer undid the expiry: %+v", *it.Record)
	}
	if batch, expired, err := wB.claim(ctx); err != nil || len(batch)+len(expired) != 0 {
		t.Fatalf("expired items claimed again: %d, %d, %v", len(batch), len(expired), err)
	}
}
