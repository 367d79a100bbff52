package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"time"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
)

// MaxListLimit bounds one page of ListItems.
const MaxListLimit = 1000

// idRE is the rule for item ids: 1 to 256 URL-safe bytes (RFC 3986
// unreserved characters), so an id never needs escaping in a path.
var idRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,256}$`)

// ValidID reports whether id is a valid item id.
func ValidID(id string) bool { return idRE.MatchString(id) && id != "." && id != ".." }

// Item is an item as clients see it.
type Item struct {
	*record.Record
	// SyncedAt is nil until a sync first answered for the item.
	SyncedAt      *time.Time
	PendingDelete bool
}

func itemOf(e cache.Entry) Item {
	it := Item{Record: e.Item.(*record.Record), PendingDelete: e.PendingDelete}
	if !e.SyncedAt.IsZero() {
		t := e.SyncedAt
		it.SyncedAt = &t
	}
	return it
}

// CreateItem is GetOrCreate: it inserts a new item at version 1, or returns
// the existing one unchanged. created says which.
func (r *Registry) CreateItem(_ context.Context, name, id string, data json.RawMessage, terminal bool) (it Item, created bool, err error) {
	if !ValidID(id) {
		return Item{}, false, errs.Errorf(errs.Invalid, "id: must be 1 to 256 of A-Z a-z 0-9 . _ ~ -")
	}
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	err = r.with(name, func(m *managed) error {
		now := r.opts.Clock.Now().UTC()
		rec := &record.Record{ID: id, Data: data, Terminal: terminal, Version: 1, CreatedAt: now, UpdatedAt: now}
		e, c, err := m.engine.Create(id, rec)
		if err != nil {
			return err
		}
		it, created = itemOf(e), c
		return nil
	})
	return it, created, err
}

// GetItem returns an item.
func (r *Registry) GetItem(_ context.Context, name, id string) (Item, error) {
	var it Item
	err := r.with(name, func(m *managed) error {
		e, err := m.engine.Lookup(id)
		if err != nil {
			return err
		}
		it = itemOf(e)
		return nil
	})
	return it, err
}

// DeleteItem marks an item for deletion by the next sync cycle and returns
// it as it now is (PendingDelete set).
func (r *Registry) DeleteItem(_ context.Context, name, id string) (Item, error) {
	var it Item
	err := r.with(name, func(m *managed) error {
		e, err := m.engine.MarkDelete(id)
		if err != nil {
			return err
		}
		it = itemOf(e)
		return nil
	})
	return it, err
}

// ListItems returns a page of items in id order after the opaque cursor,
// optionally only terminal (or only non-terminal) ones, and the cursor of
// the next page ("" at the end).
func (r *Registry) ListItems(_ context.Context, name, cursor string, limit int, terminal *bool) (page []Item, next string, err error) {
	if limit < 1 || limit > MaxListLimit {
		return nil, "", errs.Errorf(errs.Invalid, "limit: must be between 1 and %d", MaxListLimit)
	}
	after := ""
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || !ValidID(string(b)) {
			return nil, "", errs.Errorf(errs.Invalid, "cursor: not a cursor returned by this API")
		}
		after = string(b)
	}
	var keep func(cache.Entry) bool
	if terminal != nil {
		want := *terminal
		keep = func(e cache.Entry) bool { return e.Item.IsTerminal() == want }
	}
	err = r.with(name, func(m *managed) error {
		entries, more, err := m.engine.List(after, limit, keep)
		if err != nil {
			return err
		}
		page = make([]Item, len(entries))
		for i, e := range entries {
			page[i] = itemOf(e)
		}
		if more {
			next = base64.RawURLEncoding.EncodeToString([]byte(entries[len(entries)-1].ID))
		}
		return nil
	})
	return page, next, err
}
