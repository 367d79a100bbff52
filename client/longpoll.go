package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// LongPollOptions tunes LongPoll.
type LongPollOptions struct {
	// Version is the version the caller has: the call answers once the
	// item's version is greater. Zero means the item's current version
	// (wait for the next change).
	Version int64
	// Timeout is how long the server holds the call; zero means its
	// default (30s). The server caps it (50s by default).
	Timeout time.Duration
}

// LongPoll waits for the item to change (GET .../items/{id} with
// waitForChange). It returns the item once its version passes
// opts.Version, or, when opts.Timeout ends first, the current item
// unchanged: compare versions and call again. It fails with an error
// matching ErrNotFound when the item is gone (removed after DeleteItem, or
// evicted).
func (c *Client) LongPoll(ctx context.Context, cache, id string, opts LongPollOptions) (Item, error) {
	q := url.Values{"waitForChange": {"true"}}
	if opts.Version > 0 {
		q.Set("version", strconv.FormatInt(opts.Version, 10))
	}
	if opts.Timeout > 0 {
		q.Set("timeout", opts.Timeout.String())
	}
	var it Item
	_, _, err := c.do(ctx, request{method: http.MethodGet, path: path("v1", "caches", cache, "items", id), query: q, idempotent: true}, &it)
	return it, err
}

// WaitTerminal long-polls the item until it is terminal, and returns it
// then, or the first error (ctx's end included).
func (c *Client) WaitTerminal(ctx context.Context, cache, id string) (Item, error) {
	it, err := c.GetItem(ctx, cache, id)
	for err == nil && !it.Terminal {
		it, err = c.LongPoll(ctx, cache, id, LongPollOptions{Version: it.Version})
	}
	return it, err
}
