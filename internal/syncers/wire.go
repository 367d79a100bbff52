package syncers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/record"
)

// wireItem is one item of a request body.
type wireItem struct {
	ID       string          `json:"id"`
	Data     json.RawMessage `json:"data"` // nil marshals as null
	Terminal bool            `json:"terminal"`
	Version  int64           `json:"version"`
	// Attempts is the item's count of consecutive failed attempts, so that
	// an upstream can tell a struggling item from a healthy one.
	Attempts int32 `json:"attempts"`
}

// wireRequest is the request body: {"cache": ..., "items": [...]}.
type wireRequest struct {
	Cache string     `json:"cache"`
	Items []wireItem `json:"items"`
}

// sent is the batch as it was sent: its records by id, which is what a
// reply may refer to, and the ids in batch order, so that responses come
// out in a stable order.
type sent struct {
	ids  []string
	byID map[string]*record.Record
}

// encodeRequest builds the request body for a batch and indexes the batch's
// records by id. Repeated ids are sent once (the cache syncs a repeated item
// once anyway). On error the index still holds every item that has a
// record, so that the failure can be charged to them.
func encodeRequest(cacheName string, batch cache.BatchOf[*record.Record]) ([]byte, sent, error) {
	req := wireRequest{Cache: cacheName, Items: make([]wireItem, 0, len(batch))}
	s := sent{ids: make([]string, 0, len(batch)), byID: make(map[string]*record.Record, len(batch))}
	var missing error
	for i, w := range batch {
		id := w.GetID()
		if _, dup := s.byID[id]; dup {
			continue
		}
		rec := w.GetItem()
		if rec == nil {
			missing = fmt.Errorf("batch item %d has no record", i)
			continue
		}
		s.ids = append(s.ids, id)
		s.byID[id] = rec
		req.Items = append(req.Items, wireItem{ID: id, Data: rec.Data, Terminal: rec.Terminal, Version: rec.Version, Attempts: rec.Attempts})
	}
	if missing != nil {
		return nil, s, missing
	}
	body, err := json.Marshal(req)
	if err != nil {
		// Only an item whose Data is not valid JSON gets here.
		return nil, s, errors.New("batch item data is not valid JSON")
	}
	return body, s, nil
}

// Reasons for ignoring one entry of a reply (metric label values).
const (
	IgnoredUnknownID     = "unknown_id"
	IgnoredDuplicateID   = "duplicate_id"
	IgnoredUnknownAction = "unknown_action"
	// IgnoredUnstorable: the entry's data holds a value that not every
	// storage mode can keep (record.CheckData).
	IgnoredUnstorable = "unstorable_value"
	// IgnoredBadNextSync: the entry's (or the reply's) nextSyncAfter is not
	// a string holding a positive Go duration. Only that value is dropped:
	// the rest of the entry still applies, so the item is synced at the
	// cache's normal pace (or the reply's top-level value).
	IgnoredBadNextSync = "bad_next_sync"
)

// IgnoredReasons lists the reasons an entry can be ignored for.
var IgnoredReasons = []string{IgnoredUnknownID, IgnoredDuplicateID, IgnoredUnknownAction, IgnoredUnstorable, IgnoredBadNextSync}

// wireEntry is one entry of a reply. Pointers tell a missing field from a
// zero value: missing data or terminal keeps the item's current value.
// nextSyncAfter and error are raw so that a value of the wrong type costs
// only that value, not the whole batch (see parseReply).
type wireEntry struct {
	ID            *string         `json:"id"`
	Action        *string         `json:"action"`
	Data          json.RawMessage `json:"data"` // "null" when given as null, nil when missing
	Terminal      *bool           `json:"terminal"`
	NextSyncAfter json.RawMessage `json:"nextSyncAfter"`
	Error         json.RawMessage `json:"error"`
}

// wireReply is a reply body. Items is a pointer so that a reply without an
// "items" key is told apart from one with an empty list.
type wireReply struct {
	Items         *[]wireEntry    `json:"items"`
	NextSyncAfter json.RawMessage `json:"nextSyncAfter"`
}

// The actions of a reply entry, as written on the wire.
const (
	actionUpdate    = "update"
	actionUnchanged = "unchanged"
	actionError     = "error"
)

// entry is a validated reply entry for an id of the batch.
type entry struct {
	id       string
	action   string          // actionUpdate, actionUnchanged or actionError
	data     json.RawMessage // compacted; nil keeps the current data
	terminal *bool           // nil keeps the current flag
	next     time.Duration   // clamped nextSyncAfter; 0 when none was given
	message  string          // an error entry's message, made safe to show (cleanMessage)
}

// parsedReply is a reply reduced to what may be applied, plus how many
// entries were ignored for each reason.
type parsedReply struct {
	entries []entry
	// next is the reply's top-level nextSyncAfter, clamped; 0 when none.
	next    time.Duration
	ignored map[string]int
}

// parseReply decodes a 2xx reply body. A body that is not a JSON object with
// an "items" array of objects of the documented field types fails the whole
// batch; an entry whose id is not in the batch (inBatch false), repeats an
// earlier entry's id, has an action other than "update", "unchanged" or
// "error", or whose data could not be stored by every storage mode
// (record.CheckData: PostgreSQL's jsonb refuses \u0000, say) is only ignored
// and counted, so that both modes leave that item as it was and apply the
// rest. The first entry for an id claims it, even when that entry is itself
// ignored for its action, so a reply cannot sneak a second opinion in.
//
// nextSyncAfter, on an "update" or "unchanged" entry or at the top level
// (for every item without a value of its own), is a Go duration string
// ("90s", "1h30m"), clamped with p.Clamp; null is the same as leaving it
// out. Any other value is counted as bad_next_sync and dropped, and the
// rest of the entry still applies. An "error" entry's nextSyncAfter is not
// read: the backoff decides when a failed item is tried again.
//
// An "error" entry's "error" is its message, kept as cleanMessage makes it;
// a missing, null, non-string or blank one is NoErrorMessage. Its data and
// terminal are not read: an item in error has no new state.
func parseReply(body []byte, inBatch func(id string) bool, p record.Policy) (parsedReply, error) {
	var r wireReply
	if err := json.Unmarshal(body, &r); err != nil {
		return parsedReply{}, fmt.Errorf("reply is not the documented JSON: %w", jsonError(err))
	}
	if r.Items == nil {
		return parsedReply{}, errors.New(`reply has no "items" array (answer 204 or {"items": []} for no changes)`)
	}
	out := parsedReply{ignored: map[string]int{}}
	if next, ok := parseNextSyncAfter(r.NextSyncAfter, p); ok {
		out.next = next
	} else {
		out.ignored[IgnoredBadNextSync]++
	}
	seen := make(map[string]struct{}, len(*r.Items))
	for _, e := range *r.Items {
		if e.ID == nil || !inBatch(*e.ID) {
			out.ignored[IgnoredUnknownID]++
			continue
		}
		id := *e.ID
		if _, dup := seen[id]; dup {
			out.ignored[IgnoredDuplicateID]++
			continue
		}
		seen[id] = struct{}{}
		if e.Action == nil {
			out.ignored[IgnoredUnknownAction]++
			continue
		}
		switch *e.Action {
		case actionError:
			out.entries = append(out.entries, entry{id: id, action: actionError, message: errorMessage(e.Error)})
			continue
		case actionUpdate, actionUnchanged:
		default:
			out.ignored[IgnoredUnknownAction]++
			continue
		}
		en := entry{id: id, action: *e.Action, terminal: e.Terminal}
		if e.Data != nil {
			var buf bytes.Buffer
			if err := json.Compact(&buf, e.Data); err != nil {
				return parsedReply{}, errors.New("reply entry data is not valid JSON") // unreachable after Unmarshal; kept as a guard
			}
			en.data = buf.Bytes()
			if record.CheckData(en.data) != nil {
				out.ignored[IgnoredUnstorable]++
				continue
			}
		}
		if next, ok := parseNextSyncAfter(e.NextSyncAfter, p); ok {
			en.next = next
		} else {
			out.ignored[IgnoredBadNextSync]++
		}
		out.entries = append(out.entries, en)
	}
	return out, nil
}

// parseNextSyncAfter reads a nextSyncAfter value: (0, true) when it is
// missing or null, the clamped duration when it is a string holding a
// positive Go duration, and ok false for anything else.
func parseNextSyncAfter(raw json.RawMessage, p record.Policy) (d time.Duration, ok bool) {
	if raw == nil || string(raw) == "null" {
		return 0, true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, false
	}
	return p.Clamp(d), true
}

// errorMessage reads an "error" entry's message; anything but a string
// becomes "", which cleanMessage turns into NoErrorMessage.
func errorMessage(raw json.RawMessage) string {
	var s string
	if raw != nil {
		_ = json.Unmarshal(raw, &s) // a non-string leaves s empty
	}
	return cleanMessage(s)
}

// jsonError reduces a decoding error to its kind and offset. encoding/json
// errors can quote a piece of the input, and a hostile upstream could make
// that piece anything; the offset is enough to debug with.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("field %q has the wrong type (got JSON %s)", typ.Field, typ.Value)
	default:
		return errors.New("invalid JSON")
	}
}
