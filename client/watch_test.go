package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/client"
)

// sseServer answers each connection of a stream with the next script
// entry; it records the Last-Event-ID of each connection.
type sseServer struct {
	*httptest.Server
	mu      sync.Mutex
	scripts []func(w http.ResponseWriter)
	resumed []string
}

func newSSEServer(scripts ...func(w http.ResponseWriter)) *sseServer {
	s := &sseServer{scripts: scripts}
	s.Server = httptest.NewServer(handler(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.resumed = append(s.resumed, r.Header.Get("Last-Event-ID"))
		n := len(s.resumed) - 1
		s.mu.Unlock()
		if n >= len(s.scripts) {
			writeErr(w, 404, "NOT_FOUND", `cache "jobs" not found`)
			return
		}
		s.scripts[n](w)
	}))
	return s
}

func (s *sseServer) lastEventIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.resumed...)
}

// events writes a stream of events and returns, which drops the
// connection.
func events(text string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "retry: 2000\n\n"+text)
	}
}

const item = `{"id":"a","data":null,"terminal":false,"version":%d,"createdAt":"2025-06-01T12:00:00Z","updatedAt":"2025-06-01T12:00:00Z"}`

func TestWatchResumesAfterADrop(t *testing.T) {
	srv := newSSEServer(
		events("id: 1\nevent: created\ndata: "+fmt.Sprintf(item, 1)+"\n\nid: 2\nevent: updated\ndata: "+fmt.Sprintf(item, 2)+"\n\n"),
		// The second connection is cut in the middle of an event, which
		// is dropped and comes again on the third.
		events("event: lagged\ndata: {\"message\":\"dropped\"}\n\nid: 3\nevent: failed\ndata: "+fmt.Sprintf(item, 3)[:20]),
		func(w http.ResponseWriter) { writeErr(w, 503, "UNAVAILABLE", "too many streams") },
		events("id: 3\nevent: failed\ndata: "+fmt.Sprintf(item, 3)+"\n\nid: 4\nevent: evicted\ndata: {\"id\":\"a\"}\n\n"),
	)
	defer srv.Close()
	var sleeps client.Sleeps
	c := newClient(t, srv.URL, client.WithSleeps(&sleeps))
	var got []string
	var last error
	for ev, err := range c.Watch(testCtx(t), "jobs", client.WatchOptions{ItemID: "a"}) {
		if err != nil {
			last = err
			continue
		}
		got = append(got, fmt.Sprintf("%s/%s/%s", ev.Kind, ev.ID, ev.ItemID))
		if ev.Kind == client.EventFailed && (ev.Item == nil || ev.Item.Version != 3) {
			t.Errorf("failed event %+v", ev)
		}
	}
	want := "[created/1/a updated/2/a lagged// failed/3/a evicted/4/a]"
	if fmt.Sprint(got) != want {
		t.Errorf("events %v, want %v", got, want)
	}
	// The third connection's 503 is retried by the request's retry
	// policy; the watch then resumes after event 2, and after 4 at the
	// end (answered 404, which ends the watch).
	if ids := srv.lastEventIDs(); fmt.Sprint(ids) != "[ 2 2 2 4]" {
		t.Errorf("Last-Event-ID per connection %q", ids)
	}
	if !client.IsNotFound(last) {
		t.Errorf("the watch ended with %v, want NOT_FOUND", last)
	}
	// Reconnections wait the server's retry hint, 2s.
	if d := sleeps.Delays(); len(d) < 3 || d[0] != 2*time.Second {
		t.Errorf("waits %v", d)
	}
}

func TestWatchGivesUpAfterMaxReconnects(t *testing.T) {
	srv := httptest.NewServer(handler(func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, 500, "INTERNAL", "broken")
	}))
	defer srv.Close()
	var sleeps client.Sleeps
	c := newClient(t, srv.URL, client.WithSleeps(&sleeps))
	var errs []error
	for _, err := range c.Watch(testCtx(t), "jobs", client.WatchOptions{MaxReconnects: 3, ReconnectDelay: time.Second}) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], client.ErrInternal) {
		t.Fatalf("errors %v", errs)
	}
	if d := sleeps.Delays(); fmt.Sprint(d) != "[1s 2s 4s]" {
		t.Errorf("waits %v, want [1s 2s 4s]", d)
	}
}

func TestWatchFatalErrors(t *testing.T) {
	srv := newSSEServer(events("event: created\ndata: " + strings.Repeat("x", 2000) + "\n\n"))
	defer srv.Close()
	c := newClient(t, srv.URL, client.WithSleeps(&client.Sleeps{}))
	var errs []error
	for _, err := range c.Watch(testCtx(t), "jobs", client.WatchOptions{MaxLineBytes: 1000}) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "longer than") {
		t.Errorf("errors %v", errs)
	}
	if n := len(srv.lastEventIDs()); n != 1 {
		t.Errorf("%d connections; a line over the bound must not reconnect", n)
	}
}

func TestWatchSkipsMalformedEvents(t *testing.T) {
	srv := newSSEServer(events("id: 1\nevent: created\ndata: {not json\n\nid: 2\nevent: deleted\ndata: {\"id\":\"a\"}\n\n"))
	defer srv.Close()
	c := newClient(t, srv.URL, client.WithSleeps(&client.Sleeps{}))
	var got []string
	for ev, err := range c.Watch(testCtx(t), "jobs", client.WatchOptions{}) {
		if err != nil {
			got = append(got, "error")
			continue
		}
		got = append(got, string(ev.Kind))
	}
	if fmt.Sprint(got) != "[error deleted error]" {
		t.Errorf("%v, want [error deleted error] (the last is the 404 of the reconnection)", got)
	}
}

func TestWatchEndsWithContext(t *testing.T) {
	opened := make(chan struct{})
	srv := httptest.NewServer(handler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		close(opened)
		<-r.Context().Done()
	}))
	defer srv.Close()
	c := newClient(t, srv.URL)
	ctx, cancel := context.WithCancel(testCtx(t))
	go func() {
		<-opened
		cancel()
	}()
	for ev, err := range c.Watch(ctx, "jobs", client.WatchOptions{}) {
		t.Errorf("unexpected %+v, %v", ev, err)
	}
}

func TestWatchRefusesWhatIsNotAStream(t *testing.T) {
	srv := httptest.NewServer(handler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>login</html>")
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, client.WithSleeps(&client.Sleeps{}))
	var errs []error
	for _, err := range c.Watch(testCtx(t), "jobs", client.WatchOptions{}) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "text/event-stream") {
		t.Errorf("errors %v", errs)
	}
}
