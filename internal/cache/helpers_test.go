package cache

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"k8s.io/client-go/util/workqueue"
	testingclock "k8s.io/utils/clock/testing"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testItem is a job with a status; "done" is terminal.
type testItem struct {
	status string
}

func (t *testItem) IsTerminal() bool { return t.status == "done" }

func item(status string) *testItem { return &testItem{status: status} }

// noDelay is a real client-go limiter that never throttles: an exponential
// backoff whose base delay is zero.
func noDelay() RateLimiter {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[*Batch](0, 0)
}

// harness builds and starts a cache on a fake clock and stops it, checking
// that it shut down, when the test ends.
type harness struct {
	t     *testing.T
	c     *AutoRefreshCache[Item]
	clock *testingclock.FakeClock
	reg   *prometheus.Registry
}

func newHarness(t *testing.T, o Options[Item]) *harness {
	t.Helper()
	h := &harness{t: t, clock: testingclock.NewFakeClock(time.Unix(1_700_000_000, 0)), reg: prometheus.NewRegistry()}
	if o.Name == "" {
		o.Name = "test"
	}
	if o.RateLimiter == nil {
		o.RateLimiter = noDelay()
	}
	if o.ResyncPeriod == 0 {
		o.ResyncPeriod = time.Minute
	}
	if o.Parallelism == 0 {
		o.Parallelism = 2
	}
	if o.Size == 0 {
		o.Size = 1000
	}
	o.Clock = h.clock
	o.Registerer = h.reg
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	return h
}

// start runs the cache until the test ends.
func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := h.c.Start(ctx); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-h.c.Stopped():
		case <-time.After(10 * time.Second):
			h.t.Error("cache did not stop within 10s of cancel")
		}
	})
}

// tick advances the fake clock by one resync period and waits until the
// refresh loop has run the cycle it triggers (not the syncs it queued).
func (h *harness) tick() {
	h.t.Helper()
	before := h.c.stats.cycles.Load()
	h.clock.Step(h.c.opts.ResyncPeriod)
	eventually(h.t, "a refresh cycle", func() bool { return h.c.stats.cycles.Load() > before })
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// idle waits until nothing is queued or in flight, so that a test can assert
// that no further sync can happen without a tick.
func (h *harness) idle() {
	h.t.Helper()
	eventually(h.t, "cache idle", func() bool {
		q := h.c.queue.Load()
		st := h.c.Stats()
		return st.InFlight == 0 && st.Enqueued == 0 && (q == nil || (*q).Len() == 0)
	})
}

// recorder is a SyncFunc that records its calls and applies a step function.
type recorder struct {
	mu    sync.Mutex
	calls int
	items map[ItemID]int
	step  func(id ItemID, it *testItem) (Item, SyncAction, error)
}

func newRecorder(step func(id ItemID, it *testItem) (Item, SyncAction, error)) *recorder {
	return &recorder{items: map[ItemID]int{}, step: step}
}

func (r *recorder) sync(_ context.Context, b Batch) ([]ItemSyncResponse, error) {
	r.mu.Lock()
	r.calls++
	for _, w := range b {
		r.items[w.GetID()]++
	}
	r.mu.Unlock()
	var out []ItemSyncResponse
	for _, w := range b {
		it, action, err := r.step(w.GetID(), w.GetItem().(*testItem))
		if err != nil {
			return nil, err
		}
		out = append(out, ItemSyncResponse{ID: w.GetID(), Item: it, Action: action})
	}
	return out, nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// advance moves new → running → done.
func advance(_ ItemID, it *testItem) (Item, SyncAction, error) {
	switch it.status {
	case "new":
		return item("running"), Update, nil
	case "running":
		return item("done"), Update, nil
	}
	return it, Unchanged, nil
}

func mustGet(t *testing.T, c *AutoRefreshCache[Item], id ItemID) *testItem {
	t.Helper()
	it, err := c.Get(id)
	if err != nil {
		t.Fatalf("Get(%q): %v", id, err)
	}
	return it.(*testItem)
}
