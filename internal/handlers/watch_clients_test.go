package handlers_test

import (
	"io"
	"maps"
	"net"
	"net/http"
	"testing"

	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/handlers"
	"github.com/autorefresh/autorefresh/internal/watch"
)

// clientCapsEnv is a watch server with per-client caps of 2 streams and 2
// long-polls, far below the server-wide ones.
func clientCapsEnv(t *testing.T, deps func(*handlers.Deps)) *watchEnv {
	t.Helper()
	e := buildEnv(t, func(o *backend.Options) {
		o.Watch = watch.Options{MaxStreamsPerClient: 2, MaxWaitersPerClient: 2}
	}, deps, nil)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &watchEnv{env: e, client: &http.Client{Transport: tr}}
}

// refused reads autorefresh_watch_refused_total of one reason.
func (w *watchEnv) refused(reason string) float64 {
	w.t.Helper()
	return w.metricBy("autorefresh_watch_refused_total", "reason", reason)
}

// wantRefusals checks every reason of autorefresh_watch_refused_total, so
// that a refusal counted under the wrong reason fails too.
func (w *watchEnv) wantRefusals(clientStreams, clientLongPolls float64) {
	w.t.Helper()
	got := map[string]float64{}
	want := map[string]float64{"streams": 0, "long_polls": 0, "client_streams": clientStreams, "client_long_polls": clientLongPolls}
	for reason := range want {
		got[reason] = w.refused(reason)
	}
	if !maps.Equal(got, want) {
		w.t.Fatalf("autorefresh_watch_refused_total: %v, want %v", got, want)
	}
}

func wantCapped(t *testing.T, what string, r resp) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("%s: %d (Retry-After %q) %s, want 503 with Retry-After", what, r.status, r.header.Get("Retry-After"), r.body)
	}
}

// TestPerClientCapsByToken: a token holding its streams (or long-polls) is
// refused the next with 503 and Retry-After, while another token is served;
// a stream that ends gives its place back.
func TestPerClientCapsByToken(t *testing.T) {
	w := clientCapsEnv(t, withTokens(false))
	if r := w.doAs(writer, "PUT", "/v1/caches/jobs", "application/json", `{"webhook": {"url": "`+w.upstream.URL+`/sync"}, "resyncPeriod": "1h", "syncOnCreate": false}`); r.status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if r := w.doAs(writer, "POST", "/v1/caches/jobs/items", "application/json", `{"id": "a"}`); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	as := func(token string) map[string]string { return map[string]string{"Authorization": "Bearer " + token} }

	first, _ := w.openStream("/v1/caches/jobs/events", as(reader))
	w.openStream("/v1/caches/jobs/events", as(reader))
	_, r := w.openStream("/v1/caches/jobs/events", as(reader))
	wantCapped(t, "the reader's third stream", r)
	w.wantRefusals(1, 0)
	if _, r := w.openStream("/v1/caches/jobs/events", as(writer)); r.status != http.StatusOK {
		t.Fatalf("the writer's stream: %d %s", r.status, r.body)
	}
	w.wantRefusals(1, 0)
	// The client leaves one stream: the server notices and gives its place
	// back.
	first.res.Body.Close()
	eventually(t, "the reader's place back", func() bool {
		c, r := w.openStream("/v1/caches/jobs/events", as(reader))
		if c != nil {
			return true
		}
		wantCapped(t, "the reader's stream while one ends", r)
		return false
	})

	// Long-polls: two of the reader's wait, the third is refused at once,
	// the writer's is served.
	polls := make([]<-chan resp, 2)
	for i := range polls {
		ch := make(chan resp, 1)
		go func() { ch <- w.doAs(reader, "GET", "/v1/caches/jobs/items/a?waitForChange=true&timeout=2s", "", "") }()
		polls[i] = ch
	}
	w.waiting(2)
	streamsRefused := w.refused("client_streams") // the eventually above may have been refused a few times
	wantCapped(t, "the reader's third long-poll", w.doAs(reader, "GET", "/v1/caches/jobs/items/a?waitForChange=true&timeout=2s", "", ""))
	w.wantRefusals(streamsRefused, 1)
	if r := w.doAs(writer, "GET", "/v1/caches/jobs/items/a?waitForChange=true&timeout=10ms", "", ""); r.status != http.StatusOK {
		t.Fatalf("the writer's long-poll: %d %s", r.status, r.body)
	}
	w.wantRefusals(streamsRefused, 1)
	for _, ch := range polls {
		if r := answer(t, ch); r.status != http.StatusOK {
			t.Fatalf("a waiting long-poll: %d %s", r.status, r.body)
		}
	}
	// The waits are over: the reader may wait again.
	if r := w.doAs(reader, "GET", "/v1/caches/jobs/items/a?waitForChange=true&timeout=10ms", "", ""); r.status != http.StatusOK {
		t.Fatalf("the reader's long-poll after the others: %d %s", r.status, r.body)
	}
}

// TestPerClientCapsByIP: without tokens a client is its remote address, so
// a second address on loopback is served while the first is at its cap.
func TestPerClientCapsByIP(t *testing.T) {
	w := clientCapsEnv(t, nil)
	w.jobs()
	w.openStream("/v1/caches/jobs/events", nil)
	w.openStream("/v1/caches/jobs/events", nil)
	_, r := w.openStream("/v1/caches/jobs/events", nil)
	wantCapped(t, "the third stream from 127.0.0.1", r)
	w.wantRefusals(1, 0)

	other := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}
	t.Cleanup(other.CloseIdleConnections)
	res, err := (&http.Client{Transport: other}).Get(w.srv.URL + "/v1/caches/jobs/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("a stream from 127.0.0.2: %d %s", res.StatusCode, b)
	}
	w.wantRefusals(1, 0)
}
