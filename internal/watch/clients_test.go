package watch

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// refusals are the expected values of autorefresh_watch_refused_total.
type refusals struct {
	streams, longPolls, clientStreams, clientLongPolls int
}

// wantRefused compares autorefresh_watch_refused_total with want, every
// reason included: a refusal counted under the wrong reason fails too.
func wantRefused(t *testing.T, reg prometheus.Gatherer, want refusals) {
	t.Helper()
	text := fmt.Sprintf(`
# HELP autorefresh_watch_refused_total Event streams and long-polls refused with 503 because a cap was full, by reason: streams and long_polls (the server's caps), client_streams and client_long_polls (one client's).
# TYPE autorefresh_watch_refused_total counter
autorefresh_watch_refused_total{reason="client_long_polls"} %d
autorefresh_watch_refused_total{reason="client_streams"} %d
autorefresh_watch_refused_total{reason="long_polls"} %d
autorefresh_watch_refused_total{reason="streams"} %d
`, want.clientLongPolls, want.clientStreams, want.longPolls, want.streams)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(text), "autorefresh_watch_refused_total"); err != nil {
		t.Fatal(err)
	}
}

// TestPerClientCaps: a client at its cap is refused (Unavailable) while
// another is served, and a client's entry goes with its last stream or
// waiter, so the accounting never outgrows what is open.
func TestPerClientCaps(t *testing.T) {
	h, reg := newHub(t, Options{MaxStreams: 10, MaxWaiters: 10, MaxStreamsPerClient: 2, MaxWaitersPerClient: 3})
	wantRefused(t, reg, refusals{})
	var subs []*Subscription
	for range 2 {
		subs = append(subs, subscribe(t, h, "jobs", SubscribeOptions{Client: "a"}))
	}
	if _, err := h.Subscribe("jobs", SubscribeOptions{Client: "a"}); errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("a's third stream: %v, want Unavailable", err)
	}
	subs = append(subs, subscribe(t, h, "jobs", SubscribeOptions{Client: "b"}))
	wantRefused(t, reg, refusals{clientStreams: 1})
	var ws []*Waiter
	for range 3 {
		w, err := h.WatchFor("a", "jobs", "x")
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	if _, err := h.WatchFor("a", "jobs", "x"); errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("a's fourth waiter: %v, want Unavailable", err)
	}
	w, err := h.WatchFor("b", "jobs", "x")
	if err != nil {
		t.Fatalf("b's waiter: %v", err)
	}
	ws = append(ws, w)
	wantRefused(t, reg, refusals{clientStreams: 1, clientLongPolls: 1})
	// A refusal by the client's cap takes nothing from the server's.
	if n := h.streams.Load(); n != 3 {
		t.Fatalf("%d streams counted, want 3", n)
	}
	if n := h.waits.Load(); n != 4 {
		t.Fatalf("%d waiters counted, want 4", n)
	}
	subs[0].Close()
	subs[0].Close() // twice: released once
	again, err := h.Subscribe("jobs", SubscribeOptions{Client: "a"})
	if err != nil {
		t.Fatalf("a's stream after one closed: %v", err)
	}
	subs = append(subs, again)
	if n := h.clientStreams.n["a"]; n != 2 {
		t.Fatalf("a holds %d streams, want 2", n)
	}
	h.Close() // ends every subscription; the holders still Close them
	for _, s := range subs {
		s.Close()
	}
	for _, w := range ws {
		w.Stop()
	}
	if n := h.clientWaits.clients(); n != 0 {
		t.Fatalf("%d clients left in the waiters' accounting", n)
	}
	if n := h.clientStreams.clients(); n != 0 {
		t.Fatalf("%d clients left in the streams' accounting", n)
	}
}
