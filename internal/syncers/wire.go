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
}

// wireRequest is the request body: {"cache": ..., "items": [...]}.
type wireRequest struct {
	Cache string     `json:"cache"`
	Items []wireItem `json:"items"`
}

// encodeRequest builds the request body for a batch and indexes the batch's
// records by id, which is what a reply may refer to. Repeated ids are sent
// once (the cache syncs a repeated item once anyway).
func encodeRequest(cacheName string, batch cache.BatchOf[*record.Record]) ([]byte, map[string]*record.Record, error) {
	req := wireRequest{Cache: cacheName, Items: make([]wireItem, 0, len(batch))}
	olds := make(map[string]*record.Record, len(batch))
	for _, w := range batch {
		id := w.GetID()
		if _, dup := olds[id]; dup {
			continue
		}
		rec := w.GetItem()
		if rec == nil {
			return nil, nil, fmt.Errorf("batch item %d has no record", len(olds))
		}
		olds[id] = rec
		req.Items = append(req.Items, wireItem{ID: id, Data: rec.Data, Terminal: rec.Terminal, Version: rec.Version})
	}
	body, err := json.Marshal(req)
	if err != nil {
		// Only an item whose Data is not valid JSON gets here.
		return nil, nil, errors.New("batch item data is not valid JSON")
	}
	return body, olds, nil
}

// Reasons for ignoring one entry of a reply (metric label values).
const (
	IgnoredUnknownID     = "unknown_id"
	IgnoredDuplicateID   = "duplicate_id"
	IgnoredUnknownAction = "unknown_action"
	// IgnoredUnstorable: the entry's data holds a value that not every
	// storage mode can keep (record.CheckData).
	IgnoredUnstorable = "unstorable_value"
)

// IgnoredReasons lists the reasons an entry can be ignored for.
var IgnoredReasons = []string{IgnoredUnknownID, IgnoredDuplicateID, IgnoredUnknownAction, IgnoredUnstorable}

// wireEntry is one entry of a reply. Pointers tell a missing field from a
// zero value: missing data or terminal keeps the item's current value.
type wireEntry struct {
	ID       *string         `json:"id"`
	Action   *string         `json:"action"`
	Data     json.RawMessage `json:"data"` // "null" when given as null, nil when missing
	Terminal *bool           `json:"terminal"`
}

// wireReply is a reply body. Items is a pointer so that a reply without an
// "items" key is told apart from one with an empty list.
type wireReply struct {
	Items *[]wireEntry `json:"items"`
}

// entry is a validated reply entry for an id of the batch.
type entry struct {
	id       string
	update   bool            // action "update"; false means "unchanged"
	data     json.RawMessage // compacted; nil keeps the current data
	terminal *bool           // nil keeps the current flag
}

// parsedReply is a reply reduced to what may be applied, plus how many
// entries were ignored for each reason.
type parsedReply struct {
	entries []entry
	ignored map[string]int
}

// parseReply decodes a 2xx reply body. A body that is not a JSON object with
// an "items" array of objects of the documented field types fails the whole
// batch; an entry whose id is not in the batch (inBatch false), repeats an
// earlier entry's id, has an action other than "update" or "unchanged", or
// whose data could not be stored by every storage mode (record.CheckData:
// PostgreSQL's jsonb refuses \u0000, say) is only ignored and counted, so
// that both modes leave that item as it was and apply the rest. The first entry for an id claims it, even when
// that entry is itself ignored for its action, so a reply cannot sneak a
// second opinion in.
func parseReply(body []byte, inBatch func(id string) bool) (parsedReply, error) {
	var r wireReply
	if err := json.Unmarshal(body, &r); err != nil {
		return parsedReply{}, fmt.Errorf("reply is not the documented JSON: %w", jsonError(err))
	}
	if r.Items == nil {
		return parsedReply{}, errors.New(`reply has no "items" array (answer 204 or {"items": []} for no changes)`)
	}
	out := parsedReply{ignored: map[string]int{}}
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
		if e.Action == nil || *e.Action != "update" && *e.Action != "unchanged" {
			out.ignored[IgnoredUnknownAction]++
			continue
		}
		en := entry{id: id, update: *e.Action == "update", terminal: e.Terminal}
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
		out.entries = append(out.entries, en)
	}
	return out, nil
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

// responses turns the parsed entries into the cache's answer. An update
// carries old.Next(data, terminal, now), where missing data or terminal keep
// the old value; an update that gives neither has nothing to apply and is
// answered as unchanged, so the version does not move. Entries marked
// unchanged are answered as such; batch items the reply leaves out get no
// response, which the cache also treats as unchanged.
func responses(entries []entry, olds map[string]*record.Record, now time.Time) []cache.ItemSyncResponseOf[*record.Record] {
	out := make([]cache.ItemSyncResponseOf[*record.Record], 0, len(entries))
	for _, e := range entries {
		old := olds[e.id]
		if !e.update || e.data == nil && e.terminal == nil {
			out = append(out, cache.ItemSyncResponseOf[*record.Record]{ID: e.id, Item: old, Action: cache.Unchanged})
			continue
		}
		data, terminal := old.Data, old.Terminal
		if e.data != nil {
			data = e.data
		}
		if e.terminal != nil {
			terminal = *e.terminal
		}
		out = append(out, cache.ItemSyncResponseOf[*record.Record]{ID: e.id, Item: old.Next(data, terminal, now), Action: cache.Update})
	}
	return out
}
