package servicetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
)

// scheduleCases pin down when and what the refresh sends, the same in both
// modes: the period, the rate limit, terminal items, and results that
// arrive after their item was replaced.
var scheduleCases = []testCase{
	{"TerminalItemsNeverSent", testTerminalNeverSent},
	{"ResyncPeriodSpacesSyncs", testResyncSpacing},
	{"RateLimitPacesCalls", testRateLimitPaces},
	{"BaseDelayHoldsEachCall", testBaseDelay},
	{"RecreatedDuringSyncKeepsItsOwnData", testRecreatedDuringSync},
	{"StatsCountSyncsAndErrors", testStatsCount},
}

// echoUpstream answers each item sent at version v with data {"g": g,
// "n": v+1}, where g is the item's own tag: a result shows which item it
// was computed from. An item whose data has "stop": true is made terminal. It records when each id was sent and with what data,
// can park calls until release, and can fail every call.
type echoUpstream struct {
	gate
	url string

	mu    sync.Mutex
	calls []time.Time
	sent  map[string][]echoSent
	fail  bool
}

type echoSent struct {
	at      time.Time
	g       int
	version int
}

func newEchoUpstream(t *testing.T) *echoUpstream {
	u := &echoUpstream{sent: map[string][]echoSent{}}
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	t.Cleanup(u.release)
	u.url = srv.URL + "/sync"
	return u
}

func (u *echoUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Items []struct {
			ID      string `json:"id"`
			Version int    `json:"version"`
			Data    struct {
				G    int  `json:"g"`
				Stop bool `json:"stop"`
			} `json:"data"`
		} `json:"items"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	u.mu.Lock()
	u.calls = append(u.calls, now)
	for _, it := range req.Items {
		u.sent[it.ID] = append(u.sent[it.ID], echoSent{at: now, g: it.Data.G, version: it.Version})
	}
	fail := u.fail
	u.mu.Unlock()
	if !u.pass(r.Context()) {
		return
	}
	if fail {
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
		return
	}
	type entry struct {
		ID       string         `json:"id"`
		Action   string         `json:"action"`
		Data     map[string]int `json:"data"`
		Terminal bool           `json:"terminal"`
	}
	out := struct {
		Items []entry `json:"items"`
	}{Items: []entry{}}
	for _, it := range req.Items {
		out.Items = append(out.Items, entry{ID: it.ID, Action: "update",
			Data: map[string]int{"g": it.Data.G, "n": it.Version + 1}, Terminal: it.Data.Stop})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (u *echoUpstream) setFail(fail bool) {
	u.mu.Lock()
	u.fail = fail
	u.mu.Unlock()
}

// sends returns what was sent for id, in order.
func (u *echoUpstream) sends(id string) []echoSent {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]echoSent(nil), u.sent[id]...)
}

func (u *echoUpstream) callTimes() []time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]time.Time(nil), u.calls...)
}

// openJobs opens a service and registers the cache "jobs" with c.
func openJobs(t *testing.T, f Factory, c autorefresh.Config) (Service, context.Context) {
	t.Helper()
	s, _ := open1(t, f, Limits{})
	mustPut(t, s, "jobs", c, true)
	return s, ctxT(t)
}

// tagged is item data carrying the tag g.
func tagged(g int) string { return fmt.Sprintf(`{"g": %d}`, g) }

// tagOf reads the tag of an item's data.
func tagOf(t *testing.T, it autorefresh.Item) int {
	t.Helper()
	var d struct {
		G int `json:"g"`
	}
	if err := json.Unmarshal(it.Data, &d); err != nil {
		t.Fatalf("item %s: data %s: %v", it.ID, it.Data, err)
	}
	return d.G
}

// testTerminalNeverSent: an item created terminal, or made terminal by a
// reply, is never sent again. A live item synced in the same cycles proves
// that the cycles ran, so no sleep is needed to give the service a chance
// to go wrong.
func testTerminalNeverSent(t *testing.T, f Factory) {
	up := newEchoUpstream(t)
	s, ctx := openJobs(t, f, cfg(up.url, time.Hour, false))
	mustCreate(t, s, "jobs", "done", tagged(1), true)
	mustCreate(t, s, "jobs", "live", tagged(2), false)
	mustCreate(t, s, "jobs", "ends", `{"g": 3, "stop": true}`, false)
	for round := 1; round <= 3; round++ {
		if err := s.Sync(ctx, "jobs"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("sync round %d of the live item", round), 10*time.Second, func() bool {
			it, err := s.GetItem(ctx, "jobs", "live")
			return err == nil && it.Version == int64(round+1)
		})
		waitSettled(t, s, "jobs")
	}
	if got := up.sends("done"); len(got) != 0 {
		t.Fatalf("an item created terminal was sent %d times", len(got))
	}
	if got := up.sends("ends"); len(got) != 1 {
		t.Fatalf("an item made terminal by its first sync was sent %d times, want once", len(got))
	}
	if got := up.sends("live"); len(got) != 3 {
		t.Fatalf("the live item was sent %d times in 3 rounds, want 3", len(got))
	}
}

// testResyncSpacing: without sync-on-create, an item is first synced about
// one period after its create, and then about one period apart (the
// PostgreSQL mode jitters by ±10%, so the bound is half a period).
func testResyncSpacing(t *testing.T, f Factory) {
	const period = 300 * time.Millisecond
	up := newEchoUpstream(t)
	s, ctx := openJobs(t, f, cfg(up.url, period, false))
	created := time.Now()
	mustCreate(t, s, "jobs", "a", tagged(1), false)
	waitFor(t, "three syncs", 10*time.Second, func() bool {
		it, err := s.GetItem(ctx, "jobs", "a")
		return err == nil && it.Version >= 4
	})
	sends := up.sends("a")
	prev := created
	for i, snd := range sends[:3] {
		if gap := snd.at.Sub(prev); gap < period/2 {
			t.Fatalf("send %d came %s after the one before (or the create), want at least %s", i+1, gap, period/2)
		}
		prev = snd.at
	}
}

// testRateLimitPaces: rateLimit.qps and burst bound the webhook calls of a
// cache: ten items in batches of one at 10 calls/s with a burst of one take
// at least 0.9 s, whatever the parallelism.
func testRateLimitPaces(t *testing.T, f Factory) {
	up := newEchoUpstream(t)
	c := cfg(up.url, time.Hour, false)
	c.BatchSize, c.Parallelism = 1, 10
	c.RateLimit = &autorefresh.RateLimit{QPS: 10, Burst: 1}
	s, ctx := openJobs(t, f, c)
	const n = 10
	for i := range n {
		mustCreate(t, s, "jobs", fmt.Sprint(i), tagged(i), false)
	}
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every item synced", 20*time.Second, func() bool { return len(up.callTimes()) >= n })
	calls := up.callTimes()
	// n calls with one token to start with and 10 more a second: the last
	// comes at least (n-1)/10 s after the first. 80% of that allows for
	// the limiter's rounding, never for a missing limit.
	if span, want := calls[n-1].Sub(calls[0]), 8*(n-1)*time.Second/100; span < want {
		t.Fatalf("%d calls took %s, want at least %s at 10 calls/s", n, span, want)
	}
}

// testBaseDelay: rateLimit.baseDelay holds each webhook call at least that
// long after its items fell due, here after their create with
// sync-on-create.
func testBaseDelay(t *testing.T, f Factory) {
	const base = 500 * time.Millisecond
	up := newEchoUpstream(t)
	c := cfg(up.url, time.Hour, true)
	c.RateLimit = &autorefresh.RateLimit{BaseDelay: autorefresh.Duration(base), MaxDelay: autorefresh.Duration(time.Minute)}
	s, ctx := openJobs(t, f, c)
	created := time.Now()
	mustCreate(t, s, "jobs", "a", tagged(1), false)
	waitFor(t, "the sync on create", 10*time.Second, func() bool {
		it, err := s.GetItem(ctx, "jobs", "a")
		return err == nil && it.Version == 2
	})
	if wait := up.sends("a")[0].at.Sub(created); wait < base {
		t.Fatalf("the sync on create was sent %s after the create, want at least baseDelay %s", wait, base)
	}
}

// testRecreatedDuringSync: an item deleted, removed and created again while
// its old self is being synced keeps its own data: the old call's result
// belongs to an item that is gone.
func testRecreatedDuringSync(t *testing.T, f Factory) {
	up := newEchoUpstream(t)
	s, ctx := openJobs(t, f, cfg(up.url, time.Hour, false))
	mustCreate(t, s, "jobs", "x", tagged(1), false)
	up.park()
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "x sent", 10*time.Second, func() bool { return len(up.sends("x")) == 1 })
	if _, err := s.DeleteItem(ctx, "jobs", "x"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "x removed", 10*time.Second, func() bool {
		_ = s.Sync(ctx, "jobs") // the embedded mode removes at the next cycle
		_, err := s.GetItem(ctx, "jobs", "x")
		return err != nil
	})
	mustCreate(t, s, "jobs", "x", tagged(2), false)
	up.release()
	waitSettled(t, s, "jobs")
	it, err := s.GetItem(ctx, "jobs", "x")
	if err != nil {
		t.Fatal(err)
	}
	// The new x may have been synced since (by a cycle the last Sync
	// asked for), but only from its own data.
	if g := tagOf(t, it); g != 2 {
		t.Fatalf("the re-created x (version %d) has tag %d, want 2: the old item's result was applied to it", it.Version, g)
	}
}

// testStatsCount: the stats count successful and failed calls, and say when
// the last of each happened and why the last failure failed.
func testStatsCount(t *testing.T, f Factory) {
	up := newEchoUpstream(t)
	s, ctx := openJobs(t, f, cfg(up.url, time.Hour, false))
	mustCreate(t, s, "jobs", "a", tagged(1), false)
	mustCreate(t, s, "jobs", "b", tagged(2), true)
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a synced", 10*time.Second, func() bool {
		it, err := s.GetItem(ctx, "jobs", "a")
		return err == nil && it.Version == 2
	})
	waitSettled(t, s, "jobs")
	up.setFail(true)
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	var st autorefresh.Info
	waitFor(t, "one sync and one error counted", 10*time.Second, func() bool {
		var err error
		st, err = s.Info(ctx, "jobs")
		return err == nil && st.Stats.Syncs >= 1 && st.Stats.SyncErrors >= 1 && st.Stats.InFlight == 0
	})
	got := st.Stats
	switch {
	case got.Size != 2:
		t.Fatalf("stats size %d, want 2", got.Size)
	case got.Syncs != 1 || got.SyncErrors != 1:
		t.Fatalf("stats count %d syncs and %d errors, want 1 and 1", got.Syncs, got.SyncErrors)
	case got.LastSyncAt.IsZero() || got.LastErrorAt.IsZero() || got.LastErrorAt.Before(got.LastSyncAt):
		t.Fatalf("last sync at %s, last error at %s: want both, the error after", got.LastSyncAt, got.LastErrorAt)
	case got.LastError == "":
		t.Fatal("no last error text after a failed call")
	}
}
