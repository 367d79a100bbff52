package webhook

import (
	"context"
	"encoding/json"
)

// Item is one item of a batch, as the cache holds it now (schema
// SyncRequestItem of api/openapi.yaml). The JSON names are the wire format's.
type Item struct {
	// ID is the item's id: 1 to 256 bytes of A-Z a-z 0-9 . _ ~ - (Handler
	// refuses a batch with any other), unique within the batch.
	ID string `json:"id"`
	// Data is the item's data as sent, any JSON; "null" when it has none.
	Data json.RawMessage `json:"data"`
	// Terminal is always false: terminal items are not synced.
	Terminal bool `json:"terminal"`
	// Version starts at 1 and grows by one with every applied update.
	Version int64 `json:"version"`
}

// Batch is what autorefresh sends in one call (schema SyncRequest).
type Batch struct {
	// Cache names the cache the items belong to.
	Cache string `json:"cache"`
	// Items holds at least one item, each id once.
	Items []Item `json:"items"`
}

// Action says what a Result does to its item.
type Action string

// The actions of a Result, as written on the wire.
const (
	// ActionUpdate applies the Result's Data and Terminal and bumps the
	// item's version.
	ActionUpdate Action = "update"
	// ActionUnchanged leaves the item as it is, like leaving it out.
	ActionUnchanged Action = "unchanged"
)

// Result is the upstream's answer for one item of the batch (schema
// SyncResult). Build it with Update or Unchanged; the fields are exported so
// that a reply can be read back (in tests, say) with encoding/json.
type Result struct {
	// ID names an item of the batch; autorefresh ignores (and counts in its
	// metrics) a Result for any other id, and all but the first for an id.
	ID string `json:"id"`
	// Action is ActionUpdate or ActionUnchanged.
	Action Action `json:"action"`
	// Data, with ActionUpdate, replaces the item's data. Nil (left out on
	// the wire) keeps the current data; json.RawMessage("null") sets it to
	// null. It must be valid JSON, or Handler answers 500.
	Data json.RawMessage `json:"data,omitempty"`
	// Terminal, with ActionUpdate, says whether the item is now final (it
	// is then never sent again). Nil keeps the current flag.
	Terminal *bool `json:"terminal,omitempty"`
}

// Update returns a Result that sets item id's data and terminal flag, and
// bumps its version. A nil data keeps the item's data, so
// Update(id, nil, true) only ends the item. Since a batch only holds items
// that are not terminal, Update(id, nil, false) changes nothing but the
// version: answer Unchanged(id), or leave the item out, instead.
func Update(id string, data json.RawMessage, terminal bool) Result {
	return Result{ID: id, Action: ActionUpdate, Data: data, Terminal: &terminal}
}

// Unchanged returns a Result that leaves item id as it is. Leaving the item
// out of the reply means the same; Unchanged is for upstreams that prefer to
// answer every item.
func Unchanged(id string) Result {
	return Result{ID: id, Action: ActionUnchanged}
}

// SyncFunc answers a batch: it returns one Result per item it has news of,
// in any order; items it leaves out are unchanged. ctx is the request's
// context, done when autorefresh gives up on the call (its timeout) or the
// connection breaks. An error fails the whole batch: no item changes, and
// autorefresh sends the items again at the next resync.
type SyncFunc func(ctx context.Context, batch Batch) ([]Result, error)
