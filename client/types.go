package client

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("30s") in
// JSON, as the API writes every duration.
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"30s\", not %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"30s\"", s)
	}
	*d = Duration(v)
	return nil
}

// String returns the duration as Go writes it.
func (d Duration) String() string { return time.Duration(d).String() }

// WebhookConfig is where and how the service calls a cache's upstream
// (schema WebhookConfig).
type WebhookConfig struct {
	// URL is the absolute http or https URL that receives the batches.
	URL string `json:"url"`
	// Secret is the Standard Webhooks signing secret, "whsec_<base64>";
	// empty sends unsigned calls. See the webhook package.
	Secret string `json:"secret,omitempty"`
	// Timeout bounds one call; zero means the default, 10s.
	Timeout Duration `json:"timeout,omitempty"`
	// Headers are sent with every call.
	Headers map[string]string `json:"headers,omitempty"`
}

// RateLimit paces a cache's webhook calls (schema RateLimitConfig).
type RateLimit struct {
	QPS       float64  `json:"qps,omitempty"`
	Burst     int      `json:"burst,omitempty"`
	BaseDelay Duration `json:"baseDelay,omitempty"`
	MaxDelay  Duration `json:"maxDelay,omitempty"`
}

// RetryConfig is a cache's per-item failure handling: after n failed syncs
// in a row an item waits min(MaxBackoff, resyncPeriod × 2^(n-1)), and the
// MaxAttempts-th failure in a row (0: never) gives it up (state failed).
type RetryConfig struct {
	MaxAttempts int      `json:"maxAttempts"`
	MaxBackoff  Duration `json:"maxBackoff,omitempty"`
}

// CacheConfig is the body of PutCache (schema CacheConfig). Only
// Webhook.URL and ResyncPeriod are required; zero fields take the
// service's defaults. A PUT replaces the whole configuration.
type CacheConfig struct {
	Webhook      WebhookConfig `json:"webhook"`
	ResyncPeriod Duration      `json:"resyncPeriod"`
	Parallelism  int           `json:"parallelism,omitempty"`
	Size         int           `json:"size,omitempty"`
	BatchSize    int           `json:"batchSize,omitempty"`
	// SyncOnCreate defaults to true; set it to a false value to wait for
	// the next cycle.
	SyncOnCreate *bool        `json:"syncOnCreate,omitempty"`
	RateLimit    *RateLimit   `json:"rateLimit,omitempty"`
	Retry        *RetryConfig `json:"retry,omitempty"`
	// ItemTTL is the deadline of items created without a TTL of their own;
	// zero means none.
	ItemTTL Duration `json:"itemTTL,omitempty"`
}

// WebhookView is a cache's webhook as read back: the secret is left out
// and header values are "***".
type WebhookView struct {
	URL       string            `json:"url"`
	SecretSet bool              `json:"secretSet"`
	Timeout   Duration          `json:"timeout"`
	Headers   map[string]string `json:"headers"`
}

// CacheStats are a cache's counters since it was registered.
type CacheStats struct {
	Size       int64      `json:"size"`
	Syncs      int64      `json:"syncs"`
	SyncErrors int64      `json:"syncErrors"`
	Enqueued   int64      `json:"enqueued"`
	InFlight   int64      `json:"inFlight"`
	Hits       int64      `json:"hits"`
	Misses     int64      `json:"misses"`
	Evictions  int64      `json:"evictions"`
	Deletions  int64      `json:"deletions"`
	LastSyncAt *time.Time `json:"lastSyncAt"`
	LastError  *string    `json:"lastError"`
	// ItemsByState counts the cache's items in each state (active,
	// completed, failed, expired); every state is present.
	ItemsByState map[ItemState]int64 `json:"itemsByState"`
}

// Cache is a cache as the service holds it (schema Cache): its
// configuration with defaults filled in, and its statistics.
type Cache struct {
	Name         string       `json:"name"`
	Webhook      WebhookView  `json:"webhook"`
	ResyncPeriod Duration     `json:"resyncPeriod"`
	Parallelism  int          `json:"parallelism"`
	Size         int          `json:"size"`
	BatchSize    int          `json:"batchSize"`
	SyncOnCreate bool         `json:"syncOnCreate"`
	RateLimit    RateLimit    `json:"rateLimit"`
	Retry        *RetryConfig `json:"retry,omitempty"`
	ItemTTL      Duration     `json:"itemTTL,omitempty"`
	// Paused says whether the cache's refresh is paused (PauseCache).
	Paused bool       `json:"paused"`
	Stats  CacheStats `json:"stats"`
}

// ItemState says where an item is in its life.
type ItemState string

// The states of an item. Every state but StateActive is terminal.
const (
	// StateActive items are synced until they become terminal.
	StateActive ItemState = "active"
	// StateCompleted items were made terminal by their upstream, a patch
	// or their create.
	StateCompleted ItemState = "completed"
	// StateFailed items were given up after the cache's
	// retry.maxAttempts failed syncs in a row; RetryItem revives them.
	StateFailed ItemState = "failed"
	// StateExpired items passed their deadline (ExpiresAt) unfinished.
	StateExpired ItemState = "expired"
)

// Item is an item and its bookkeeping (schema Item). Data is the item's
// JSON as stored, "null" when it has none; decode it with json.Unmarshal.
type Item struct {
	ID       string          `json:"id"`
	Data     json.RawMessage `json:"data"`
	Terminal bool            `json:"terminal"`
	// Version is 1 when created, plus one per applied change.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// SyncedAt is when a webhook call last succeeded for the item; nil
	// until the first (and in watch events, which do not carry it).
	SyncedAt *time.Time `json:"syncedAt,omitempty"`
	// PendingDelete is true after DeleteItem until the next sync cycle.
	PendingDelete bool `json:"pendingDelete"`
	// State is empty on a server that predates item states.
	State ItemState `json:"state,omitempty"`
	// Attempts counts the failed syncs in a row.
	Attempts int `json:"attempts,omitempty"`
	// LastError is why the last sync of the item failed, or nil.
	LastError *string `json:"lastError,omitempty"`
	// NextSyncAt is when the item is next due, or nil (terminal items).
	NextSyncAt *time.Time `json:"nextSyncAt,omitempty"`
	// ExpiresAt is the item's deadline, or nil for none.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// IsTerminal reports whether the item is final and no longer synced; with
// ID it makes Item fit the item interface of Flyte's AutoRefresh cache.
func (it Item) IsTerminal() bool { return it.Terminal }

// CreateItem is the body of a create (schema ItemCreate). Data is any JSON
// value; nil sends null.
type CreateItem struct {
	ID       string          `json:"id"`
	Data     json.RawMessage `json:"data,omitempty"`
	Terminal bool            `json:"terminal,omitempty"`
	// TTL, when set, is the item's own deadline instead of the cache's
	// itemTTL.
	TTL Duration `json:"ttl,omitempty"`
}

// ItemPatch is the body of PatchItem: the fields to change. A nil field is
// kept.
type ItemPatch struct {
	Data     json.RawMessage `json:"data,omitempty"`
	Terminal *bool           `json:"terminal,omitempty"`
}

// ItemPage is one page of ListItems (schema ItemList).
type ItemPage struct {
	Items []Item `json:"items"`
	// NextCursor continues the walk; empty on the last page.
	NextCursor string `json:"nextCursor,omitempty"`
}

// BatchResult is the outcome of one item of CreateItems: either Item (with
// Created telling a new item from an existing one) or Error.
type BatchResult struct {
	ID      string    `json:"id"`
	Created bool      `json:"created"`
	Item    *Item     `json:"item,omitempty"`
	Error   *APIError `json:"-"`
}

// UnmarshalJSON reads {"id","created","item"} or {"id","error":{"code","message"}}.
func (r *BatchResult) UnmarshalJSON(b []byte) error {
	var w struct {
		ID      string `json:"id"`
		Created bool   `json:"created"`
		Item    *Item  `json:"item"`
		Error   *struct {
			Code    Code   `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = BatchResult{ID: w.ID, Created: w.Created, Item: w.Item}
	if w.Error != nil {
		r.Error = &APIError{Status: statusForCode(w.Error.Code), Code: w.Error.Code, Message: w.Error.Message}
	}
	return nil
}
