package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// MaxBatch is the most items one CreateItems call may carry.
const MaxBatch = 1000

// CreateItem is GetOrCreate: it creates the item at version 1, or, when an
// item with this id exists, returns that item unchanged (created false).
//
// Because a repeat returns what the first try made, the create is safe to
// repeat: it is retried after a connection error like a GET.
func (c *Client) CreateItem(ctx context.Context, cache string, in CreateItem) (item Item, created bool, err error) {
	status, _, err := c.do(ctx, request{method: http.MethodPost, path: path("v1", "caches", cache, "items"), body: in, idempotent: true}, &item)
	return item, status == http.StatusCreated, err
}

// CreateItems creates up to MaxBatch items in one call, each as
// CreateItem would, and returns one result per item in order: the item,
// or the error of that item alone. Like CreateItem it is retried after a
// connection error.
func (c *Client) CreateItems(ctx context.Context, cache string, items []CreateItem) ([]BatchResult, error) {
	if len(items) == 0 || len(items) > MaxBatch {
		return nil, fmt.Errorf("autorefresh: a batch holds 1 to %d items, not %d", MaxBatch, len(items))
	}
	var out struct {
		Items []BatchResult `json:"items"`
	}
	body := struct {
		Items []CreateItem `json:"items"`
	}{items}
	_, _, err := c.do(ctx, request{method: http.MethodPost, path: path("v1", "caches", cache, "items", "batch"), body: body, idempotent: true}, &out)
	return out.Items, err
}

// GetItem returns the item as of its last sync, or an error matching
// ErrNotFound. An item deleted with DeleteItem is returned, with
// PendingDelete, until the next sync cycle removes it.
func (c *Client) GetItem(ctx context.Context, cache, id string) (Item, error) {
	var it Item
	_, _, err := c.do(ctx, request{method: http.MethodGet, path: path("v1", "caches", cache, "items", id), idempotent: true}, &it)
	return it, err
}

// GetItemIfChanged is a conditional GetItem: it sends If-None-Match with
// the version the caller has, and reports changed false (and no item) when
// the item is still at that version. A server without ETags answers in
// full; the versions are then compared here, with the same result.
func (c *Client) GetItemIfChanged(ctx context.Context, cache, id string, version int64) (item Item, changed bool, err error) {
	h := http.Header{"If-None-Match": {etag(version)}}
	status, _, err := c.do(ctx, request{
		method: http.MethodGet, path: path("v1", "caches", cache, "items", id), header: h, idempotent: true,
		accept: []int{http.StatusOK, http.StatusNotModified},
	}, &item)
	if err != nil || status == http.StatusNotModified || item.Version == version {
		return Item{}, false, err
	}
	return item, true, nil
}

// etag is the entity tag of an item version, as the service writes it.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// DeleteItem marks the item for deletion at the next sync cycle and returns
// it with PendingDelete set (DeleteDelayed). Marking twice is accepted.
func (c *Client) DeleteItem(ctx context.Context, cache, id string) (Item, error) {
	var it Item
	_, _, err := c.do(ctx, request{method: http.MethodDelete, path: path("v1", "caches", cache, "items", id), idempotent: true}, &it)
	return it, err
}

// PatchItem changes the item's data or terminal flag. With ifVersion > 0
// it is sent with If-Match, and fails with an error matching
// ErrPreconditionFailed when the item is no longer at that version, so
// that a read-modify-write loses no concurrent change. It is not retried
// after a connection error: whether the first try applied is unknown.
func (c *Client) PatchItem(ctx context.Context, cache, id string, p ItemPatch, ifVersion int64) (Item, error) {
	var h http.Header
	if ifVersion > 0 {
		h = http.Header{"If-Match": {etag(ifVersion)}}
	}
	var it Item
	_, _, err := c.do(ctx, request{method: http.MethodPatch, path: path("v1", "caches", cache, "items", id), body: p, header: h}, &it)
	return it, err
}

// RetryItem gives a failed or expired item another go: it becomes active
// with its attempts reset, and ttl (if not zero) as its new deadline. A
// completed item cannot be retried (an error matching ErrConflict). It is
// not retried after a connection error.
func (c *Client) RetryItem(ctx context.Context, cache, id string, ttl Duration) (Item, error) {
	body := struct {
		TTL Duration `json:"ttl,omitempty"`
	}{ttl}
	var it Item
	_, _, err := c.do(ctx, request{method: http.MethodPost, path: path("v1", "caches", cache, "items", id, "retry"), body: body}, &it)
	return it, err
}

// ListOptions selects the items of ListItems and Items.
type ListOptions struct {
	// Limit is the most items per page (1..1000); zero means the server's
	// default, 100.
	Limit int
	// Cursor is the NextCursor of the previous page; empty for the first.
	Cursor string
	// Terminal, when set, lists only terminal (true) or non-terminal
	// (false) items.
	Terminal *bool
	// State, when set, lists only the items in that state.
	State ItemState
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	if o.Terminal != nil {
		q.Set("terminal", strconv.FormatBool(*o.Terminal))
	}
	if o.State != "" {
		q.Set("state", string(o.State))
	}
	return q
}

// ListItems returns one page of the cache's items in id order. A page may
// hold fewer than Limit items with more to follow: continue while
// NextCursor is not empty, or use Items.
func (c *Client) ListItems(ctx context.Context, cache string, opts ListOptions) (ItemPage, error) {
	var page ItemPage
	_, _, err := c.do(ctx, request{method: http.MethodGet, path: path("v1", "caches", cache, "items"), query: opts.query(), idempotent: true}, &page)
	return page, err
}

// Items walks every page of the cache's items from opts.Cursor on, one
// item at a time. An error ends the walk after it is yielded; breaking out
// of the loop stops fetching pages.
//
//	for it, err := range c.Items(ctx, "jobs", client.ListOptions{}) {
//		if err != nil { return err }
//		...
//	}
func (c *Client) Items(ctx context.Context, cache string, opts ListOptions) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		for {
			page, err := c.ListItems(ctx, cache, opts)
			if err != nil {
				yield(Item{}, err)
				return
			}
			for _, it := range page.Items {
				if !yield(it, nil) {
					return
				}
			}
			if page.NextCursor == "" {
				return
			}
			if page.NextCursor == opts.Cursor {
				yield(Item{}, errors.New("autorefresh: the server repeated a cursor"))
				return
			}
			opts.Cursor = page.NextCursor
		}
	}
}
