package handlers_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/internal/watch"
)

func decodeData(t *testing.T, e sseEvent) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(e.data), &m); err != nil {
		t.Fatalf("event %s: data %q is not a JSON object: %v", e.kind, e.data, err)
	}
	return m
}

func TestEventStreamOrderAndFilter(t *testing.T) {
	w := newWatchEnv(t, watchConfig{})
	w.jobs()
	all, r := w.openStream("/v1/caches/jobs/events", nil)
	if r.header.Get("Content-Type") != "text/event-stream" || r.header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("headers: %v", r.header)
	}
	onlyA, _ := w.openStream("/v1/caches/jobs/events?id=a", nil)

	want := map[string][]string{"a": {"created", "updated", "terminal", "deleted"}, "b": {"created", "updated", "terminal"}}
	got := map[string][]string{}
	var last uint64
	// read takes n events off the stream and checks them. Syncs asked for
	// while one is pending merge, so each step waits for its events.
	read := func(n int) {
		for range n {
			e := all.next()
			id, err := strconv.ParseUint(e.id, 10, 64)
			if err != nil || id <= last {
				t.Fatalf("event id %q after %d", e.id, last)
			}
			last = id
			m := decodeData(t, e)
			item := m["id"].(string)
			got[item] = append(got[item], e.kind)
			switch e.kind {
			case "created":
				if m["version"].(float64) != 1 || m["data"].(map[string]any)["status"] != "Not-started" || m["terminal"] != false {
					t.Fatalf("created: %v", m)
				}
			case "terminal":
				if m["version"].(float64) != 3 || m["data"].(map[string]any)["status"] != "Completed" || m["terminal"] != true {
					t.Fatalf("terminal: %v", m)
				}
			case "deleted":
				if len(m) != 1 {
					t.Fatalf("deleted carries more than the id: %v", m)
				}
			}
		}
	}
	w.create("a")
	w.create("b")
	read(2)
	w.sync() // Not-started -> Started
	read(2)
	w.sync() // Started -> Completed (terminal)
	read(2)
	if r := w.do("DELETE", "/v1/caches/jobs/items/a", "", ""); r.status != http.StatusAccepted {
		t.Fatalf("delete: %d", r.status)
	}
	w.sync() // removes a
	read(1)
	for id, kinds := range want {
		if strings.Join(got[id], " ") != strings.Join(kinds, " ") {
			t.Fatalf("%s: got %v, want %v", id, got[id], kinds)
		}
	}
	var kinds []string
	for range 4 {
		e := onlyA.next()
		if decodeData(t, e)["id"] != "a" {
			t.Fatalf("filtered stream got %s", e.data)
		}
		kinds = append(kinds, e.kind)
	}
	if strings.Join(kinds, " ") != "created updated terminal deleted" {
		t.Fatalf("filtered: %v", kinds)
	}
}

func TestEventStreamResume(t *testing.T) {
	w := newWatchEnv(t, watchConfig{hub: watch.Options{ReplayEvents: 3}})
	w.jobs()
	first, _ := w.openStream("/v1/caches/jobs/events", nil)
	for _, id := range []string{"x1", "x2", "x3"} {
		w.create(id)
	}
	var ids []string
	for range 3 {
		ids = append(ids, first.next().id)
	}
	// Resuming after x1 replays x2 and x3, then goes on live.
	again, _ := w.openStream("/v1/caches/jobs/events", map[string]string{"Last-Event-ID": ids[0]})
	for _, want := range []string{"x2", "x3"} {
		if e := again.next(); e.kind != "created" || decodeData(t, e)["id"] != want {
			t.Fatalf("replay: %+v, want %s", e, want)
		}
	}
	w.create("x4")
	if e := again.next(); decodeData(t, e)["id"] != "x4" {
		t.Fatalf("live after replay: %+v", e)
	}
	// The ring holds x2..x4 now: resuming after x1 still works, but from
	// before x1 says lagged first.
	old, _ := w.openStream("/v1/caches/jobs/events", map[string]string{"Last-Event-ID": "1"})
	if e := old.next(); e.kind != "lagged" || e.id != "" || decodeData(t, e)["message"] == nil {
		t.Fatalf("resume from too long ago: %+v", e)
	}
	if e := old.next(); decodeData(t, e)["id"] != "x2" {
		t.Fatalf("after lagged: %+v", e)
	}
}

func TestEventStreamTellsSlowReadersTheyLagged(t *testing.T) {
	w := newWatchEnv(t, watchConfig{hub: watch.Options{BufferSize: 4}})
	w.jobs()
	slow, _ := w.openStream("/v1/caches/jobs/events", nil)
	// Events published straight into the hub come faster than a stream
	// can write them, the more so for big items: the hub has to drop some.
	big := &record.Record{ID: "big", Data: json.RawMessage(`"` + strings.Repeat("x", 64<<10) + `"`), Version: 2}
	for n := 0; w.metric("autorefresh_watch_dropped_events_total", "jobs") == 0; n++ {
		if n == 20000 {
			t.Fatal("no event was dropped for a client that reads nothing")
		}
		w.hub.OnEvent("jobs", autorefresh.Event{Type: autorefresh.EventUpdated, ID: "big", Item: big})
	}
	for {
		e := slow.next()
		if e.kind == "lagged" {
			if e.id != "" {
				t.Fatalf("lagged event has an id: %+v", e)
			}
			break
		}
		if e.kind != "updated" {
			t.Fatalf("unexpected event %s", e.kind)
		}
	}
	// The engine was never held up: the API still answers.
	w.create("after")
	for e := slow.next(); e.kind != "created"; e = slow.next() {
	}
}

func TestEventStreamCap(t *testing.T) {
	w := newWatchEnv(t, watchConfig{hub: watch.Options{MaxStreams: 1}})
	w.jobs()
	first, _ := w.openStream("/v1/caches/jobs/events", nil)
	_ = first
	_, r := w.openStream("/v1/caches/jobs/events", nil)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || r.json(t)["code"] != "UNAVAILABLE" {
		t.Fatalf("over the cap: %d %v %s", r.status, r.header, r.body)
	}
	if w.metric("autorefresh_watch_streams", "jobs") != 1 {
		t.Fatalf("streams gauge: %v", w.metric("autorefresh_watch_streams", "jobs"))
	}
	// The slot frees when the first client leaves.
	w.client.Transport.(*http.Transport).CloseIdleConnections()
	first.res.Body.Close()
	eventually(t, "the first stream to end", func() bool { return w.metric("autorefresh_watch_streams", "jobs") == 0 })
	if s, r := w.openStream("/v1/caches/jobs/events", nil); s == nil {
		t.Fatalf("after the first left: %d %s", r.status, r.body)
	}
}

func TestEventStreamHeartbeatAndServerTimeouts(t *testing.T) {
	// The stream must outlive the server's read and write timeouts; the
	// write timeout would cut it off if the stream did not move it.
	w := newWatchEnv(t, watchConfig{heartbeat: 20 * time.Millisecond,
		readTimeout: 100 * time.Millisecond, writeTimeout: 150 * time.Millisecond})
	w.jobs()
	s, _ := w.openStream("/v1/caches/jobs/events", nil)
	start := time.Now()
	beats := 0
	for time.Since(start) < 500*time.Millisecond {
		if e := s.nextAny(); e.comment == "keep-alive" {
			beats++
		}
	}
	if beats < 3 {
		t.Fatalf("%d heartbeats in %v", beats, time.Since(start))
	}
	w.create("late")
	if e := s.next(); e.kind != "created" {
		t.Fatalf("after the timeouts: %+v", e)
	}
}

func TestEventStreamEndsWhenTheCacheIsDeleted(t *testing.T) {
	w := newWatchEnv(t, watchConfig{})
	w.jobs()
	s, _ := w.openStream("/v1/caches/jobs/events", nil)
	if r := w.do("DELETE", "/v1/caches/jobs", "", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.status)
	}
	if c := s.ended(); len(c) == 0 || c[len(c)-1] != "the cache was deleted" {
		t.Fatalf("last comments: %q", c)
	}
	if _, r := w.openStream("/v1/caches/jobs/events", nil); r.status != http.StatusNotFound {
		t.Fatalf("reconnect: %d %s", r.status, r.body)
	}
	if w.metric("autorefresh_watch_streams", "jobs") != 0 {
		t.Fatal("a deleted cache still has stream metrics")
	}
}

func TestEventStreamBadRequests(t *testing.T) {
	w := newWatchEnv(t, watchConfig{})
	w.jobs()
	for _, c := range []struct {
		path   string
		header map[string]string
		status int
	}{
		{"/v1/caches/nope/events", nil, http.StatusNotFound},
		{"/v1/caches/jobs/events?id=a%20b", nil, http.StatusBadRequest},
		{"/v1/caches/jobs/events", map[string]string{"Last-Event-ID": "abc"}, http.StatusBadRequest},
		{"/v1/caches/jobs/events", map[string]string{"Last-Event-ID": "99999999999999999999"}, http.StatusBadRequest},
	} {
		if s, r := w.openStream(c.path, c.header); s != nil || r.status != c.status || r.json(t)["code"] == nil {
			t.Errorf("%s %v: %d %s, want %d", c.path, c.header, r.status, r.body, c.status)
		}
	}
	if w.metric("autorefresh_watch_streams", "nope") != 0 || len(w.metric2names()) != 0 {
		t.Fatalf("refused streams left metrics behind: %v", w.metric2names())
	}
}

// metric2names lists the caches that have watch metrics.
func (w *watchEnv) metric2names() []string {
	mfs, err := w.reg.Gather()
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() == "autorefresh_watch_streams" {
			for _, m := range mf.GetMetric() {
				out = append(out, m.GetLabel()[0].GetValue())
			}
		}
	}
	return out
}
