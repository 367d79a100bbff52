package replicated

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/exampleupstream"
	"github.com/autorefresh/autorefresh/internal/pgtest"
)

// recorder keeps the events and cache deletions one replica reports.
type recorder struct {
	mu      sync.Mutex
	events  []string
	deleted []string
}

func (r *recorder) onEvent(c string, ev autorefresh.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := c + "/" + ev.ID + " " + ev.Type.String()
	if rec := ev.Item; rec != nil {
		s += " v" + itoa(int(rec.Version))
		if rec.Terminal {
			s += " terminal"
		}
	}
	r.events = append(r.events, s)
}

func (r *recorder) onDeleted(c string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deleted = append(r.deleted, c)
}

func (r *recorder) has(want ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range want {
		if !slices.Contains(r.events, w) {
			return false
		}
	}
	return true
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestChangesReachEveryReplica: a cache registered on one replica is
// refreshed by another within a second, and item events of changes made
// anywhere reach every replica's OnEvent.
func TestChangesReachEveryReplica(t *testing.T) {
	url := pgtest.NewDB(t)
	up, err := exampleupstream.New(exampleupstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	recs := []*recorder{{}, {}}
	var reps []*Service
	for _, r := range recs {
		opts := testOptions(t, url)
		opts.ReconcileInterval = time.Hour // notifications only
		opts.OnEvent, opts.OnCacheDeleted = r.onEvent, r.onDeleted
		s, _ := startService(t, opts)
		reps = append(reps, s)
	}
	a, b := reps[0], reps[1]
	ctx := ctxFor(t, 60*time.Second)
	cfg := testCfg(srv.URL+"/sync", time.Hour, time.Second)
	cfg.Size = 3
	start := time.Now()
	if _, err := a.Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "replica B to start refreshing the cache", time.Second, func() bool { return b.worker("jobs") != nil })
	t.Logf("cache reached replica B in %s", time.Since(start))

	// Created on B, synced by someone, seen by both.
	if _, _, err := b.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "x", Data: json.RawMessage(`{"status": "Not-started"}`), Terminal: false}); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		waitUntil(t, "events on replica "+itoa(i), 10*time.Second, func() bool {
			return r.has("jobs/x created v1", "jobs/x updated v2")
		})
	}
	if err := a.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		waitUntil(t, "the terminal update on replica "+itoa(i), 10*time.Second, func() bool {
			return r.has("jobs/x updated v3 terminal")
		})
	}
	// Deleted on A, removed by a cycle, seen by both without an item.
	if _, err := a.DeleteItem(ctx, "jobs", "x"); err != nil {
		t.Fatal(err)
	}
	if err := pgtest.Exec(ctx, url, "UPDATE caches SET housekept_at = now() - interval '2 hours'"); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		waitUntil(t, "the deletion on replica "+itoa(i), 10*time.Second, func() bool { return r.has("jobs/x deleted") })
	}
	// Past the size of 3, the least recently used item is evicted.
	for _, id := range []string{"e1", "e2", "e3", "e4"} {
		if _, _, err := b.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: id, Data: nil, Terminal: true}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // distinct last_used_at
	}
	if err := pgtest.Exec(ctx, url, "UPDATE caches SET housekept_at = now() - interval '2 hours'"); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		waitUntil(t, "the eviction on replica "+itoa(i), 10*time.Second, func() bool { return r.has("jobs/e1 evicted") })
	}
	if _, err := a.GetItem(ctx, "jobs", "e4"); err != nil {
		t.Fatalf("the most recent item went: %v", err)
	}
	// An item too large to travel in the notification is re-read.
	if _, err := a.Put(ctx, "bigc", cfg); err != nil {
		t.Fatal(err)
	}
	big := `{"blob": "` + strings.Repeat("x", 8000) + `"}`
	if _, _, err := b.CreateItem(ctx, "bigc", autorefresh.NewItem{ID: "big", Data: json.RawMessage(big), Terminal: true}); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		waitUntil(t, "the large item's event on replica "+itoa(i), 10*time.Second, func() bool {
			return r.has("bigc/big created v1 terminal")
		})
	}
	// Deleting the cache stops it everywhere.
	if err := b.Delete(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		waitUntil(t, "the cache deletion on replica "+itoa(i), 2*time.Second, func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			return slices.Contains(r.deleted, "jobs")
		})
	}
	if a.worker("jobs") != nil || b.worker("jobs") != nil {
		t.Fatal("a deleted cache is still refreshed")
	}
	// The cache deletion sends no item events.
	for _, r := range recs {
		if r.has("jobs/e4 deleted") {
			t.Fatal("a cache deletion sent item events")
		}
	}
}

// TestLostListenConnectionIsReported: the events committed while the LISTEN
// connection is down never arrive, so once it is back OnLost says so, after
// the events from before the gap and before those after it.
func TestLostListenConnectionIsReported(t *testing.T) {
	url := pgtest.NewDB(t)
	rec := &recorder{}
	opts := testOptions(t, url)
	opts.OnEvent = rec.onEvent
	opts.OnLost = func() {
		rec.mu.Lock()
		rec.events = append(rec.events, "lost")
		rec.mu.Unlock()
	}
	s, _ := startService(t, opts)
	ctx := ctxFor(t, 60*time.Second)
	if _, err := s.Put(ctx, "jobs", testCfg("http://127.0.0.1:1/sync", time.Hour, time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "before", Data: nil, Terminal: true}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the event from before the gap", 10*time.Second, func() bool { return rec.has("jobs/before created v1 terminal") })
	var killed int
	if err := pgtest.QueryRow(ctx, url, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND query LIKE 'LISTEN%'`, &killed, "autorefresh "+s.ReplicaID()); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d LISTEN connections, want 1", killed)
	}
	waitUntil(t, "the gap reported", 20*time.Second, func() bool { return rec.has("lost") })
	if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "after", Data: nil, Terminal: true}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the event from after the gap", 10*time.Second, func() bool { return rec.has("jobs/after created v1 terminal") })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	order := strings.Join(rec.events, ", ")
	if !strings.HasPrefix(order, "jobs/before created v1 terminal, lost, ") || !strings.HasSuffix(order, "jobs/after created v1 terminal") {
		t.Fatalf("events %s: want the one before, then lost, then the one after", order)
	}
}
