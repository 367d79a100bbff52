package cache

import (
	"context"
	"errors"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// ItemID identifies an item within one cache.
type ItemID = string

// Item is a value held by the cache. Terminal items have reached their final
// state and are never synced again.
type Item interface {
	IsTerminal() bool
}

// ItemWrapper is how the cache hands an item to a SyncFunc or a
// CreateBatchesFunc. It is a snapshot taken when the batch was cut: the item it
// returns does not change while the batch is in flight.
type ItemWrapper interface {
	GetID() ItemID
	GetItem() Item
}

// Batch is a group of items synced by one SyncFunc call.
type Batch = []ItemWrapper

// SyncAction says what the cache does with the item returned for an ID.
type SyncAction int

const (
	// Unchanged leaves the cached item as it is (only its sync time moves).
	Unchanged SyncAction = iota
	// Update replaces the cached item with ItemSyncResponse.Item.
	Update
)

// String returns the lower-case action name used in metric labels.
func (a SyncAction) String() string {
	switch a {
	case Unchanged:
		return "unchanged"
	case Update:
		return "update"
	default:
		return "unknown"
	}
}

// ItemSyncResponse is what a SyncFunc answers for one item of its batch. Items
// of the batch that have no response are treated as Unchanged.
type ItemSyncResponse struct {
	ID     ItemID
	Item   Item
	Action SyncAction
}

// SyncFunc refreshes a batch. It must not retain the batch after returning.
// Returning an error (or panicking) leaves every item of the batch as it was;
// the items are tried again at the next resync period.
//
// An error that implements SyncErrorReasoner is counted under that reason.
type SyncFunc func(ctx context.Context, batch Batch) ([]ItemSyncResponse, error)

// CreateBatchesFunc cuts a snapshot of items due for refresh into batches.
// Items it leaves out are not synced this cycle; items it repeats are synced
// once (the cache drops the repeats).
type CreateBatchesFunc func(ctx context.Context, snapshot []ItemWrapper) ([]Batch, error)

// SyncErrorReasoner is implemented by SyncFunc errors that know why they
// happened ("timeout", "status_5xx", ...). The reason becomes a metric label,
// so it must come from a small fixed set; the cache caps the number of
// distinct reasons it records per cache and folds the rest into "other".
type SyncErrorReasoner interface {
	SyncErrorReason() string
}

// ErrNotFound is the code of the error returned for an unknown item ID.
const ErrNotFound = errs.NotFound

// IsNotFound reports whether err says that an item does not exist.
func IsNotFound(err error) bool {
	return errs.CodeOf(err) == errs.NotFound
}

// ErrAlreadyStarted is returned by a second call to Start.
var ErrAlreadyStarted = errors.New("cache: already started")

// SingleItemBatches puts every item of the snapshot into a batch of its own.
func SingleItemBatches(_ context.Context, snapshot []ItemWrapper) ([]Batch, error) {
	batches := make([]Batch, 0, len(snapshot))
	for _, w := range snapshot {
		batches = append(batches, Batch{w})
	}
	return batches, nil
}

// FixedSizeBatches returns a CreateBatchesFunc that cuts the snapshot into
// batches of at most size items, in snapshot order.
func FixedSizeBatches(size int) CreateBatchesFunc {
	if size < 1 {
		size = 1
	}
	return func(_ context.Context, snapshot []ItemWrapper) ([]Batch, error) {
		batches := make([]Batch, 0, (len(snapshot)+size-1)/size)
		for start := 0; start < len(snapshot); start += size {
			end := min(start+size, len(snapshot))
			batches = append(batches, snapshot[start:end:end])
		}
		return batches, nil
	}
}

// AutoRefresh is the library API: a cache whose items are refreshed in the
// background until they become terminal.
type AutoRefresh interface {
	// Start begins the background refresh. Cancelling ctx stops it and every
	// goroutine it started. A second call returns ErrAlreadyStarted.
	Start(ctx context.Context) error
	// Get returns the item, or an error for which IsNotFound is true.
	Get(id ItemID) (Item, error)
	// GetOrCreate atomically returns the existing item or inserts item.
	GetOrCreate(id ItemID, item Item) (Item, error)
	// DeleteDelayed marks the item for deletion by the next sync cycle. Until
	// then Get and GetOrCreate return the item as it was.
	DeleteDelayed(id ItemID) error
}
