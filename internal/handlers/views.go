package handlers

import (
	"encoding/json"
	"time"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/record"
)

// The JSON shapes of api/openapi.yaml. They live here, not in the domain,
// because they are the HTTP contract; the domain types stay free to change.

type webhookView struct {
	URL       string               `json:"url"`
	SecretSet bool                 `json:"secretSet"`
	Timeout   autorefresh.Duration `json:"timeout"`
	Headers   map[string]string    `json:"headers"`
}

type statsView struct {
	Size       int        `json:"size"`
	Syncs      uint64     `json:"syncs"`
	SyncErrors uint64     `json:"syncErrors"`
	Enqueued   int64      `json:"enqueued"`
	InFlight   int64      `json:"inFlight"`
	Hits       uint64     `json:"hits"`
	Misses     uint64     `json:"misses"`
	Evictions  uint64     `json:"evictions"`
	Deletions  uint64     `json:"deletions"`
	LastSyncAt *time.Time `json:"lastSyncAt"`
	LastError  *string    `json:"lastError"`
	// ItemsByState counts the items held in each state, every state
	// named (0 included), so that a client need not know the list.
	ItemsByState map[string]int `json:"itemsByState"`
}

type cacheView struct {
	Name         string                `json:"name"`
	Webhook      webhookView           `json:"webhook"`
	ResyncPeriod autorefresh.Duration  `json:"resyncPeriod"`
	Parallelism  int                   `json:"parallelism"`
	Size         int                   `json:"size"`
	BatchSize    int                   `json:"batchSize"`
	SyncOnCreate bool                  `json:"syncOnCreate"`
	RateLimit    autorefresh.RateLimit `json:"rateLimit"`
	Retry        retryView             `json:"retry"`
	// ItemTTL is "0s" when items have no default deadline, as it is
	// written in a PUT.
	ItemTTL autorefresh.Duration `json:"itemTTL"`
	Paused  bool                 `json:"paused"`
	Stats   statsView            `json:"stats"`
}

// retryView is the retry policy in force, maxBackoff resolved (its default
// is ten resync periods).
type retryView struct {
	MaxAttempts int                  `json:"maxAttempts"`
	MaxBackoff  autorefresh.Duration `json:"maxBackoff"`
}

func viewCache(in autorefresh.Info) cacheView {
	c := in.Config
	headers := c.Webhook.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	st := in.Stats
	sv := statsView{
		Size: st.Size, Syncs: st.Syncs, SyncErrors: st.SyncErrors, Enqueued: st.Enqueued, InFlight: st.InFlight,
		Hits: st.Hits, Misses: st.Misses, Evictions: st.Evictions, Deletions: st.Deletions,
	}
	if !st.LastSyncAt.IsZero() {
		t := st.LastSyncAt.UTC()
		sv.LastSyncAt = &t
	}
	if st.LastError != "" {
		msg := st.LastError
		sv.LastError = &msg
	}
	sv.ItemsByState = make(map[string]int, len(record.States))
	for _, state := range record.States {
		sv.ItemsByState[state.String()] = st.ByState[state]
	}
	p := c.Policy()
	retry := retryView{MaxAttempts: p.MaxAttempts, MaxBackoff: autorefresh.Duration(p.MaxBackoff)}
	if retry.MaxBackoff <= 0 {
		retry.MaxBackoff = 10 * c.ResyncPeriod // record.Policy's default
	}
	return cacheView{
		Name:         in.Name,
		Webhook:      webhookView{URL: c.Webhook.URL, SecretSet: in.SecretSet, Timeout: c.Webhook.Timeout, Headers: headers},
		ResyncPeriod: c.ResyncPeriod,
		Parallelism:  c.Parallelism,
		Size:         c.Size,
		BatchSize:    c.BatchSize,
		SyncOnCreate: *c.SyncOnCreate,
		RateLimit:    *c.RateLimit,
		Retry:        retry,
		ItemTTL:      c.ItemTTL,
		Paused:       in.Paused,
		Stats:        sv,
	}
}

// itemView is an item as GET, lists, creates, PATCH and retry show it.
// The fields after pendingDelete came with per-item control (issue 15);
// they are last so that the older fields keep their place.
type itemView struct {
	ID            string          `json:"id"`
	Data          json.RawMessage `json:"data"`
	Terminal      bool            `json:"terminal"`
	Version       int64           `json:"version"`
	CreatedAt     time.Time       `json:"createdAt"`
	UpdatedAt     time.Time       `json:"updatedAt"`
	SyncedAt      *time.Time      `json:"syncedAt"`
	PendingDelete bool            `json:"pendingDelete"`
	State         record.State    `json:"state"`
	Attempts      int32           `json:"attempts"`
	LastError     *string         `json:"lastError"`
	NextSyncAt    *time.Time      `json:"nextSyncAt"`
	ExpiresAt     *time.Time      `json:"expiresAt"`
}

func viewItem(it autorefresh.Item) itemView {
	data := it.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	v := itemView{
		ID: it.ID, Data: data, Terminal: it.Terminal, Version: it.Version,
		CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt, SyncedAt: it.SyncedAt, PendingDelete: it.PendingDelete,
		State: it.StateOf(), Attempts: it.Attempts, NextSyncAt: it.NextSyncAt,
		LastError: nonEmpty(it.LastError), ExpiresAt: nonZero(it.ExpiresAt),
	}
	return v
}

// nonEmpty is s, or nil (JSON null) for "": the wire says "none" with null.
// The copy is made only when it is needed: &s would move s to the heap on
// every call, an allocation per item written even when the field is null.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	p := new(string)
	*p = s
	return p
}

// nonZero is t, or nil (JSON null) for the zero time, which means "none".
func nonZero(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	p := new(time.Time)
	*p = t
	return p
}

type itemCreate struct {
	ID       string          `json:"id"`
	Data     json.RawMessage `json:"data"`
	Terminal bool            `json:"terminal"`
	// TTL is the item's deadline from now; absent or 0 takes the cache's
	// itemTTL.
	TTL autorefresh.Duration `json:"ttl"`
}

// newItem is the create as the service takes it.
func (in itemCreate) newItem() autorefresh.NewItem {
	return autorefresh.NewItem{ID: in.ID, Data: in.Data, Terminal: in.Terminal, TTL: time.Duration(in.TTL)}
}

type itemList struct {
	Items      []itemView `json:"items"`
	NextCursor *string    `json:"nextCursor"`
}
