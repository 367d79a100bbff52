package syncers

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/record"
)

func TestHostileReplyEntriesAreIgnoredAndCounted(t *testing.T) {
	up := newUpstream(t, replyJSON(`{"items": [
		{"id": "a", "action": "update", "data": {"s": "A2"}},
		{"id": "intruder", "action": "update", "data": {"s": "created?"}, "terminal": true},
		{"action": "update", "data": {"s": "no id"}},
		{"id": "", "action": "update"},
		{"id": "a", "action": "update", "data": {"s": "second opinion"}},
		{"id": "b", "action": "delete"},
		{"id": "b", "action": "update", "data": {"s": "after a bad action"}},
		{"id": "c", "action": "UPDATE", "data": {"s": "case matters"}},
		{"id": "d"},
		{"id": "e", "action": "unchanged"},
		{"id": "f", "action": "update", "terminal": true}
	], "extra": "top-level fields are ignored"}`))
	h := newHarness(t, up.URL, nil)
	b := batchOf(
		rec("a", `{"s":"A1"}`, false, 1), rec("b", `{"s":"B1"}`, false, 1),
		rec("c", `{"s":"C1"}`, false, 1), rec("d", `{"s":"D1"}`, false, 1),
		rec("e", `{"s":"E1"}`, false, 1), rec("f", `{"s":"F1"}`, false, 1),
	)
	resps, err := h.sync(t, b)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]cache.ItemSyncResponseOf[*record.Record]{}
	for _, r := range resps {
		if _, dup := got[r.ID]; dup {
			t.Fatalf("two responses for %s", r.ID)
		}
		got[r.ID] = r
	}
	if len(got) != 3 {
		t.Fatalf("responses %v, want a, e and f only", got)
	}
	if r := got["a"]; r.Action != cache.Update || data(t, r) != `{"s":"A2"}` {
		t.Errorf("a: %v %s (the first entry must win)", r.Action, data(t, r))
	}
	if r := got["e"]; r.Action != cache.Unchanged || data(t, r) != `{"s":"E1"}` {
		t.Errorf("e: %+v", r)
	}
	if r := got["f"]; r.Action != cache.Update || !r.Item.Terminal || data(t, r) != `{"s":"F1"}` {
		t.Errorf("f: %+v", r)
	}

	want := map[string]float64{IgnoredUnknownID: 3, IgnoredDuplicateID: 2, IgnoredUnknownAction: 3}
	for reason, n := range want {
		if got := testutil.ToFloat64(h.metrics.ignored.WithLabelValues("jobs", reason)); got != n {
			t.Errorf("ignored_entries_total{reason=%q} = %v, want %v", reason, got, n)
		}
	}
	if n := h.outcomes(OutcomeOK); n != 1 {
		t.Errorf("a reply with ignored entries is still ok: %v", n)
	}
	lines := h.logs.FilterMessage("webhook reply entries ignored").All()
	if len(lines) != 1 {
		t.Fatalf("%d ignore log lines", len(lines))
	}
	if f := lines[0].ContextMap(); f[IgnoredUnknownID] != int64(3) || f["cache"] != "jobs" {
		t.Errorf("ignore log fields %v", f)
	}
}

// An upstream can only answer for items of the batch: even a reply that
// lists only strangers creates nothing.
func TestUpstreamCannotCreateItems(t *testing.T) {
	up := newUpstream(t, replyJSON(`{"items": [{"id": "new", "action": "update", "data": 1}]}`))
	h := newHarness(t, up.URL, nil)
	resps, err := h.sync(t, batchOf(rec("a", "1", false, 1)))
	if err != nil || len(resps) != 0 {
		t.Fatalf("got %v, %v", resps, err)
	}
}
