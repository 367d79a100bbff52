// Package store keeps the service's state on disk: registered caches with
// their config (secrets included) and every item with its data, terminal
// flag, version and pending deletion.
//
// Store is the interface the rest of the service sees; Bolt is the embedded
// implementation (go.etcd.io/bbolt). A replicated implementation (PostgreSQL)
// can sit behind the same interface. Journal sits in front of a Store: it
// orders the changes the caches make and commits them in groups, so that
// many concurrent writes share one fsync.
package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/autorefresh/autorefresh/internal/record"
)

// Op is what a Mutation does.
type Op int

// The mutations a Store applies.
const (
	// PutItem stores Item under (Cache, Item.ID).
	PutItem Op = iota + 1
	// MarkDelete sets PendingDelete on (Cache, ID), if the item exists.
	MarkDelete
	// DeleteItem removes (Cache, ID).
	DeleteItem
	// PutCache stores Config under Cache.
	PutCache
	// DeleteCache removes the cache, its config and all its items.
	DeleteCache
	// PausePut stores whether Cache's refresh is paused (Paused). It is
	// kept beside the config, not in it: a PUT of a new config keeps it,
	// and DeleteCache removes it.
	PausePut
)

// Item is an item as stored.
type Item struct {
	record.Record
	SyncedAt      *time.Time `json:"syncedAt,omitempty"`
	PendingDelete bool       `json:"pendingDelete,omitempty"`
}

// Mutation is one change. Seq orders mutations within a Journal.
type Mutation struct {
	Seq   uint64
	Op    Op
	Cache string
	ID    string
	// PutItem: the record (shared, not copied: records are immutable)
	// and when a sync last answered for it (zero if never).
	Item     *record.Record
	SyncedAt time.Time
	Config   json.RawMessage // PutCache
	Paused   bool            // PausePut
}

// CacheState is a cache as loaded back from a Store.
type CacheState struct {
	Name   string
	Config json.RawMessage
	// Paused says whether the cache's refresh was paused.
	Paused bool
	Items  []Item
}

// Store persists mutations.
type Store interface {
	// Apply makes a batch of mutations durable, atomically and in order:
	// when it returns nil, all of them survive a crash; otherwise none do.
	Apply(ctx context.Context, batch []Mutation) error
	// Load returns every cache with its items, ordered by cache name.
	Load(ctx context.Context) ([]CacheState, error)
	// Close releases the store. No call may follow it.
	Close() error
}
