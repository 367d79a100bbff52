package replicated

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/pgtest"
	"github.com/autorefresh/autorefresh/internal/watch"
)

// replicaWithHub starts a replica whose item events feed a watch hub of its
// own, numbered as cmd/server numbers them in PostgreSQL mode.
func replicaWithHub(t *testing.T, url string) (*Service, *watch.Hub) {
	t.Helper()
	var hub *watch.Hub
	opts := testOptions(t, url)
	// Events flow only after Start, by which time hub is set.
	opts.OnEvent = func(c string, ev autorefresh.Event) { hub.OnEvent(c, ev) }
	s, err := New(ctxFor(t, 30*time.Second), opts)
	if err != nil {
		t.Fatal(err)
	}
	hub, err = watch.New(watch.Options{Registerer: prometheus.NewRegistry(), FirstSeq: s.FirstEventSeq(),
		BufferSize: 4096, BufferBytes: 64 << 20, ReplayEvents: 4096, ReplayBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	runCtx, stop := context.WithCancel(context.Background())
	if err := s.Start(runCtx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		s.Wait()
		s.Close()
	})
	return s, hub
}

// drain reads n events from sub.
func drain(t *testing.T, sub *watch.Subscription, n int) []watch.Event {
	t.Helper()
	out := make([]watch.Event, 0, n)
	timeout := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				t.Fatalf("stream ended after %d events: %v", len(out), sub.Err())
			}
			if ev.Kind == watch.Lagged {
				t.Fatalf("live stream lagged after %d events", len(out))
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("%d of %d events within 20s", len(out), n)
		}
	}
	return out
}

// TestLastEventIDFromAnotherReplica: two replicas serve the same events,
// each numbering them itself. An id from one given to the other must not
// be taken for a position in the other's stream: the client is told it
// lagged. Given back to the replica that issued it, it replays exactly what
// followed.
func TestLastEventIDFromAnotherReplica(t *testing.T) {
	url := pgtest.NewDB(t)
	a, hubA := replicaWithHub(t, url)
	_, hubB := replicaWithHub(t, url)
	ctx := ctxFor(t, 30*time.Second)
	if _, err := a.Put(ctx, "jobs", testCfg("http://127.0.0.1:1/sync", time.Hour, time.Second)); err != nil {
		t.Fatal(err)
	}
	subA, err := hubA.Subscribe("jobs", watch.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer subA.Close()
	subB, err := hubB.Subscribe("jobs", watch.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer subB.Close()
	const n = 2000
	if err := pgtest.Exec(ctx, url, `INSERT INTO items (cache, id, data, created_at, updated_at, next_sync_at, last_used_at)
		SELECT 'jobs', 'i' || g, '{}', now(), now(), now() + interval '1 hour', now() FROM generate_series(1, $1) g`, n); err != nil {
		t.Fatal(err)
	}
	evA, evB := drain(t, subA, n), drain(t, subB, n)
	for i := range n {
		if evA[i].ID != evB[i].ID {
			t.Fatalf("event %d: %s on A, %s on B", i, evA[i].ID, evB[i].ID)
		}
	}

	for _, at := range []int{0, n / 2, n - 2} {
		fromA := evA[at].Seq
		onB, err := hubB.Subscribe("jobs", watch.SubscribeOptions{Resume: true, After: fromA})
		if err != nil {
			t.Fatal(err)
		}
		onB.Close()
		if len(onB.Backlog) == 0 || onB.Backlog[0].Kind != watch.Lagged {
			first := "nothing"
			if len(onB.Backlog) > 0 {
				first = string(onB.Backlog[0].Kind) + " " + onB.Backlog[0].ID
			}
			t.Fatalf("A's id of event %d (%d) resumed on B (ids %d..%d) with %d events from %s, and no lagged notice",
				at, fromA, evB[0].Seq, evB[n-1].Seq, len(onB.Backlog), first)
		}
		onA, err := hubA.Subscribe("jobs", watch.SubscribeOptions{Resume: true, After: fromA})
		if err != nil {
			t.Fatal(err)
		}
		onA.Close()
		if len(onA.Backlog) != n-1-at || onA.Backlog[0].Kind == watch.Lagged || onA.Backlog[0].ID != evA[at+1].ID {
			t.Fatalf("A's id resumed on A: %d events, want the %d after it", len(onA.Backlog), n-1-at)
		}
	}
}
