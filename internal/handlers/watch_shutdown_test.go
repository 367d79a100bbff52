package handlers_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestShutdownEndsStreamsAndPolls checks that http.Server.Shutdown, with the
// hub closed by RegisterOnShutdown as cmd/server does, returns at once
// although event streams and long-polls are open, and that nothing leaks.
func TestShutdownEndsStreamsAndPolls(t *testing.T) {
	w := newWatchEnv(t, watchConfig{})
	w.jobs()
	w.create("a")
	ignore := goleak.IgnoreCurrent()

	streams := make([]*sseClient, 2)
	for i := range streams {
		streams[i], _ = w.openStream("/v1/caches/jobs/events", nil)
	}
	polls := []<-chan resp{
		w.poll("waitForChange=true&timeout=40s"),
		w.poll("waitForChange=true&timeout=40s"),
	}
	w.waiting(2)
	eventually(t, "streams to open", func() bool { return w.metric("autorefresh_watch_streams", "jobs") == 2 })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v (streams or polls kept it waiting)", err)
	}
	for _, s := range streams {
		if c := s.ended(); len(c) == 0 || c[len(c)-1] != "the server is shutting down" {
			t.Fatalf("last comments: %q", c)
		}
		s.res.Body.Close()
	}
	// A poll cut short by the shutdown answers with the item as it is.
	for _, p := range polls {
		if r := answer(t, p); r.status != http.StatusOK || r.json(t)["version"].(float64) != 1 {
			t.Fatalf("poll at shutdown: %d %s", r.status, r.body)
		}
	}
	w.client.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
	goleak.VerifyNone(t, ignore)
}

// TestClosedHubRefusesNewWatchers checks the answers while shutting down.
func TestClosedHubRefusesNewWatchers(t *testing.T) {
	w := newWatchEnv(t, watchConfig{})
	w.jobs()
	w.create("a")
	w.hub.Close()
	_, r := w.openStream("/v1/caches/jobs/events", nil)
	if r.status != http.StatusServiceUnavailable || r.json(t)["code"] != "UNAVAILABLE" {
		t.Fatalf("stream: %d %s", r.status, r.body)
	}
	r = w.do("GET", "/v1/caches/jobs/items/a?waitForChange=true", "", "")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("poll: %d %s", r.status, r.body)
	}
	// Plain GETs go on.
	if r := w.do("GET", "/v1/caches/jobs/items/a", "", ""); r.status != http.StatusOK {
		t.Fatalf("GET: %d", r.status)
	}
}
