package syncers

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/autorefresh/autorefresh/internal/record"
)

// FuzzParseReply checks that reply parsing never panics, and that whatever it
// accepts only ever answers for ids of the batch, at most once each, with
// valid JSON data, clamped next times and cleaned error messages, and
// accounts for every entry it drops.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		`{"items": []}`,
		`{"items": [{"id": "a", "action": "update", "data": {"status": "Completed"}, "terminal": true}]}`,
		`{"items": [{"id": "a", "action": "unchanged"}, {"id": "a", "action": "update"}]}`,
		`{"items": [{"id": "zz", "action": "update"}, {"id": "b", "action": "nope"}]}`,
		`{"items": [{"id": "b", "action": "update", "data": null, "terminal": null}]}`,
		`{"items": [{"id": "a", "action": "update", "data": "\u0000"}, {"id": "b", "action": "update", "data": 1e999999}]}`,
		`{"items": null}`, `{}`, `[]`, `null`, `{"items": [1]}`, ``,
		`{"items": [{"id": "a", "action": "unchanged", "nextSyncAfter": "90s"}], "nextSyncAfter": "1h"}`,
		`{"items": [{"id": "a", "action": "update", "nextSyncAfter": 5}, {"id": "b", "action": "unchanged", "nextSyncAfter": "-1s"}], "nextSyncAfter": {}}`,
		`{"items": [{"id": "a", "action": "error", "error": "db down\u0000\u202e"}, {"id": "b", "action": "error", "error": 7}, {"id": "c", "action": "error"}]}`,
		`{"items": [{"id": "a", "action": "unchanged", "nextSyncAfter": "1ns"}, {"id": "b", "action": "update", "nextSyncAfter": "9999999h"}]}`,
	} {
		f.Add([]byte(s))
	}
	batch := map[string]bool{"a": true, "b": true, "c": true}
	policy := record.Policy{ResyncPeriod: time.Minute}
	inBounds := func(d time.Duration) bool { return d == 0 || d >= 6*time.Second && d <= 100*time.Minute }
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseReply(body, func(id string) bool { return batch[id] }, policy)
		if err != nil {
			if len(p.entries) != 0 {
				t.Fatal("entries returned with an error")
			}
			return
		}
		seen := map[string]bool{}
		for _, e := range p.entries {
			if !batch[e.id] {
				t.Fatalf("entry for %q, which is not in the batch", e.id)
			}
			if seen[e.id] {
				t.Fatalf("two entries for %q", e.id)
			}
			seen[e.id] = true
			if e.data != nil && !json.Valid(e.data) {
				t.Fatalf("invalid data %q", e.data)
			}
			if err := record.CheckData(e.data); err != nil {
				t.Fatalf("data %q kept, which not every mode can store: %v", e.data, err)
			}
			if !inBounds(e.next) {
				t.Fatalf("nextSyncAfter %v not clamped", e.next)
			}
			if e.action == actionError && (e.message == "" || e.message != cleanMessage(e.message) || !utf8.ValidString(e.message)) {
				t.Fatalf("error message %q not cleaned", e.message)
			}
		}
		if !inBounds(p.next) {
			t.Fatalf("top-level nextSyncAfter %v not clamped", p.next)
		}
		var shape struct{ Items []json.RawMessage }
		if json.Unmarshal(body, &shape) != nil {
			t.Fatal("accepted a body that is not a JSON object with items")
		}
		// A bad nextSyncAfter drops only that value: its entry is kept
		// (and counted), or it was the top-level one.
		dropped := 0
		for reason, n := range p.ignored {
			if !slices.Contains(IgnoredReasons, reason) {
				t.Fatalf("unknown ignore reason %q", reason)
			}
			if reason != IgnoredBadNextSync {
				dropped += n
			}
		}
		if len(p.entries)+dropped != len(shape.Items) {
			t.Fatalf("%d entries + %d ignored != %d items", len(p.entries), dropped, len(shape.Items))
		}
		if n := p.ignored[IgnoredBadNextSync]; n > len(p.entries)+1 {
			t.Fatalf("%d bad_next_sync for %d entries", n, len(p.entries))
		}
	})
}
