package syncers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/record"
)

// t0 is the fake clock's start.
var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// item adapts a record to cache.ItemWrapperOf[*record.Record], as the
// engine does.
type item struct{ r *record.Record }

func (i item) GetID() cache.ItemID     { return i.r.ID }
func (i item) GetItem() *record.Record { return i.r }

// rec builds a record created at t0.
func rec(id, data string, terminal bool, version int64) *record.Record {
	var raw json.RawMessage
	if data != "" {
		raw = json.RawMessage(data)
	}
	return &record.Record{ID: id, Data: raw, Terminal: terminal, Version: version, CreatedAt: t0, UpdatedAt: t0}
}

func batchOf(recs ...*record.Record) cache.BatchOf[*record.Record] {
	b := make(cache.BatchOf[*record.Record], len(recs))
	for i, r := range recs {
		b[i] = item{r}
	}
	return b
}

// received is one request as the upstream saw it.
type received struct {
	header http.Header
	body   []byte
}

// upstream is a loopback test server that records what reaches it.
type upstream struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	reqs []received
}

// newUpstream starts a server whose handler gets the request body already
// read. The server is closed at cleanup, which waits for its handlers.
func newUpstream(t *testing.T, h func(w http.ResponseWriter, r *http.Request, body []byte)) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, received{header: r.Header.Clone(), body: body})
		u.mu.Unlock()
		h(w, r, body)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) last(t *testing.T) received {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("no request reached the upstream")
	}
	return u.reqs[len(u.reqs)-1]
}

// replyJSON answers with a JSON body.
func replyJSON(body string) func(http.ResponseWriter, *http.Request, []byte) {
	return func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

// harness is a Webhook wired to fakes.
type harness struct {
	w       *Webhook
	clock   *clocktesting.FakeClock
	metrics *Metrics
	logs    *observer.ObservedLogs
}

// schedule is the harness's per-item policy: a one-minute period, so that
// nextSyncAfter clamps to [6s, 100m] and the backoff runs 1m, 2m, 4m...,
// giving up at the third failure in a row.
var schedule = record.Policy{ResyncPeriod: time.Minute, MaxAttempts: 3}

// newHarness builds a Webhook for url that may reach loopback, with a fake
// clock, observed logs, fresh metrics, schedule and no jitter (so that
// backoffs are exact). mod adjusts the options.
func newHarness(t *testing.T, url string, mod func(*Options)) *harness {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{clock: clocktesting.NewFakeClock(t0), metrics: m, logs: logs}
	o := Options{
		Cache:    "jobs",
		Webhook:  WebhookConfig{URL: url, Timeout: 5 * time.Second},
		Policy:   &egress.Policy{AllowPrivate: true},
		Clock:    h.clock,
		Logger:   zap.New(core),
		Metrics:  m,
		Schedule: schedule,
		Jitter:   func() float64 { return 0 },
	}
	if mod != nil {
		mod(&o)
	}
	h.w, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.w.Close)
	return h
}

// sync runs one bounded Sync.
func (h *harness) sync(t *testing.T, b cache.BatchOf[*record.Record]) ([]cache.ItemSyncResponseOf[*record.Record], error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return h.w.Sync(ctx, b)
}

// outcomes returns the requests_total counter of an outcome.
func (h *harness) outcomes(outcome string) float64 {
	return testutil.ToFloat64(h.metrics.requests.WithLabelValues("jobs", outcome))
}

// syncError asserts err is an *Error with the reason and returns it.
func syncError(t *testing.T, err error, reason string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *syncers.Error", err, err)
	}
	var r cache.SyncErrorReasoner
	if !errors.As(err, &r) || r.SyncErrorReason() != reason {
		t.Fatalf("reason %q, want %q (error: %v)", e.Reason, reason, err)
	}
	return e
}

// byID indexes responses by id, failing on a repeated one.
func byID(t *testing.T, resps []cache.ItemSyncResponseOf[*record.Record]) map[string]cache.ItemSyncResponseOf[*record.Record] {
	t.Helper()
	got := make(map[string]cache.ItemSyncResponseOf[*record.Record], len(resps))
	for _, r := range resps {
		if _, dup := got[r.ID]; dup {
			t.Fatalf("two responses for %s", r.ID)
		}
		got[r.ID] = r
	}
	return got
}

// failing returns rec(id, data, false, version) with attempts failures
// behind it.
func failing(id, data string, version int64, attempts int32) *record.Record {
	r := rec(id, data, false, version)
	r.Attempts, r.LastError = attempts, "earlier failure"
	return r
}

// data returns an updated record's data as a string.
func data(t *testing.T, r cache.ItemSyncResponseOf[*record.Record]) string {
	t.Helper()
	return string(r.Item.Data)
}
