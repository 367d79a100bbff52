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
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
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
	// one unchanged; created says which. See NewItem for its deadline.
	CreateItem(ctx context.Context, name string, in NewItem) (it Item, created bool, err error)
	// CreateItems is CreateItem for 1 to MaxBatchCreate items at once,
	// acknowledged by one durable commit (embedded) or one statement
	// round trip (PostgreSQL). Its results are in request order, one per
	// entry; an entry that cannot be created has Err set and does not
	// fail the others. err is for the request as a whole (an unknown
	// cache, an empty or oversized list).
	CreateItems(ctx context.Context, name string, in []NewItem) ([]Created, error)
	// GetItem returns an item.
	GetItem(ctx context.Context, name, id string) (Item, error)
	// PatchItem changes an item's data and terminal flag as a sync
	// reply's update would (record.Patch), bumps its version and emits
	// its event. With Patch.IfMatch set, an item at another version
	// answers PreconditionFailed. A sync answer for the state it had
	// before cannot undo it.
	PatchItem(ctx context.Context, name, id string, p Patch) (Item, error)
	// RetryItem makes a failed or expired item active again (record.Retry)
	// with its deadline ttl from now (0: none), and due now; an active
	// item only becomes due now; a completed item answers Conflict.
	RetryItem(ctx context.Context, name, id string, ttl time.Duration) (Item, error)
	// DeleteItem marks an item for deletion by the next sync cycle and
	// returns it with PendingDelete set.
	DeleteItem(ctx context.Context, name, id string) (Item, error)
	// ListItems returns a page of items after cursor (see ParsePage), of
	// at most limit items and MaxPageBytes (see ItemBytes), that pass f,
	// and the cursor of the next page ("" at the end).
	ListItems(ctx context.Context, name, cursor string, limit int, f Filter) (page []Item, next string, err error)
	// SetPaused pauses or resumes a cache's refresh, durably and for
	// every replica: while paused no webhook call is made and no item is
	// failed or expired; reads and writes go on.
	SetPaused(ctx context.Context, name string, paused bool) (Info, error)
}

// MaxBatchCreate bounds the items of one CreateItems.
const MaxBatchCreate = 1000

// NewItem is one item to create.
type NewItem struct {
	ID       string
	Data     json.RawMessage
	Terminal bool
	// TTL is the item's deadline from now; 0 takes the cache's itemTTL
	// (which may be none).
	TTL time.Duration
}

// Created is the outcome of one entry of CreateItems.
type Created struct {
	Item    Item
	Created bool
	Err     error // with an errs code; Item is unset then
}

// Patch is a PATCH of an item: nil Data or Terminal keeps the current
// value; IfMatch, when above zero, is the version the item must have.
type Patch struct {
	Data     json.RawMessage
	Terminal *bool
	IfMatch  int64
}

// Filter selects the items of a list: Terminal, when set, by the flag;
// State, when set, by the state.
type Filter struct {
	Terminal *bool
	State    record.State
}

// Match reports whether an item passes the filter.
func (f Filter) Match(r *record.Record) bool {
	if f.Terminal != nil && r.Terminal != *f.Terminal {
		return false
	}
	return f.State == record.StateUnset || r.StateOf() == f.State
}

// CheckTTL checks a create's or a retry's ttl.
func CheckTTL(ttl time.Duration) error {
	if ttl < 0 || ttl > MaxTTL {
		return errs.Errorf(errs.Invalid, "ttl: must be between 0 and %s", MaxTTL)
	}
	return nil
}

// ExpiresAt is the deadline of an item created now with ttl in a cache of
// config cfg: its own ttl, else the cache's itemTTL, else none (zero).
func ExpiresAt(ttl time.Duration, cfg Config, now time.Time) time.Time {
	if ttl <= 0 {
		ttl = time.Duration(cfg.ItemTTL)
	}
	if ttl <= 0 {
		return time.Time{}
	}
	return now.Add(ttl)
}

// Info is a cache as clients see it: its config as Redact shows it, and its
// stats.
type Info struct {
	Name   string
	Config Config // as Redact returns it
	// SecretSet says whether the webhook has a secret.
	SecretSet bool
	// Paused says whether the cache's refresh is paused (SetPaused).
	Paused bool
	// Stats are the cache's counters: the embedded engine's, or what the
	// PostgreSQL mode reads from its tables.
	Stats Stats
}

// Stats is a point-in-time view of a cache's counters, the same in every
// mode (the conformance suite checks it). It has the fields of the engine's
// cache.Stats, so the embedded mode converts one into the other.
type Stats struct {
	// Size is the number of items held.
	Size int
	// ByState counts the items held in each state, indexed by
	// record.State (StateUnset counts none).
	ByState [record.NumStates]int
	// Syncs counts webhook calls that succeeded; SyncErrors those that
	// failed.
	Syncs, SyncErrors uint64
	// Enqueued is the number of items waiting for a sync now; InFlight the
	// number of batches being synced. EnqueuedTotal counts every item ever
	// queued.
	Enqueued      int64
	InFlight      int64
	EnqueuedTotal uint64
	// Hits and Misses count reads of items that were and were not there.
	Hits, Misses uint64
	// Evictions and Deletions are counted apart: an eviction is the size
	// bound at work, a deletion a DELETE carried out.
	Evictions, Deletions uint64
	// LastSyncAt is when a batch last synced successfully (zero if never).
	LastSyncAt time.Time
	// LastError is the text of the last sync failure ("" if none) and
	// LastErrorAt its time.
	LastError   string
	LastErrorAt time.Time
}

// MaxListLimit bounds one page of ListItems.
const MaxListLimit = 1000

// MaxPageBytes bounds one page of ListItems in bytes as well as in items:
// items may be up to 1 MiB each, so a page of MaxListLimit of them would be
// a response of a gigabyte, built in memory. A page ends before the
// ItemBytes of its items would pass MaxPageBytes (a first item larger than
// that still comes, alone), and its cursor goes on from there: a client
// gets fewer items than its limit, never an error.
const MaxPageBytes = 4 << 20

// itemOverheadBytes is an item's JSON without its id and data, with room to
// spare: keys, punctuation, three timestamps and a separator take about 205
// bytes.
const itemOverheadBytes = 256

// ItemBytes approximates the size of an item of that id and length of data
// in a page's JSON. It is what the storage modes cut pages by, before they
// read the data; the HTTP layer cuts by the exact encoding.
func ItemBytes(id string, dataLen int) int { return itemOverheadBytes + len(id) + dataLen }

// PageFits returns how many of the leading items of a page, of the given
// ItemBytes sizes in order, fit in maxBytes: at least one, if there is one.
func PageFits(sizes func(i int) int, n, maxBytes int) int {
	total := 0
	for i := range n {
		total += sizes(i)
		if i > 0 && total > maxBytes {
			return i
		}
	}
	return n
}

// MaxIDLength is the longest item id, in bytes.
const MaxIDLength = 256

// ValidID reports whether id is a valid item id: 1 to MaxIDLength URL-safe
// bytes (RFC 3986 unreserved characters), so an id never needs escaping in
// a path, other than "." and "..", which URL clients rewrite as path
// segments. It is the spec's ItemID pattern (^[A-Za-z0-9._~-]{1,256}$),
// written as a loop because it runs on every request that names an item
// and on each entry of a bulk create, where the regexp was a tenth of the
// CPU; TestValidIDIsTheSpecPattern holds the two to the same answers.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDLength || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !idByte(id[i]) {
			return false
		}
	}
	return true
}

func idByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-'
}

// CheckID is ValidID as the error every mode's CreateItem answers.
func CheckID(id string) error {
	if !ValidID(id) {
		return errs.Errorf(errs.Invalid, "id: must be 1 to 256 of A-Z a-z 0-9 . _ ~ -")
	}
	return nil
}

// CheckCreate checks a create's id and data, and returns the data to store
// (JSON null for none), the same in every mode: data must also be storable
// by PostgreSQL (record.CheckData), so that no mode keeps what another
// would refuse.
func CheckCreate(id string, data json.RawMessage) (json.RawMessage, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return json.RawMessage("null"), nil
	}
	if err := record.CheckData(data); err != nil {
		return nil, errs.Errorf(errs.Invalid, "data: %s", err)
	}
	return data, nil
}

// Item is an item as clients see it.
type Item struct {
	*record.Record
	// SyncedAt is nil until a sync first answered for the item.
	SyncedAt *time.Time
	// NextSyncAt is when the item's next sync is due; nil when it is
	// terminal or its cache is paused.
	NextSyncAt    *time.Time
	PendingDelete bool
}

// A page of ListItems is the items in id order (bytewise) after the id that
// its cursor names. The cursor is that id, base64url without padding: opaque
// to clients, the same in every mode, so a cursor stays good across a
// restart and between replicas.

// ParsePage checks a ListItems request's limit and cursor and returns the id
// the page starts after ("" for the first page).
func ParsePage(cursor string, limit int) (after string, err error) {
	if limit < 1 || limit > MaxListLimit {
		return "", errs.Errorf(errs.Invalid, "limit: must be between 1 and %d", MaxListLimit)
	}
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !ValidID(string(b)) {
		return "", errs.Errorf(errs.Invalid, "cursor: not a cursor returned by this API")
	}
	return string(b), nil
}

// Cursor is the cursor of the page that follows the item lastID.
func Cursor(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lastID))
}

// NewRecord is the record a create of in makes at version 1, with data as
// CheckCreate returned it, in a cache of config cfg: active, or completed
// when created terminal, with its deadline from ExpiresAt.
func NewRecord(in NewItem, data json.RawMessage, cfg Config, now time.Time) *record.Record {
	rec := &record.Record{ID: in.ID, Data: data, Terminal: in.Terminal, Version: 1,
		CreatedAt: now, UpdatedAt: now, State: record.StateActive}
	if in.Terminal {
		rec.State = record.StateCompleted
	} else {
		rec.ExpiresAt = ExpiresAt(in.TTL, cfg, now)
	}
	return rec
}
