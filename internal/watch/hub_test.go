package watch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newHub(t *testing.T, o Options) (*Hub, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	if o.FirstSeq == 0 {
		o.FirstSeq = 1000
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h, reg
}

func rec(id string, version int64, terminal bool) *record.Record {
	return &record.Record{ID: id, Data: json.RawMessage(`{"v":` + fmt.Sprint(version) + `}`), Version: version, Terminal: terminal}
}

func ev(typ autorefresh.EventType, id string, version int64, terminal bool) autorefresh.Event {
	return autorefresh.Event{Type: typ, ID: id, Item: rec(id, version, terminal)}
}

func subscribe(t *testing.T, h *Hub, name string, o SubscribeOptions) *Subscription {
	t.Helper()
	s, err := h.Subscribe(name, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// next receives one event or fails after a deadline.
func next(t *testing.T, s *Subscription) Event {
	t.Helper()
	select {
	case e, ok := <-s.C():
		if !ok {
			t.Fatalf("subscription ended: %v", s.Err())
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return Event{}
}

// drain returns what is queued now, without waiting.
func drain(s *Subscription) []Event {
	var out []Event
	for {
		select {
		case e, ok := <-s.C():
			if !ok {
				return out
			}
			out = append(out, e)
		default:
			return out
		}
	}
}

func kinds(events []Event) string {
	var b []string
	for _, e := range events {
		if e.Kind == Lagged {
			b = append(b, "lagged")
			continue
		}
		b = append(b, string(e.Kind)+":"+e.ID)
	}
	return strings.Join(b, " ")
}

func TestOrderKindsAndFilter(t *testing.T) {
	h, _ := newHub(t, Options{})
	all := subscribe(t, h, "jobs", SubscribeOptions{})
	one := subscribe(t, h, "jobs", SubscribeOptions{ID: "a"})
	other := subscribe(t, h, "other", SubscribeOptions{})

	h.OnEvent("jobs", ev(autorefresh.EventCreated, "a", 1, false))
	h.OnEvent("jobs", ev(autorefresh.EventCreated, "b", 1, false))
	h.OnEvent("jobs", ev(autorefresh.EventUpdated, "a", 2, false))
	h.OnEvent("jobs", ev(autorefresh.EventUpdated, "a", 3, true))
	h.OnEvent("jobs", ev(autorefresh.EventEvicted, "b", 1, false))
	h.OnEvent("jobs", ev(autorefresh.EventDeleted, "a", 3, true))

	got := drain(all)
	if k := kinds(got); k != "created:a created:b updated:a terminal:a evicted:b deleted:a" {
		t.Fatalf("all: %s", k)
	}
	for i, e := range got {
		if i > 0 && e.Seq <= got[i-1].Seq {
			t.Fatalf("seq not increasing: %d after %d", e.Seq, got[i-1].Seq)
		}
		if e.Cache != "jobs" || e.Gone() != (e.Item == nil) {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	if got[3].Item.Version != 3 || !got[3].Item.Terminal {
		t.Fatalf("terminal event item: %+v", got[3].Item)
	}
	if k := kinds(drain(one)); k != "created:a updated:a terminal:a deleted:a" {
		t.Fatalf("filtered: %s", k)
	}
	if k := drain(other); len(k) != 0 {
		t.Fatalf("other cache got %s", kinds(k))
	}
}

func TestUnwatchedCacheKeepsNothing(t *testing.T) {
	h, reg := newHub(t, Options{})
	h.OnEvent("jobs", ev(autorefresh.EventCreated, "a", 1, false))
	if n := len(h.topics); n != 0 {
		t.Fatalf("%d topics for an unwatched cache", n)
	}
	// Watching a name and leaving leaves nothing behind either.
	s := subscribe(t, h, "nothing-here", SubscribeOptions{})
	w, err := h.Watch("nothing-here", "x")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	w.Stop()
	if n := len(h.topics); n != 0 {
		t.Fatalf("%d topics left after the watchers left", n)
	}
	// The per-cache series, that is: the refusals are the hub's own.
	if n, err := testutil.GatherAndCount(reg, "autorefresh_watch_streams", "autorefresh_watch_waiting_requests", "autorefresh_watch_dropped_events_total"); err != nil || n != 0 {
		t.Fatalf("metrics: %d series, %v", n, err)
	}
}

func TestCaps(t *testing.T) {
	h, reg := newHub(t, Options{MaxStreams: 2, MaxWaiters: 1})
	a := subscribe(t, h, "jobs", SubscribeOptions{})
	subscribe(t, h, "other", SubscribeOptions{})
	if _, err := h.Subscribe("jobs", SubscribeOptions{}); errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("third stream: %v", err)
	}
	a.Close()
	a.Close() // idempotent: must not free two slots
	subscribe(t, h, "jobs", SubscribeOptions{})
	if _, err := h.Subscribe("jobs", SubscribeOptions{}); errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("stream after a double Close: %v", err)
	}

	w, err := h.Watch("jobs", "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Watch("jobs", "b"); errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("second waiter: %v", err)
	}
	w.Stop()
	w, err = h.Watch("jobs", "b")
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	wantRefused(t, reg, refusals{streams: 2, longPolls: 1})
}

func TestWaiter(t *testing.T) {
	h, reg := newHub(t, Options{})
	w, err := h.Watch("jobs", "a")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	want := `
# HELP autorefresh_watch_waiting_requests Long-poll GETs waiting for a change now, by cache.
# TYPE autorefresh_watch_waiting_requests gauge
autorefresh_watch_waiting_requests{cache="jobs"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "autorefresh_watch_waiting_requests"); err != nil {
		t.Fatal(err)
	}
	h.OnEvent("jobs", ev(autorefresh.EventCreated, "b", 1, false))
	select {
	case <-w.C():
		t.Fatal("woken by another item")
	default:
	}
	h.OnEvent("jobs", ev(autorefresh.EventUpdated, "a", 2, false))
	select {
	case <-w.C():
	case <-time.After(5 * time.Second):
		t.Fatal("not woken by its item")
	}
	w.Stop()
	w.Stop()
	if h.waits.Load() != 0 {
		t.Fatalf("waiters %d after Stop", h.waits.Load())
	}
}

func TestCacheDeletedEndsItsWatchers(t *testing.T) {
	h, _ := newHub(t, Options{})
	s := subscribe(t, h, "jobs", SubscribeOptions{})
	keep := subscribe(t, h, "other", SubscribeOptions{})
	w, err := h.Watch("jobs", "a")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	h.OnEvent("jobs", ev(autorefresh.EventCreated, "a", 1, false))
	// The waiter fired on the event; watch again to see the deletion.
	w2, err := h.Watch("jobs", "a")
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	h.CacheDeleted("jobs")
	if k := kinds(drain(s)); k != "created:a" {
		t.Fatalf("before the end: %s", k)
	}
	if _, ok := <-s.C(); ok || !errors.Is(s.Err(), ErrCacheDeleted) {
		t.Fatalf("stream not ended with ErrCacheDeleted: %v", s.Err())
	}
	<-w2.C()
	// A cache registered again under the name starts afresh: no replay of
	// the old one's events.
	again := subscribe(t, h, "jobs", SubscribeOptions{Resume: true, After: 1000})
	if k := kinds(again.Backlog); k != "lagged" {
		t.Fatalf("backlog of the new cache: %s", k)
	}
	h.OnEvent("other", ev(autorefresh.EventCreated, "z", 1, false))
	if e := next(t, keep); e.ID != "z" {
		t.Fatalf("other cache: %+v", e)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	h, _ := newHub(t, Options{})
	s := subscribe(t, h, "jobs", SubscribeOptions{})
	w, err := h.Watch("jobs", "a")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	h.Close()
	h.Close()
	<-w.C()
	<-h.Done()
	if _, ok := <-s.C(); ok || !errors.Is(s.Err(), ErrClosed) {
		t.Fatalf("stream not ended with ErrClosed: %v", s.Err())
	}
	if _, err := h.Subscribe("jobs", SubscribeOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	if _, err := h.Watch("jobs", "a"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Watch after Close: %v", err)
	}
	h.OnEvent("jobs", ev(autorefresh.EventCreated, "a", 1, false)) // must not panic
}

// TestConcurrentPublishers runs publishers, readers and watchers at once
// under the race detector: each reader must see strictly increasing Seqs.
func TestConcurrentPublishers(t *testing.T) {
	h, _ := newHub(t, Options{BufferSize: 8})
	const publishers, perPublisher = 4, 500
	var readers sync.WaitGroup
	stop := make(chan struct{})
	for r := range 4 {
		s := subscribe(t, h, "jobs", SubscribeOptions{})
		readers.Add(1)
		go func() {
			defer readers.Done()
			var last uint64
			for {
				select {
				case e := <-s.C():
					if e.Kind != Lagged {
						if e.Seq <= last {
							t.Errorf("reader %d: seq %d after %d", r, e.Seq, last)
						}
						last = e.Seq
					}
				case <-stop:
					return
				}
			}
		}()
	}
	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for i := range perPublisher {
				id := fmt.Sprint("p", p, "-", i%10)
				if w, err := h.Watch("jobs", id); err == nil {
					w.Stop()
				}
				h.OnEvent("jobs", ev(autorefresh.EventUpdated, id, int64(i), false))
			}
		}()
	}
	pubs.Wait()
	close(stop)
	readers.Wait()
}

// TestStaleUpdateAfterRemovalIsDropped covers the engine emitting a sync's
// update after the removal of the same item, which it can since it emits
// outside its locks: watchers must not see the item come back.
func TestStaleUpdateAfterRemovalIsDropped(t *testing.T) {
	h, _ := newHub(t, Options{})
	s := subscribe(t, h, "jobs", SubscribeOptions{})
	v2 := rec("a", 2, false)
	h.OnEvent("jobs", autorefresh.Event{Type: autorefresh.EventEvicted, ID: "a", Item: v2})
	h.OnEvent("jobs", autorefresh.Event{Type: autorefresh.EventUpdated, ID: "a", Item: v2}) // late
	h.OnEvent("jobs", ev(autorefresh.EventUpdated, "b", 2, false))                          // another item
	if k := kinds(drain(s)); k != "evicted:a updated:b" {
		t.Fatalf("got %s", k)
	}
	// The id created again is a new item, whose updates all go through.
	again := rec("a", 1, false)
	again.CreatedAt = v2.CreatedAt.Add(time.Second)
	h.OnEvent("jobs", autorefresh.Event{Type: autorefresh.EventCreated, ID: "a", Item: again})
	next := again.Next(nil, true, again.CreatedAt)
	h.OnEvent("jobs", autorefresh.Event{Type: autorefresh.EventUpdated, ID: "a", Item: next})
	if k := kinds(drain(s)); k != "created:a terminal:a" {
		t.Fatalf("after re-creation: %s", k)
	}
}
