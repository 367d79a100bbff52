package handlers_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/handlers"
	"github.com/autorefresh/autorefresh/internal/watch"
)

// watchEnv is an env whose server has a watch hub, and the knobs to test it.
type watchEnv struct {
	*env
	client *http.Client // its own transport, so tests can close its connections
}

type watchConfig struct {
	hub       watch.Options
	heartbeat time.Duration
	maxWait   time.Duration
	// Server timeouts, as cmd/server sets them (zero: none).
	readTimeout, writeTimeout time.Duration
}

func newWatchEnv(t *testing.T, cfg watchConfig) *watchEnv {
	t.Helper()
	e := buildEnv(t,
		func(o *backend.Options) { o.Watch = cfg.hub },
		func(d *handlers.Deps) { d.Heartbeat, d.MaxWait = cfg.heartbeat, cfg.maxWait },
		func(srv *http.Server) { srv.ReadTimeout, srv.WriteTimeout = cfg.readTimeout, cfg.writeTimeout })
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &watchEnv{env: e, client: &http.Client{Transport: tr}}
}

// jobs registers the cache "jobs" that only syncs when told to, so the
// tests decide when items change.
func (w *watchEnv) jobs() {
	w.t.Helper()
	if r := w.putCache("jobs", `{"webhook": {"url": "`+w.upstream.URL+`/sync"}, "resyncPeriod": "1h", "syncOnCreate": false}`); r.status != http.StatusCreated {
		w.t.Fatalf("PUT jobs: %d %s", r.status, r.body)
	}
}

func (w *watchEnv) create(id string) {
	w.t.Helper()
	if r := w.do("POST", "/v1/caches/jobs/items", "application/json", `{"id": "`+id+`", "data": {"status": "Not-started"}}`); r.status != http.StatusCreated {
		w.t.Fatalf("create %s: %d %s", id, r.status, r.body)
	}
}

func (w *watchEnv) sync() {
	w.t.Helper()
	if r := w.do("POST", "/v1/caches/jobs/sync", "", ""); r.status != http.StatusAccepted {
		w.t.Fatalf("sync: %d %s", r.status, r.body)
	}
}

// metric reads one cache's series of the server's metrics, 0 if it is
// absent.
func (w *watchEnv) metric(name, cache string) float64 {
	w.t.Helper()
	return w.metricBy(name, "cache", cache)
}

// metricBy reads the series of name whose label is value, 0 if it is absent.
func (w *watchEnv) metricBy(name, label, value string) float64 {
	w.t.Helper()
	mfs, err := w.reg.Gather()
	if err != nil {
		w.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					if g := m.GetGauge(); g != nil {
						return g.GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// sseEvent is one event as read off the wire; comment is set for comment
// lines, which carry nothing else.
type sseEvent struct {
	id, kind, data, comment string
}

// sseClient reads one event stream.
type sseClient struct {
	t      *testing.T
	res    *http.Response
	events chan sseEvent
	done   chan struct{} // closed when the stream ends
}

// openStream GETs path with the headers and, on a 200, reads its events in
// the background until the stream ends or the test does.
func (w *watchEnv) openStream(path string, header map[string]string) (*sseClient, resp) {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", w.srv.URL+path, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := w.client.Do(req)
	if err != nil {
		cancel()
		w.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		defer cancel()
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		w.checkAgainstSpec(req, res, b)
		return nil, resp{status: res.StatusCode, header: res.Header, body: b}
	}
	w.checkAgainstSpec(req, res, nil)
	c := &sseClient{t: w.t, res: res, events: make(chan sseEvent, 10000), done: make(chan struct{})}
	go c.read()
	w.t.Cleanup(func() {
		cancel()
		res.Body.Close()
		<-c.done
	})
	return c, resp{status: res.StatusCode, header: res.Header}
}

func (c *sseClient) read() {
	defer close(c.done)
	defer close(c.events)
	sc := bufio.NewScanner(c.res.Body)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch {
		case line == "":
			if ev.kind != "" || ev.data != "" {
				c.events <- ev
			}
			ev = sseEvent{}
		case field == "":
			c.events <- sseEvent{comment: value}
		case field == "id":
			ev.id = value
		case field == "event":
			ev.kind = value
		case field == "data":
			ev.data += value
		}
	}
}

// next returns the next event, skipping comments, or fails after a deadline.
func (c *sseClient) next() sseEvent {
	c.t.Helper()
	for {
		e := c.nextAny()
		if e.comment == "" {
			return e
		}
	}
}

// nextAny returns the next event or comment.
func (c *sseClient) nextAny() sseEvent {
	c.t.Helper()
	select {
	case e, ok := <-c.events:
		if !ok {
			c.t.Fatal("the stream ended")
		}
		return e
	case <-time.After(10 * time.Second):
		c.t.Fatal("no event within 10s")
	}
	return sseEvent{}
}

// ended waits for the stream to end and returns the comments it got last.
func (c *sseClient) ended() []string {
	c.t.Helper()
	var comments []string
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-c.events:
			if !ok {
				return comments
			}
			if e.comment != "" {
				comments = append(comments, e.comment)
			}
		case <-deadline:
			c.t.Fatal("the stream did not end within 10s")
		}
	}
}
