// Package autorefresh is the service's vocabulary: the item clients see,
// a cache's Config with its defaults and limits, the id, name and cursor
// rules, redaction, and the Service interface that every storage mode
// implements and the HTTP layer calls. It sits at the bottom: the HTTP layer
// (internal/handlers), the conformance suite (internal/servicetest) and both
// storage modes (internal/registry over internal/store, and
// internal/replicated) import it, and it imports none of them (see
// imports_test.go). Errors carry the codes of internal/errs.
//
// Keep the JSON and YAML tags as they are: they are the wire format of
// PUT /v1/caches/{cache}, of the --config file and of stored configs.
package autorefresh

import (
	"context"
	"encoding/json"

	"github.com/autorefresh/autorefresh/internal/cache"
)

// DefaultMaxCaches bounds the number of caches one service hosts.
const DefaultMaxCaches = 1000

// DefaultMaxItems bounds the items of all caches of one service together.
const DefaultMaxItems = 10_000_000

// Service is the service as the HTTP layer calls it: the embedded registry
// (internal/registry) and the PostgreSQL mode (internal/replicated) each
// implement it, and internal/servicetest holds them to one meaning. ctx is
// the request's: an implementation that does I/O stops when the client goes
// away. Errors carry an errs code.
type Service interface {
	// Put registers a cache or replaces its config, keeping its items,
	// and reports whether the cache is new.
	Put(ctx context.Context, name string, cfg Config) (created bool, err error)
	// Info returns a cache's config (as Redact shows it) and stats.
	Info(ctx context.Context, name string) (Info, error)
	// List returns every cache, by name.
	List(ctx context.Context) ([]Info, error)
	// Delete drops a cache with its items.
	Delete(ctx context.Context, name string) error
	// Sync queues a refresh of the cache's non-terminal items now.
	Sync(ctx context.Context, name string) error
	// CreateItem inserts a new item at version 1, or returns the existing
	// one unchanged; created says which.
	CreateItem(ctx context.Context, name, id string, data json.RawMessage, terminal bool) (it Item, created bool, err error)
	// GetItem returns an item.
	GetItem(ctx context.Context, name, id string) (Item, error)
	// DeleteItem marks an item for deletion by the next sync cycle and
	// returns it with PendingDelete set.
	DeleteItem(ctx context.Context, name, id string) (Item, error)
	// ListItems returns a page of items after cursor (see ParsePage) and
	// the cursor of the next page ("" at the end).
	ListItems(ctx context.Context, name, cursor string, limit int, terminal *bool) (page []Item, next string, err error)
}

// Info is a cache as clients see it: its config as Redact shows it, and its
// stats.
type Info struct {
	Name   string
	Config Config // as Redact returns it
	// SecretSet says whether the webhook has a secret.
	SecretSet bool
	// Stats are the engine's counters; the PostgreSQL mode fills in the
	// same fields from its tables.
	Stats cache.Stats
}
