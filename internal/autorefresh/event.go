package autorefresh

import "github.com/autorefresh/autorefresh/internal/record"

// EventType says what happened to an item.
type EventType int

// The changes every mode reports to the watch hub.
const (
	// EventCreated: the item was created.
	EventCreated EventType = iota + 1
	// EventUpdated: a sync replaced the item.
	EventUpdated
	// EventDeleted: a sync cycle carried out a deletion.
	EventDeleted
	// EventEvicted: the item was dropped to respect the cache's size.
	EventEvicted
)

// String returns the lower-case event name.
func (t EventType) String() string {
	switch t {
	case EventCreated:
		return "created"
	case EventUpdated:
		return "updated"
	case EventDeleted:
		return "deleted"
	case EventEvicted:
		return "evicted"
	}
	return "unknown"
}

// Event is one change of one item, as a mode reports it once the change is
// durable, in the order of the item's changes. Item is the new item for
// EventCreated and EventUpdated; for EventDeleted and EventEvicted it is
// the last item held, or nil when the mode does not know it (PostgreSQL).
type Event struct {
	Type EventType
	ID   string
	Item *record.Record
}
