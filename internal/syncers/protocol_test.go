package syncers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/record"
)

// The harness's schedule clamps nextSyncAfter to [6s, 100m].
const (
	lowest  = 6 * time.Second
	highest = 100 * time.Minute
)

func TestNextSyncAfter(t *testing.T) {
	up := newUpstream(t, replyJSON(`{"nextSyncAfter": "5m", "items": [
		{"id": "own", "action": "unchanged", "nextSyncAfter": "90s"},
		{"id": "low", "action": "unchanged", "nextSyncAfter": "1ms"},
		{"id": "high", "action": "unchanged", "nextSyncAfter": "1000h"},
		{"id": "edge", "action": "unchanged", "nextSyncAfter": "100m"},
		{"id": "null", "action": "unchanged", "nextSyncAfter": null},
		{"id": "updated", "action": "update", "data": {"v": 2}, "nextSyncAfter": "30s"},
		{"id": "upd-top", "action": "update", "data": {"v": 2}},
		{"id": "ended", "action": "update", "terminal": true, "nextSyncAfter": "30s"},
		{"id": "noop", "action": "update", "nextSyncAfter": "45s"},
		{"id": "healed", "action": "unchanged", "nextSyncAfter": "2m"}
	]}`))
	h := newHarness(t, up.URL, nil)
	resps, err := h.sync(t, batchOf(
		rec("own", `1`, false, 1), rec("low", `1`, false, 1), rec("high", `1`, false, 1),
		rec("edge", `1`, false, 1), rec("null", `1`, false, 1), rec("updated", `1`, false, 1),
		rec("upd-top", `1`, false, 1), rec("ended", `1`, false, 1), rec("noop", `1`, false, 1),
		failing("healed", `1`, 4, 2), rec("absent", `1`, false, 1), failing("absent-healed", `1`, 3, 1),
	))
	if err != nil {
		t.Fatal(err)
	}
	got := byID(t, resps)
	for _, w := range []struct {
		id      string
		action  cache.SyncAction
		next    time.Duration
		version int64
	}{
		{"own", cache.Unchanged, 90 * time.Second, 1},
		{"low", cache.Unchanged, lowest, 1},
		{"high", cache.Unchanged, highest, 1},
		{"edge", cache.Unchanged, highest, 1},
		{"null", cache.Unchanged, 5 * time.Minute, 1}, // null is no value: the top-level one applies
		{"updated", cache.Update, 30 * time.Second, 2},
		{"upd-top", cache.Update, 5 * time.Minute, 2},
		{"ended", cache.Update, 0, 2}, // terminal: never synced again
		{"noop", cache.Unchanged, 45 * time.Second, 1},
		{"healed", cache.Update, 2 * time.Minute, 5},
		{"absent", cache.Unchanged, 5 * time.Minute, 1},
		{"absent-healed", cache.Update, 5 * time.Minute, 4},
	} {
		r, ok := got[w.id]
		if !ok {
			t.Errorf("%s: no response", w.id)
			continue
		}
		if r.Action != w.action || r.NextSyncAfter != w.next || r.Item.Version != w.version || r.Err != nil {
			t.Errorf("%s: %v next %v v%d err %v, want %v next %v v%d", w.id, r.Action, r.NextSyncAfter, r.Item.Version, r.Err,
				w.action, w.next, w.version)
		}
		if r.Item.Attempts != 0 || r.Item.LastError != "" {
			t.Errorf("%s: a success left failures %d %q", w.id, r.Item.Attempts, r.Item.LastError)
		}
	}
	if len(got) != 12 {
		t.Errorf("%d responses, want 12", len(got))
	}
	if n := testutil.ToFloat64(h.metrics.ignored.WithLabelValues("jobs", IgnoredBadNextSync)); n != 0 {
		t.Errorf("bad_next_sync = %v for good values", n)
	}
}

func TestBadNextSync(t *testing.T) {
	up := newUpstream(t, replyJSON(`{"nextSyncAfter": 300, "items": [
		{"id": "number", "action": "update", "data": {"v": 2}, "nextSyncAfter": 60},
		{"id": "words", "action": "unchanged", "nextSyncAfter": "soon"},
		{"id": "negative", "action": "update", "terminal": false, "data": 3, "nextSyncAfter": "-5s"},
		{"id": "zero", "action": "unchanged", "nextSyncAfter": "0s"},
		{"id": "object", "action": "unchanged", "nextSyncAfter": {"s": 1}},
		{"id": "overflow", "action": "unchanged", "nextSyncAfter": "99999999999h"},
		{"id": "good", "action": "unchanged", "nextSyncAfter": "10m"},
		{"id": "stranger", "action": "unchanged", "nextSyncAfter": "bad"}
	]}`))
	h := newHarness(t, up.URL, nil)
	resps, err := h.sync(t, batchOf(
		rec("number", `1`, false, 1), rec("words", `1`, false, 1), rec("negative", `1`, false, 1),
		rec("zero", `1`, false, 1), rec("object", `1`, false, 1), rec("overflow", `1`, false, 1),
		rec("good", `1`, false, 1), rec("absent", `1`, false, 1),
	))
	if err != nil {
		t.Fatalf("bad nextSyncAfter values failed the batch: %v", err)
	}
	got := byID(t, resps)
	// The rest of each entry still applies, without a next time.
	if r := got["number"]; r.Action != cache.Update || data(t, r) != `{"v":2}` || r.NextSyncAfter != 0 {
		t.Errorf("number: %+v %s", r, r.Item.Data)
	}
	if r := got["negative"]; r.Action != cache.Update || data(t, r) != `3` || r.NextSyncAfter != 0 {
		t.Errorf("negative: %+v", r)
	}
	for _, id := range []string{"words", "zero", "object", "overflow"} {
		if r, ok := got[id]; !ok || r.Action != cache.Unchanged || r.NextSyncAfter != 0 {
			t.Errorf("%s: %+v (present %v)", id, r, ok)
		}
	}
	if r := got["good"]; r.NextSyncAfter != 10*time.Minute {
		t.Errorf("good: %+v", r)
	}
	if _, ok := got["absent"]; ok {
		t.Error("the bad top-level value was applied to an absent item")
	}
	// Six entries and the top-level value; the stranger counts as unknown_id only.
	if n := testutil.ToFloat64(h.metrics.ignored.WithLabelValues("jobs", IgnoredBadNextSync)); n != 7 {
		t.Errorf("bad_next_sync = %v, want 7", n)
	}
	if n := testutil.ToFloat64(h.metrics.ignored.WithLabelValues("jobs", IgnoredUnknownID)); n != 1 {
		t.Errorf("unknown_id = %v, want 1", n)
	}
	lines := h.logs.FilterMessage("webhook reply entries ignored").All()
	if len(lines) != 1 || lines[0].ContextMap()[IgnoredBadNextSync] != int64(7) {
		t.Fatalf("ignore log lines %v", lines)
	}
	if strings.Contains(lines[0].Message+fmtFields(lines[0].ContextMap()), "soon") {
		t.Fatal("the log quotes the upstream")
	}
}

// fmtFields renders log fields for a containment check.
func fmtFields(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func TestErrorEntries(t *testing.T) {
	long := strings.Repeat("x", 5000)
	reply, _ := json.Marshal(map[string]any{"items": []map[string]any{
		{"id": "plain", "action": "error", "error": "job store unreachable"},
		{"id": "long", "action": "error", "error": long},
		{"id": "controls", "action": "error", "error": "line1\nline2\ttab\x00nul\x1b[31mred\u202egnp.exe\u0085 "},
		{"id": "missing", "action": "error"},
		{"id": "number", "action": "error", "error": 42},
		{"id": "blank", "action": "error", "error": " \n\t "},
		{"id": "again", "action": "error", "error": "still down", "nextSyncAfter": "1s", "data": map[string]any{"ignored": true}, "terminal": true},
		{"id": "last", "action": "error", "error": "gone for good"},
	}})
	// Invalid UTF-8 cannot go through json.Marshal's strings; write it raw.
	body := strings.Replace(string(reply), `"items":[`, `"items":[{"id":"binary","action":"error","error":"a`+"\xff\xfe"+`b\u00e9"},`, 1)
	up := newUpstream(t, replyJSON(body))
	h := newHarness(t, up.URL, nil)
	resps, err := h.sync(t, batchOf(
		rec("plain", `1`, false, 1), rec("long", `1`, false, 1), rec("controls", `1`, false, 1),
		rec("missing", `1`, false, 1), rec("number", `1`, false, 1), rec("blank", `1`, false, 1),
		rec("binary", `1`, false, 1), failing("again", `1`, 3, 1), failing("last", `1`, 5, 2),
		rec("fine", `1`, false, 1),
	))
	if err != nil {
		t.Fatalf("error entries failed the batch: %v", err)
	}
	got := byID(t, resps)
	for _, w := range []struct {
		id       string
		msg      string
		attempts int32
		wait     time.Duration
	}{
		{"plain", "job store unreachable", 1, time.Minute},
		{"long", long[:record.MaxErrorBytes], 1, time.Minute},
		{"controls", "line1 line2 tabnul[31mredgnp.exe", 1, time.Minute},
		{"missing", NoErrorMessage, 1, time.Minute},
		{"number", NoErrorMessage, 1, time.Minute},
		{"blank", NoErrorMessage, 1, time.Minute},
		{"binary", "a\uFFFD\uFFFDbé", 1, time.Minute},
		{"again", "still down", 2, 2 * time.Minute}, // the backoff, not the entry's nextSyncAfter
	} {
		r := got[w.id]
		n := r.Item
		if n == nil || r.Action != cache.Update || n.Attempts != w.attempts || n.LastError != w.msg || r.NextSyncAfter != w.wait {
			t.Errorf("%s: %+v record %+v; want attempts %d, lastError %q, wait %v", w.id, r, n, w.attempts, w.msg, w.wait)
			continue
		}
		if n.Terminal || n.StateOf() != record.StateActive || string(n.Data) != `1` || !utf8.ValidString(n.LastError) {
			t.Errorf("%s: record %+v", w.id, n)
		}
		var ie *ItemError
		var reasoner cache.SyncErrorReasoner
		if !errors.As(r.Err, &ie) || ie.Message != n.LastError || ie.ID != w.id ||
			!errors.As(r.Err, &reasoner) || reasoner.SyncErrorReason() != ReasonItemError {
			t.Errorf("%s: Err %v (%T)", w.id, r.Err, r.Err)
		}
	}
	// The MaxAttempts-th failure gives the item up.
	if r := got["last"]; !r.Item.Terminal || r.Item.StateOf() != record.StateFailed || r.Item.Attempts != 3 ||
		r.Item.LastError != "gone for good" || r.NextSyncAfter != 0 || r.Err == nil {
		t.Errorf("last: %+v record %+v; want failed, wait 0", r, r.Item)
	}
	if _, ok := got["fine"]; ok {
		t.Error("an item left out was answered")
	}
	if n := h.outcomes(OutcomeOK); n != 1 {
		t.Errorf("ok outcomes = %v: item errors are not a failed call", n)
	}
	if len(h.logs.FilterMessage("webhook sync failed").All()) != 0 {
		t.Error("item errors logged as a failed call")
	}
}

func TestRecoveredBySuccess(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler func(http.ResponseWriter, *http.Request, []byte)
	}{
		{"204", func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(http.StatusNoContent) }},
		{"empty items", replyJSON(`{"items": []}`)},
		{"unchanged", replyJSON(`{"items": [{"id": "sick", "action": "unchanged"}, {"id": "well", "action": "unchanged"}]}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, tc.handler)
			h := newHarness(t, up.URL, nil)
			sick := failing("sick", `{"v":1}`, 7, 2)
			resps, err := h.sync(t, batchOf(sick, rec("well", `1`, false, 1)))
			if err != nil {
				t.Fatal(err)
			}
			got := byID(t, resps)
			r := got["sick"]
			if r.Action != cache.Update || r.Item.Attempts != 0 || r.Item.LastError != "" || r.Item.Version != 8 ||
				string(r.Item.Data) != `{"v":1}` || r.NextSyncAfter != 0 || r.Err != nil {
				t.Fatalf("sick: %+v record %+v; want recovered at v8", r, r.Item)
			}
			if sick.Attempts != 2 {
				t.Fatal("the batch's record was changed in place")
			}
			if w, ok := got["well"]; ok && (w.Action != cache.Unchanged || w.Item.Version != 1) {
				t.Fatalf("well: %+v", w)
			}
		})
	}
}

// A failed batch charges every item, with the error's own text and never
// the upstream's bytes, and gives up the items at their last attempt.
func TestBatchFailureChargesEveryItem(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		http.Error(w, "secret-ish upstream text \x1b[31m", http.StatusBadGateway)
	})
	h := newHarness(t, up.URL, func(o *Options) { o.Jitter = func() float64 { return 1 } })
	resps, err := h.sync(t, batchOf(rec("fresh", `1`, false, 1), failing("tired", `1`, 4, 1), failing("done", `1`, 9, 2)))
	e := syncError(t, err, ReasonStatus5xx)
	got := byID(t, resps)
	if len(got) != 3 {
		t.Fatalf("responses %+v", resps)
	}
	for id, w := range map[string]struct {
		attempts int32
		wait     time.Duration
		failed   bool
	}{
		"fresh": {1, 72 * time.Second, false}, // one period, +20% jitter
		"tired": {2, 144 * time.Second, false},
		"done":  {3, 0, true},
	} {
		r := got[id]
		n := r.Item
		if r.Action != cache.Update || n.Attempts != w.attempts || r.NextSyncAfter != w.wait || n.Terminal != w.failed ||
			(n.StateOf() == record.StateFailed) != w.failed || n.LastError != e.Error() || r.Err != nil {
			t.Errorf("%s: %+v record %+v", id, r, n)
		}
		if strings.Contains(n.LastError, "secret-ish") {
			t.Errorf("%s: last error quotes the upstream: %q", id, n.LastError)
		}
	}
}

// A throttled call made no request and charges nobody; the call that
// started the hold did reach the upstream, and is charged.
func TestThrottledCallIsNoAttempt(t *testing.T) {
	up, _ := throttlingUpstream(t, http.StatusTooManyRequests, func() string { return "120" })
	h := newHarness(t, up.URL, nil)
	b := batchOf(rec("a", `1`, false, 1))
	resps, err := h.sync(t, b)
	syncError(t, err, ReasonStatus4xx)
	assertCharged(t, resps, err, "a")
	resps, err = h.sync(t, b)
	syncError(t, err, ReasonThrottled)
	if resps != nil {
		t.Fatalf("throttled call charged its items: %+v", resps)
	}
}

func TestDefaultJitterStaysInBounds(t *testing.T) {
	up := newUpstream(t, replyJSON(`{"items": [{"id": "a", "action": "error", "error": "x"}]}`))
	h := newHarness(t, up.URL, func(o *Options) { o.Jitter = nil })
	for range 20 {
		resps, err := h.sync(t, batchOf(rec("a", `1`, false, 1)))
		if err != nil || len(resps) != 1 {
			t.Fatalf("%+v, %v", resps, err)
		}
		if d := resps[0].NextSyncAfter; d < 48*time.Second || d > 72*time.Second {
			t.Fatalf("wait %v outside 1m ±20%%", d)
		}
	}
}

func TestCleanMessage(t *testing.T) {
	for in, want := range map[string]string{
		"ok":                             "ok",
		"  padded  ":                     "padded",
		"a\r\nb":                         "a  b",
		"bell\a del\x7f c1\u0085":        "bell del c1",
		"\u202eevil\u2066\u200f":         "evil",
		"zwj \U0001F469\u200d\U0001F4BB": "zwj \U0001F469\u200d\U0001F4BB", // joiners are not controls
		"bad \xc3":                       "bad \uFFFD",
		"":                               NoErrorMessage,
		"\x00\x01":                       NoErrorMessage,
		"sep\u2028x":                     "sep x",
	} {
		if got := cleanMessage(in); got != want {
			t.Errorf("cleanMessage(%q) = %q, want %q", in, got, want)
		}
	}
	// A huge message is looked at only up to a bound, cut at a rune start.
	huge := strings.Repeat("é", 1<<20)
	if got := cleanMessage(huge); len(got) > maxRawMessage || !utf8.ValidString(got) || strings.ContainsRune(got, utf8.RuneError) {
		t.Fatalf("huge message: %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}
