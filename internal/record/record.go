// Package record defines the item that the autorefresh service stores: a JSON
// document tracked until it becomes terminal.
package record

import (
	"encoding/json"
	"time"
)

// Record is the service's cache item. Records are immutable once they are in a
// cache: a sync that changes one replaces it with a new Record, so readers may
// share pointers without locks.
type Record struct {
	ID        string          `json:"id"`
	Data      json.RawMessage `json:"data"`
	Terminal  bool            `json:"terminal"`
	Version   int64           `json:"version"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

// IsTerminal implements cache.Item.
func (r *Record) IsTerminal() bool { return r.Terminal }

// Next returns the record that an applied update produces: new data and
// terminal flag, the version bumped by one, and UpdatedAt set to now.
func (r *Record) Next(data json.RawMessage, terminal bool, now time.Time) *Record {
	return &Record{
		ID:        r.ID,
		Data:      data,
		Terminal:  terminal,
		Version:   r.Version + 1,
		CreatedAt: r.CreatedAt,
		UpdatedAt: now,
	}
}
