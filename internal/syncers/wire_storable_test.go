package syncers

import (
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/record"
)

// TestParseReplyRefusesUnstorableEntryAlone: an entry whose data one of the
// storage modes cannot keep is ignored and counted under its own reason;
// the other entries are kept.
func TestParseReplyRefusesUnstorableEntryAlone(t *testing.T) {
	body := []byte(`{"items": [
		{"id": "nul", "action": "update", "data": {"s": "a\u0000b"}},
		{"id": "huge", "action": "update", "data": 1e1000000},
		{"id": "ok", "action": "update", "data": {"s": "\ud83d\ude00"}},
		{"id": "nul", "action": "update", "data": {"second": "opinion"}}]}`)
	got, err := parseReply(body, func(string) bool { return true }, record.Policy{ResyncPeriod: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.entries) != 1 || got.entries[0].id != "ok" {
		t.Fatalf("entries kept: %+v", got.entries)
	}
	if got.ignored[IgnoredUnstorable] != 2 || got.ignored[IgnoredDuplicateID] != 1 {
		t.Fatalf("ignored: %v", got.ignored)
	}
}
