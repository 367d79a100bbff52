package syncers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/record"
)

// hang blocks until the client gives up on the request.
func hang(_ http.ResponseWriter, r *http.Request, _ []byte) { <-r.Context().Done() }

// trickle is a slow-loris reply: a 200 whose body never ends, one byte at a
// time, until the client goes away.
func trickle(w http.ResponseWriter, r *http.Request, _ []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := w.Write([]byte(" ")); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// huge writes a 10 MiB reply, with or without announcing its length.
func huge(announce bool) func(http.ResponseWriter, *http.Request, []byte) {
	return func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		const size = 10 << 20
		if announce {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		io.WriteString(w, `{"items":[{"id":"a","action":"update","data":"`)
		chunk := strings.Repeat("x", 64<<10)
		for written := 0; written < size; written += len(chunk) {
			if _, err := io.WriteString(w, chunk); err != nil {
				return // the client stopped reading, as it should
			}
		}
	}
}

func TestFailureReasons(t *testing.T) {
	cases := []struct {
		name    string
		handler func(http.ResponseWriter, *http.Request, []byte)
		reason  string
		status  int
		timeout time.Duration
	}{
		{"500", func(w http.ResponseWriter, _ *http.Request, _ []byte) { http.Error(w, "boom", 500) }, ReasonStatus5xx, 500, 0},
		{"503 without Retry-After", func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(503) }, ReasonStatus5xx, 503, 0},
		{"404", func(w http.ResponseWriter, r *http.Request, _ []byte) { http.NotFound(w, r) }, ReasonStatus4xx, 404, 0},
		{"429 without Retry-After", func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(429) }, ReasonStatus4xx, 429, 0},
		{"304", func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(304) }, ReasonRedirect, 304, 0},
		{"600", func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(600) }, ReasonBadReply, 600, 0},
		{"invalid JSON", replyJSON(`{"items": [`), ReasonBadReply, 200, 0},
		{"HTML", replyJSON(`<html>oops</html>`), ReasonBadReply, 200, 0},
		{"202 not JSON", func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			w.WriteHeader(202)
			io.WriteString(w, "accepted")
		}, ReasonBadReply, 202, 0},
		{"empty 200", replyJSON(``), ReasonBadReply, 200, 0},
		{"no items key", replyJSON(`{}`), ReasonBadReply, 200, 0},
		{"items not an array", replyJSON(`{"items": {"id": "a"}}`), ReasonBadReply, 200, 0},
		{"entry not an object", replyJSON(`{"items": ["a"]}`), ReasonBadReply, 200, 0},
		{"id not a string", replyJSON(`{"items": [{"id": 1, "action": "update"}]}`), ReasonBadReply, 200, 0},
		{"terminal not a bool", replyJSON(`{"items": [{"id": "a", "action": "update", "terminal": "yes"}]}`), ReasonBadReply, 200, 0},
		{"trailing garbage", replyJSON(`{"items": []} {}`), ReasonBadReply, 200, 0},
		{"10 MiB chunked", huge(false), ReasonTooLarge, 200, 0},
		{"10 MiB with Content-Length", huge(true), ReasonTooLarge, 200, 0},
		{"blocks past the timeout", hang, ReasonTimeout, 0, 150 * time.Millisecond},
		{"slow loris", trickle, ReasonTimeout, 200, 150 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, tc.handler)
			h := newHarness(t, up.URL, func(o *Options) {
				if tc.timeout > 0 {
					o.Webhook.Timeout = tc.timeout
				}
			})
			resps, err := h.sync(t, batchOf(rec("a", `{"s":1}`, false, 1)))
			e := syncError(t, err, tc.reason)
			assertCharged(t, resps, err, "a")
			t.Logf("error: %v", err)
			if e.Status != tc.status {
				t.Errorf("status %d, want %d", e.Status, tc.status)
			}
			if tc.reason == ReasonTimeout && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("timeout does not match context.DeadlineExceeded: %v", err)
			}
			if n := h.outcomes(tc.reason); n != 1 {
				t.Errorf("requests_total{outcome=%q} = %v, want 1", tc.reason, n)
			}
			if n := h.outcomes(OutcomeOK); n != 0 {
				t.Errorf("ok outcomes = %v", n)
			}
			assertFailureLogged(t, h, tc.reason, tc.status)
		})
	}
}

// assertCharged checks that a failed batch of version-1 items, with no
// failures before, answers each id with one failed attempt: the error's
// text as its last error, and the schedule's first backoff.
func assertCharged(t *testing.T, resps []cache.ItemSyncResponseOf[*record.Record], err error, ids ...string) {
	t.Helper()
	got := byID(t, resps)
	if len(got) != len(ids) {
		t.Fatalf("responses %+v, want one per item of %v", resps, ids)
	}
	for _, id := range ids {
		r, ok := got[id]
		if !ok {
			t.Fatalf("no response for %s", id)
		}
		n := r.Item
		if r.Action != cache.Update || r.Err != nil || n.Attempts != 1 || n.LastError != err.Error() ||
			n.Version != 2 || n.Terminal || !n.UpdatedAt.Equal(t0) || r.NextSyncAfter != time.Minute {
			t.Errorf("%s: %+v, record %+v; want one failed attempt with the error's text, due in 1m", id, r, n)
		}
	}
}

// assertFailureLogged checks the one log line a failed call writes.
func assertFailureLogged(t *testing.T, h *harness, reason string, status int) {
	t.Helper()
	lines := h.logs.FilterMessage("webhook sync failed").All()
	if len(lines) != 1 {
		t.Fatalf("%d failure log lines, want 1", len(lines))
	}
	f := lines[0].ContextMap()
	if f["cache"] != "jobs" || f["reason"] != reason || f["status"] != int64(status) {
		t.Errorf("log fields %v", f)
	}
	if _, ok := f["duration"]; !ok {
		t.Errorf("log line has no duration: %v", f)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	target := newUpstream(t, replyJSON(`{"items":[]}`))
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	})
	for _, given := range []*http.Client{nil, {}} { // the default client and a caller's client that would follow
		h := newHarness(t, up.URL, func(o *Options) { o.Client = given })
		_, err := h.sync(t, batchOf(rec("a", "", false, 1)))
		e := syncError(t, err, ReasonRedirect)
		if e.Status != http.StatusFound || !strings.Contains(err.Error(), "302") {
			t.Fatalf("error %v", err)
		}
	}
	if target.hits.Load() != 0 {
		t.Fatalf("redirect followed %d times", target.hits.Load())
	}
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens on the port any more
	h := newHarness(t, url, nil)
	_, err := h.sync(t, batchOf(rec("a", "", false, 1)))
	e := syncError(t, err, ReasonConnect)
	if e.Status != 0 || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error %v", err)
	}
	if strings.Contains(err.Error(), url) {
		t.Fatalf("error repeats the URL: %v", err)
	}
	assertFailureLogged(t, h, ReasonConnect, 0)
}

func TestConnectionDroppedMidReply(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, `{"items":`) // then the handler returns: the body is cut short
	})
	h := newHarness(t, up.URL, nil)
	_, err := h.sync(t, batchOf(rec("a", "", false, 1)))
	syncError(t, err, ReasonConnect)
}

func TestCallerCancellation(t *testing.T) {
	arrived := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, b []byte) {
		close(arrived)
		hang(w, r, b)
	})
	h := newHarness(t, up.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Cancel once the request is in flight, so the upstream is reached.
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
		}
		cancel()
	}()
	resps, err := h.w.Sync(ctx, batchOf(rec("a", "", false, 1)))
	syncError(t, err, ReasonCanceled)
	if resps != nil {
		t.Fatalf("a canceled sync charged its items: %+v", resps)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v does not match context.Canceled", err)
	}
	if len(h.logs.FilterLevelExact(-1).FilterMessage("webhook sync failed").All()) != 1 {
		t.Fatal("cancellation not logged at debug level")
	}
}
