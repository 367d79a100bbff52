package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrNotStarted is returned by AutoRefresh's methods before Start.
var ErrNotStarted = errors.New("autorefresh: AutoRefresh used before Start")

// AutoRefresh puts the interface of Flyte's AutoRefresh cache
// (flytestdlib/cache: Start, Get, GetOrCreate, DeleteDelayed) over one
// remote cache, plus Update, which Flyte's cache lacks. Items are Item
// values: raw JSON data and a terminal flag, with Item.IsTerminal.
//
// The refresh itself is the service's: it calls the cache's webhook
// (register one with PutCache, or pass a config to NewAutoRefresh), so
// there is no sync function here. Every method is one API call bound by
// the context given to Start.
type AutoRefresh struct {
	c     *Client
	cache string
	cfg   *CacheConfig

	mu  sync.Mutex
	ctx context.Context
}

// NewAutoRefresh returns an AutoRefresh over the remote cache named cache.
// With a non-nil cfg, Start registers the cache with it (PutCache);
// otherwise Start checks that the cache exists.
func NewAutoRefresh(c *Client, cache string, cfg *CacheConfig) *AutoRefresh {
	return &AutoRefresh{c: c, cache: cache, cfg: cfg}
}

// Start registers or checks the remote cache and keeps ctx for the calls
// that follow: cancelling it makes them fail. It does not start anything
// locally; the service refreshes the items.
func (a *AutoRefresh) Start(ctx context.Context) error {
	var err error
	if a.cfg != nil {
		_, _, err = a.c.PutCache(ctx, a.cache, *a.cfg)
	} else {
		_, err = a.c.GetCache(ctx, a.cache)
	}
	if err != nil {
		return fmt.Errorf("autorefresh: starting cache %q: %w", a.cache, err)
	}
	a.mu.Lock()
	a.ctx = ctx
	a.mu.Unlock()
	return nil
}

func (a *AutoRefresh) context() (context.Context, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ctx == nil {
		return nil, ErrNotStarted
	}
	return a.ctx, nil
}

// Get returns the item as of its last refresh, or an error matching
// ErrNotFound (IsNotFound) when the cache has no such item.
func (a *AutoRefresh) Get(id string) (Item, error) {
	ctx, err := a.context()
	if err != nil {
		return Item{}, err
	}
	return a.c.GetItem(ctx, a.cache, id)
}

// GetOrCreate returns the item with this id if the cache has one, and
// otherwise creates it from item's Data and Terminal.
func (a *AutoRefresh) GetOrCreate(id string, item Item) (Item, error) {
	ctx, err := a.context()
	if err != nil {
		return Item{}, err
	}
	it, _, err := a.c.CreateItem(ctx, a.cache, CreateItem{ID: id, Data: item.Data, Terminal: item.Terminal})
	return it, err
}

// DeleteDelayed marks the item for deletion at the next sync cycle; until
// then Get and GetOrCreate still return it (with PendingDelete set).
func (a *AutoRefresh) DeleteDelayed(id string) error {
	ctx, err := a.context()
	if err != nil {
		return err
	}
	_, err = a.c.DeleteItem(ctx, a.cache, id)
	return err
}

// Update replaces the item's data and terminal flag. When item.Version is
// set (as on an item read with Get) the update applies only if the item is
// still at that version, and otherwise fails with an error matching
// ErrPreconditionFailed: read it again and retry.
func (a *AutoRefresh) Update(id string, item Item) (Item, error) {
	ctx, err := a.context()
	if err != nil {
		return Item{}, err
	}
	data := item.Data
	if data == nil {
		data = []byte("null")
	}
	terminal := item.Terminal
	return a.c.PatchItem(ctx, a.cache, id, ItemPatch{Data: data, Terminal: &terminal}, item.Version)
}
