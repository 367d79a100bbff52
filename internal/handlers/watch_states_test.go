package handlers_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/api"
	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/record"
)

// A failed and an expired item reach watchers as events of those names,
// with the item (state, attempts, lastError, expiresAt) in the spec's
// WatchedItem shape, as terminal does.
func TestEventStreamNamesFailedAndExpired(t *testing.T) {
	w := newWatchEnv(t, watchConfig{})
	w.jobs()
	stream, _ := w.openStream("/v1/caches/jobs/events", nil)
	spec, err := api.Load()
	if err != nil {
		t.Fatal(err)
	}
	schema := spec.Components.Schemas["WatchedItem"].Value

	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	failed := &record.Record{ID: "f", Data: json.RawMessage(`{"n":1}`), Terminal: true, Version: 4, CreatedAt: at, UpdatedAt: at,
		State: record.StateFailed, Attempts: 3, LastError: `upstream said "no" <b>`}
	expired := &record.Record{ID: "x", Data: json.RawMessage(`null`), Terminal: true, Version: 2, CreatedAt: at, UpdatedAt: at,
		State: record.StateExpired, ExpiresAt: at.Add(time.Hour)}
	w.hub.OnEvent("jobs", autorefresh.Event{Type: autorefresh.EventUpdated, ID: "f", Item: failed})
	w.hub.OnEvent("jobs", autorefresh.Event{Type: autorefresh.EventUpdated, ID: "x", Item: expired})

	for _, want := range []struct {
		kind string
		rec  *record.Record
	}{{"failed", failed}, {"expired", expired}} {
		e := stream.next()
		if e.kind != want.kind {
			t.Fatalf("event %s, want %s", e.kind, want.kind)
		}
		m := decodeData(t, e)
		if err := schema.VisitJSON(m); err != nil {
			t.Errorf("%s: payload does not match WatchedItem: %v\n%s", e.kind, err, e.data)
		}
		if m["id"] != want.rec.ID || m["state"] != want.rec.State.String() || m["terminal"] != true ||
			m["attempts"] != float64(want.rec.Attempts) || m["nextSyncAt"] != nil {
			t.Errorf("%s: %s", e.kind, e.data)
		}
		if want.rec.LastError == "" && m["lastError"] != nil || want.rec.LastError != "" && m["lastError"] != want.rec.LastError {
			t.Errorf("%s: lastError %v", e.kind, m["lastError"])
		}
		if want.rec.ExpiresAt.IsZero() && m["expiresAt"] != nil ||
			!want.rec.ExpiresAt.IsZero() && m["expiresAt"] != want.rec.ExpiresAt.Format(time.RFC3339Nano) {
			t.Errorf("%s: expiresAt %v", e.kind, m["expiresAt"])
		}
	}
}
