// Package record defines the item that the autorefresh service stores: a JSON
// document tracked until it becomes terminal, with the per-item schedule
// state (attempts, last error, deadline) that both storage modes keep, and
// the rules that change it (schedule.go).
package record

import (
	"encoding/json"
	"time"
)

// Record is the service's cache item. Records are immutable once they are in a
// cache: a sync that changes one replaces it with a new Record, so readers may
// share pointers without locks.
//
// Every change of a record, whoever makes it (a sync answer, a failed
// attempt, a PATCH, a retry, an expiry), goes through one of the methods of
// this package and bumps Version by one, so that a version names exactly one
// state of the item: ETags, If-Match and the "later change wins" rule rest
// on that.
type Record struct {
	ID        string          `json:"id"`
	Data      json.RawMessage `json:"data"`
	Terminal  bool            `json:"terminal"`
	Version   int64           `json:"version"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
	// State says why the item is or is not terminal. It is stored; a
	// record stored before it existed reads as StateUnset, which
	// StateOf derives from Terminal.
	State State `json:"state,omitzero"`
	// Attempts counts consecutive failed attempts; a success resets it.
	Attempts int32 `json:"attempts,omitzero"`
	// LastError is the last failed attempt's message ("" if none since
	// the last success), as safe to show as the cache's last error.
	LastError string `json:"lastError,omitzero"`
	// ExpiresAt is the item's deadline (zero for none): an active item
	// past it becomes StateExpired and is never synced after it.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// IsTerminal implements cache.Item.
func (r *Record) IsTerminal() bool { return r.Terminal }

// StateOf is the item's state, derived from Terminal for records stored
// before states existed.
func (r *Record) StateOf() State {
	switch {
	case r.State != StateUnset:
		return r.State
	case r.Terminal:
		return StateCompleted
	default:
		return StateActive
	}
}

// next is r with the version bumped and UpdatedAt set: the start of every
// change.
func (r *Record) next(now time.Time) *Record {
	n := *r
	n.Version++
	n.UpdatedAt = now
	return &n
}

// Next returns the record that an applied update produces (a sync reply's
// "update", or a PATCH): new data and terminal flag, the version bumped by
// one, UpdatedAt set to now, and the failure count cleared, since an update
// is a successful answer. A terminal update completes the item.
func (r *Record) Next(data json.RawMessage, terminal bool, now time.Time) *Record {
	n := r.next(now)
	n.Data, n.Terminal = data, terminal
	n.Attempts, n.LastError = 0, ""
	n.State = StateActive
	if terminal {
		n.State = StateCompleted
	}
	return n
}
