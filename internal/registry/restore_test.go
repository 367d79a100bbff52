package registry

import (
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/internal/store"
)

// Restored entries come least recently updated first, ties in the store's
// order (by id), whatever the times: the zero time and times before 1970
// sort as times, not as overflowed nanoseconds.
func TestEntriesByAge(t *testing.T) {
	at := func(s int64, ns int) time.Time { return time.Unix(s, int64(ns)).UTC() }
	items := []store.Item{
		{Record: record.Record{ID: "a", UpdatedAt: at(20, 0)}},
		{Record: record.Record{ID: "b", UpdatedAt: at(10, 5)}},
		{Record: record.Record{ID: "c", UpdatedAt: at(10, 5)}},
		{Record: record.Record{ID: "d", UpdatedAt: time.Time{}}},
		{Record: record.Record{ID: "e", UpdatedAt: at(10, 4)}},
		{Record: record.Record{ID: "f", UpdatedAt: at(-3e10, 0)}},
	}
	synced := at(7, 0)
	items[2].SyncedAt, items[2].PendingDelete = &synced, true
	entries := entriesByAge(items)
	var got string
	for _, en := range entries {
		got += en.ID
		if en.Item.ID != en.ID {
			t.Fatalf("entry %s holds item %s", en.ID, en.Item.ID)
		}
	}
	if got != "dfebca" {
		t.Fatalf("order %s, want dfebca", got)
	}
	if c := entries[4]; !c.SyncedAt.Equal(synced) || !c.PendingDelete {
		t.Fatalf("c lost its sync time or pending deletion: %+v", c)
	}
}
