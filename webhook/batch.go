package webhook

import (
	"context"
	"encoding/json"
	"time"
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
	// Version starts at 1 and grows by one with every change of the item.
	Version int64 `json:"version"`
	// Attempts counts the item's consecutive failed attempts (failed calls
	// and Error results); 0 for a healthy item. A success resets it. An
	// upstream may use it to give a struggling item more care, or less.
	Attempts int32 `json:"attempts"`
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
	// ActionError says that the upstream could not get this item's state:
	// it counts as one failed attempt for this item alone (the rest of the
	// batch is applied), and autorefresh tries the item again after a
	// backoff, giving it up (state "failed") after the cache's
	// retry.maxAttempts failures in a row.
	ActionError Action = "error"
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
	// NextSyncAfter, with ActionUpdate or ActionUnchanged, is how long
	// from now the item should next be sent, when the upstream knows
	// better than the cache's resync period; zero leaves it to the
	// Reply's NextSyncAfter, else the resync period. autorefresh bounds it
	// to [resyncPeriod/10, 100 × resyncPeriod].
	NextSyncAfter Duration `json:"nextSyncAfter,omitzero"`
	// Error, with ActionError, is why: it becomes the item's lastError,
	// which clients of the cache see, so it should say what went wrong
	// without secrets. autorefresh keeps up to 1 KiB of it, without
	// control characters; an empty one is replaced by a fixed text.
	Error string `json:"error,omitempty"`
}

// WithNextSyncAfter returns r asking for the item's next sync d from now
// (see Result.NextSyncAfter), as in
// webhook.Unchanged(id).WithNextSyncAfter(time.Hour).
func (r Result) WithNextSyncAfter(d time.Duration) Result {
	r.NextSyncAfter = Duration(d)
	return r
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

// Error returns a Result saying that the upstream could not get item id's
// state, with message as the reason (see ActionError and Result.Error).
// Fail the whole batch (an error from SyncFunc) only when nothing could be
// answered; Error keeps one bad item from holding back the others.
func Error(id, message string) Result {
	return Result{ID: id, Action: ActionError, Error: message}
}

// Duration is a time.Duration written on the wire as Go duration text
// ("90s", "1h30m0s"), as autorefresh reads nextSyncAfter.
type Duration time.Duration

// MarshalText writes d as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads Go duration text.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Reply is a whole answer to a batch (schema SyncResponse): the Results
// and, optionally, a NextSyncAfter for every item of the batch that has
// none of its own, including the items left out of Items. A ReplyFunc
// returns it; a SyncFunc returns the Items alone.
type Reply struct {
	Items []Result `json:"items"`
	// NextSyncAfter, if not zero, is when the batch's items should next be
	// sent (see Result.NextSyncAfter, which wins for its item).
	NextSyncAfter Duration `json:"nextSyncAfter,omitzero"`
}

// ReplyFunc answers a batch with a whole Reply; it is SyncFunc for an
// upstream that sets the reply's NextSyncAfter (serve it with
// ReplyHandler). Its contract is SyncFunc's otherwise.
type ReplyFunc func(ctx context.Context, batch Batch) (Reply, error)

// SyncFunc answers a batch: it returns one Result per item it has news of,
// in any order; items it leaves out are unchanged. ctx is the request's
// context, done when autorefresh gives up on the call (its timeout) or the
// connection breaks. An error fails the whole batch: no item's data
// changes, every item is charged one failed attempt, and autorefresh sends
// them again after a backoff. Answer Error(id, message) for an item that
// alone could not be looked up.
type SyncFunc func(ctx context.Context, batch Batch) ([]Result, error)
