package watch

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/record"
)

func TestSlowSubscriberLags(t *testing.T) {
	h, reg := newHub(t, Options{BufferSize: 4})
	s := subscribe(t, h, "jobs", SubscribeOptions{})
	for i := range 10 {
		h.OnEvent("jobs", ev(autorefresh.EventCreated, fmt.Sprint("i", i), 1, false))
	}
	// Three events fit, the fourth slot holds the one marker.
	if k := kinds(drain(s)); k != "created:i0 created:i1 created:i2 lagged" {
		t.Fatalf("after overflow: %s", k)
	}
	want := `
# HELP autorefresh_watch_dropped_events_total Events dropped for event streams that read too slowly (each was told with a lagged event), by cache.
# TYPE autorefresh_watch_dropped_events_total counter
autorefresh_watch_dropped_events_total{cache="jobs"} 7
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "autorefresh_watch_dropped_events_total"); err != nil {
		t.Fatal(err)
	}
	// Once read, the stream flows again, and a second overflow gets a
	// second marker.
	h.OnEvent("jobs", ev(autorefresh.EventCreated, "j", 1, false))
	if k := kinds(drain(s)); k != "created:j" {
		t.Fatalf("after catching up: %s", k)
	}
	for i := range 5 {
		h.OnEvent("jobs", ev(autorefresh.EventCreated, fmt.Sprint("k", i), 1, false))
	}
	if k := kinds(drain(s)); k != "created:k0 created:k1 created:k2 lagged" {
		t.Fatalf("second overflow: %s", k)
	}
}

func TestLaggedMarkerIsNotRepeatedUntilRead(t *testing.T) {
	h, _ := newHub(t, Options{BufferSize: 4})
	s := subscribe(t, h, "jobs", SubscribeOptions{})
	for i := range 4 {
		h.OnEvent("jobs", ev(autorefresh.EventCreated, fmt.Sprint("i", i), 1, false))
	}
	// Read one event, not the marker: the events dropped now come after
	// the unread marker, whose reader re-reads the items after them, so
	// they get no second marker.
	if e := next(t, s); e.ID != "i0" {
		t.Fatalf("first: %+v", e)
	}
	h.OnEvent("jobs", ev(autorefresh.EventCreated, "x", 1, false))
	h.OnEvent("jobs", ev(autorefresh.EventCreated, "y", 1, false))
	if k := kinds(drain(s)); k != "created:i1 created:i2 lagged" {
		t.Fatalf("got %s", k)
	}
	h.OnEvent("jobs", ev(autorefresh.EventCreated, "z", 1, false))
	if k := kinds(drain(s)); k != "created:z" {
		t.Fatalf("after the marker was read: %s", k)
	}
}

func TestResume(t *testing.T) {
	h, _ := newHub(t, Options{ReplayEvents: 4})
	first := subscribe(t, h, "jobs", SubscribeOptions{})
	for i := range 6 {
		h.OnEvent("jobs", ev(autorefresh.EventCreated, fmt.Sprint("i", i), 1, false))
	}
	seen := drain(first)
	if len(seen) != 6 {
		t.Fatalf("got %d events", len(seen))
	}
	// The ring holds i2..i5. Resuming after i3 replays i4 and i5.
	s := subscribe(t, h, "jobs", SubscribeOptions{Resume: true, After: seen[3].Seq})
	if k := kinds(s.Backlog); k != "created:i4 created:i5" {
		t.Fatalf("resume after i3: %s", k)
	}
	// After i1 is still in reach: the ring's oldest is i2.
	s = subscribe(t, h, "jobs", SubscribeOptions{Resume: true, After: seen[1].Seq})
	if k := kinds(s.Backlog); k != "created:i2 created:i3 created:i4 created:i5" {
		t.Fatalf("resume after i1: %s", k)
	}
	// After i0, i1 is lost.
	s = subscribe(t, h, "jobs", SubscribeOptions{Resume: true, After: seen[0].Seq})
	if k := kinds(s.Backlog); k != "lagged created:i2 created:i3 created:i4 created:i5" {
		t.Fatalf("resume after i0: %s", k)
	}
	// From the future (another run of the server): lagged, nothing to replay.
	s = subscribe(t, h, "jobs", SubscribeOptions{Resume: true, After: seen[5].Seq + 100})
	if k := kinds(s.Backlog); k != "lagged" {
		t.Fatalf("resume from the future: %s", k)
	}
	// Up to date, filtered.
	s = subscribe(t, h, "jobs", SubscribeOptions{Resume: true, After: seen[2].Seq, ID: "i4"})
	if k := kinds(s.Backlog); k != "created:i4" {
		t.Fatalf("filtered resume: %s", k)
	}
	// Live events follow the backlog without a gap.
	h.OnEvent("jobs", ev(autorefresh.EventCreated, "i4b", 1, false))
	h.OnEvent("jobs", ev(autorefresh.EventUpdated, "i4", 2, false))
	if e := next(t, s); e.ID != "i4" || e.Kind != Updated {
		t.Fatalf("live after backlog: %+v", e)
	}
}

func TestResumeFromBeforeTheFirstWatcher(t *testing.T) {
	h, _ := newHub(t, Options{})
	h.OnEvent("jobs", ev(autorefresh.EventCreated, "early", 1, false)) // nobody watches: not kept
	s := subscribe(t, h, "jobs", SubscribeOptions{Resume: true, After: 500})
	if k := kinds(s.Backlog); k != "lagged" {
		t.Fatalf("backlog: %s", k)
	}
}

func TestRingByteBound(t *testing.T) {
	r := newRing(100, 3*256+30, 7)
	for i := range 5 {
		r.push(Event{Seq: uint64(10 + i), ID: "a"})
	}
	if r.len() != 3 || r.floor != 11 {
		t.Fatalf("len %d floor %d, want 3 and 11", r.len(), r.floor)
	}
	big := &record.Record{Data: json.RawMessage(strings.Repeat("x", 5000))}
	r.push(Event{Seq: 20, ID: "b", Item: big})
	if r.len() != 1 {
		t.Fatalf("a large event should push out all others, len %d", r.len())
	}
	out, lost := r.since(0, func(Event) bool { return true })
	if !lost || len(out) != 1 || out[0].Seq != 20 {
		t.Fatalf("since: %v %v", out, lost)
	}
}

// A slow stream of a cache of large items pins at most BufferBytes of them
// (one more event when nothing else is unread), not BufferSize versions.
func TestSlowSubscriberBoundedInBytes(t *testing.T) {
	const item = 64 << 10
	h, _ := newHub(t, Options{BufferSize: 256, BufferBytes: 4 * item})
	s := subscribe(t, h, "jobs", SubscribeOptions{})
	big := func(id string) autorefresh.Event {
		r := rec(id, 1, false)
		r.Data = json.RawMessage(`"` + strings.Repeat("x", item) + `"`)
		return autorefresh.Event{Type: autorefresh.EventCreated, ID: id, Item: r}
	}
	for i := range 100 {
		h.OnEvent("jobs", big(fmt.Sprint("i", i)))
	}
	// Each event weighs a little more than item, so three fit in four
	// items' worth of bytes; then the marker.
	if k := kinds(drain(s)); k != "created:i0 created:i1 created:i2 lagged" {
		t.Fatalf("after overflow: %s", k)
	}
	// Once read, the bytes are let go and the stream flows again; a lone
	// event larger than the bound still gets through.
	huge := rec("huge", 1, false)
	huge.Data = json.RawMessage(`"` + strings.Repeat("x", 8*item) + `"`)
	h.OnEvent("jobs", autorefresh.Event{Type: autorefresh.EventCreated, ID: "huge", Item: huge})
	if k := kinds(drain(s)); k != "created:huge" {
		t.Fatalf("after catching up: %s", k)
	}
}

// A gap in the source of events (Lost) reaches every watcher: a stream gets
// a lagged marker after the events from before the gap and before those
// after it, a long-poll wakes, and a resume from an event before the gap is
// told it lagged, while one from after the gap is not.
func TestLostTellsEveryWatcher(t *testing.T) {
	h, _ := newHub(t, Options{})
	s := subscribe(t, h, "jobs", SubscribeOptions{})
	other := subscribe(t, h, "other", SubscribeOptions{})
	h.OnEvent("jobs", ev(autorefresh.EventCreated, "before", 1, false))
	w, err := h.Watch("jobs", "before")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	h.Lost()
	h.OnEvent("jobs", ev(autorefresh.EventUpdated, "before", 2, false))
	seen := drain(s)
	if k := kinds(seen); k != "created:before lagged updated:before" {
		t.Fatalf("stream across the gap: %s", k)
	}
	if k := kinds(drain(other)); k != "lagged" {
		t.Fatalf("a stream of another cache: %s", k)
	}
	select {
	case <-w.C():
	default:
		t.Fatal("the long-poll was not woken by the gap")
	}
	r := subscribe(t, h, "jobs", SubscribeOptions{Resume: true, After: seen[0].Seq})
	if k := kinds(r.Backlog); k != "lagged updated:before" {
		t.Fatalf("resume from before the gap: %s", k)
	}
	r = subscribe(t, h, "jobs", SubscribeOptions{Resume: true, After: seen[2].Seq})
	if len(r.Backlog) != 0 {
		t.Fatalf("resume from after the gap: %s", kinds(r.Backlog))
	}
}
