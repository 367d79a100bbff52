package cache

import (
	"context"
	"errors"
	"time"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// ItemID identifies an item within one cache.
type ItemID = string

// Item is a value held by the cache. Terminal items have reached their final
// state and are never synced again.
type Item interface {
	IsTerminal() bool
}

// The engine is generic over its item type T, so that a caller that stores
// one concrete type gets it back from every callback, event and entry
// without a type assertion. The names ending in Of are the generic forms;
// the Flyte names (ItemWrapper, Batch, SyncFunc, ...) are those forms at
// Item, so that code written against Flyte's API compiles unchanged.

// ItemWrapperOf is how the cache hands an item to a SyncFunc or a
// CreateBatchesFunc. It is a snapshot taken when the batch was cut: the item it
// returns does not change while the batch is in flight.
type ItemWrapperOf[T Item] interface {
	GetID() ItemID
	GetItem() T
}

// ItemWrapper is Flyte's ItemWrapper.
type ItemWrapper = ItemWrapperOf[Item]

// BatchOf is a group of items synced by one SyncFunc call.
type BatchOf[T Item] = []ItemWrapperOf[T]

// Batch is Flyte's Batch.
type Batch = BatchOf[Item]

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

// ItemSyncResponseOf is what a SyncFunc answers for one item of its batch.
// Items of the batch that have no response are treated as Unchanged.
type ItemSyncResponseOf[T Item] struct {
	ID     ItemID
	Item   T
	Action SyncAction
	// NextSyncAfter, when above zero, is how long from now the item's next
	// sync is due, instead of the next resync tick: the upstream knows
	// when its state can next change. The item is skipped by the ticks
	// before then and synced at the first chance after, between ticks if
	// need be (it is the SyncFunc's to bound it). Zero keeps it on the
	// regular cadence.
	NextSyncAfter time.Duration
	// Err, when set, says that the SyncFunc could not get this item's
	// state: it counts as one sync error under the reason "item_error"
	// (not logged one by one), and the item is otherwise handled as
	// Action says.
	Err error
}

// ItemSyncResponse is Flyte's ItemSyncResponse.
type ItemSyncResponse = ItemSyncResponseOf[Item]

// SyncFuncOf refreshes a batch. It must not retain the batch after returning.
// Returning an error (or panicking) counts the batch as failed; the answers
// returned with the error, if any, are applied as they would be without it
// (a SyncFunc may say what a failure made of each item, a failed attempt
// with its backoff as NextSyncAfter), and the items it says nothing of stay
// as they were, tried again at the next resync period. Flyte's SyncFuncs
// return nil answers with an error, so for them nothing changes.
//
// An answer for an item that was changed (Modify, an expiry) after its
// batch was cut is dropped: the later change wins.
//
// An error that implements SyncErrorReasoner is counted under that reason.
type SyncFuncOf[T Item] func(ctx context.Context, batch BatchOf[T]) ([]ItemSyncResponseOf[T], error)

// SyncFunc is Flyte's SyncFunc.
type SyncFunc = SyncFuncOf[Item]

// CreateBatchesFuncOf cuts a snapshot of items due for refresh into batches.
// Items it leaves out are not synced this cycle; items it repeats are synced
// once (the cache drops the repeats).
type CreateBatchesFuncOf[T Item] func(ctx context.Context, snapshot []ItemWrapperOf[T]) ([]BatchOf[T], error)

// CreateBatchesFunc is Flyte's CreateBatchesFunc.
type CreateBatchesFunc = CreateBatchesFuncOf[Item]

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
// It is a plain function, not a generic one, so that Flyte callers can keep
// it in a variable.
func SingleItemBatches(ctx context.Context, snapshot []ItemWrapper) ([]Batch, error) {
	return SingleItemBatchesOf(ctx, snapshot)
}

// SingleItemBatchesOf is SingleItemBatches for any item type.
func SingleItemBatchesOf[T Item](_ context.Context, snapshot []ItemWrapperOf[T]) ([]BatchOf[T], error) {
	batches := make([]BatchOf[T], 0, len(snapshot))
	for _, w := range snapshot {
		batches = append(batches, BatchOf[T]{w})
	}
	return batches, nil
}

// FixedSizeBatches returns a CreateBatchesFunc that cuts the snapshot into
// batches of at most size items, in snapshot order.
func FixedSizeBatches(size int) CreateBatchesFunc { return FixedSizeBatchesOf[Item](size) }

// FixedSizeBatchesOf is FixedSizeBatches for any item type.
func FixedSizeBatchesOf[T Item](size int) CreateBatchesFuncOf[T] {
	if size < 1 {
		size = 1
	}
	return func(_ context.Context, snapshot []ItemWrapperOf[T]) ([]BatchOf[T], error) {
		batches := make([]BatchOf[T], 0, (len(snapshot)+size-1)/size)
		for start := 0; start < len(snapshot); start += size {
			end := min(start+size, len(snapshot))
			batches = append(batches, snapshot[start:end:end])
		}
		return batches, nil
	}
}

// AutoRefresh is the library API: a cache whose items are refreshed in the
// background until they become terminal. *AutoRefreshCache[Item] implements
// it.
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

// AutoRefreshWithUpdate is Flyte 2's AutoRefreshWithUpdate: an AutoRefresh
// whose items the caller may also replace. *AutoRefreshCache[Item]
// implements it. Update reports false for an id the cache does not hold;
// err says the change could not be made durable (with a Journal).
type AutoRefreshWithUpdate interface {
	AutoRefresh
	Update(id ItemID, item Item) (ok bool, err error)
}
