package client

import (
	"context"
	"net/http"
)

// PutCache registers the cache name with cfg, or replaces the configuration
// of an existing one (its items are kept). created says which. PUT is
// idempotent, so it is retried like a GET.
func (c *Client) PutCache(ctx context.Context, name string, cfg CacheConfig) (cache Cache, created bool, err error) {
	status, _, err := c.do(ctx, request{method: http.MethodPut, path: path("v1", "caches", name), body: cfg, idempotent: true}, &cache)
	return cache, status == http.StatusCreated, err
}

// GetCache returns the cache's configuration (defaults filled in, secrets
// hidden) and statistics, or an error matching ErrNotFound.
func (c *Client) GetCache(ctx context.Context, name string) (Cache, error) {
	var cache Cache
	_, _, err := c.do(ctx, request{method: http.MethodGet, path: path("v1", "caches", name), idempotent: true}, &cache)
	return cache, err
}

// ListCaches returns every cache, ordered by name.
func (c *Client) ListCaches(ctx context.Context) ([]Cache, error) {
	var out struct {
		Caches []Cache `json:"caches"`
	}
	_, _, err := c.do(ctx, request{method: http.MethodGet, path: path("v1", "caches"), idempotent: true}, &out)
	return out.Caches, err
}

// DeleteCache stops the cache's refresh and drops its items. A retried
// delete whose first try took effect ends with an error matching
// ErrNotFound.
func (c *Client) DeleteCache(ctx context.Context, name string) error {
	_, _, err := c.do(ctx, request{method: http.MethodDelete, path: path("v1", "caches", name), idempotent: true}, nil)
	return err
}

// SyncCache runs a sync cycle now: the items marked for deletion are
// removed and every other non-terminal item is queued for a refresh. It
// returns once the refresh is queued. Queuing twice queues once, so it is
// retried after a connection error.
func (c *Client) SyncCache(ctx context.Context, name string) error {
	_, _, err := c.do(ctx, request{method: http.MethodPost, path: path("v1", "caches", name, "sync"), idempotent: true}, nil)
	return err
}

// PauseCache stops the cache's refresh (items stay readable and writable)
// until ResumeCache, and returns the cache with Paused set.
func (c *Client) PauseCache(ctx context.Context, name string) (Cache, error) {
	return c.setPaused(ctx, name, "pause")
}

// ResumeCache restarts the refresh of a paused cache.
func (c *Client) ResumeCache(ctx context.Context, name string) (Cache, error) {
	return c.setPaused(ctx, name, "resume")
}

// setPaused sets a state, so a repeat is harmless: it is idempotent.
func (c *Client) setPaused(ctx context.Context, name, verb string) (Cache, error) {
	var cache Cache
	_, _, err := c.do(ctx, request{method: http.MethodPost, path: path("v1", "caches", name, verb), idempotent: true}, &cache)
	return cache, err
}
