package registry

import (
	"context"
	"time"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
)

// itemOf is an engine entry as clients see it.
func itemOf(e cache.Entry[*record.Record]) autorefresh.Item {
	it := autorefresh.Item{Record: e.Item, PendingDelete: e.PendingDelete}
	if !e.SyncedAt.IsZero() {
		t := e.SyncedAt
		it.SyncedAt = &t
	}
	return it
}

// CreateItem is GetOrCreate: it inserts a new item at version 1, or returns
// the existing one unchanged. created says which.
func (r *Registry) CreateItem(_ context.Context, name string, in autorefresh.NewItem) (it autorefresh.Item, created bool, err error) {
	id := in.ID
	data, err := autorefresh.CheckCreate(id, in.Data)
	if err != nil {
		return autorefresh.Item{}, false, err
	}
	if err := autorefresh.CheckTTL(in.TTL); err != nil {
		return autorefresh.Item{}, false, err
	}
	err = r.with(name, func(m *managed) error {
		now := r.opts.Clock.Now().UTC()
		rec := autorefresh.NewRecord(in, data, m.cfg, now)
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
func (r *Registry) GetItem(_ context.Context, name, id string) (autorefresh.Item, error) {
	var it autorefresh.Item
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
func (r *Registry) DeleteItem(_ context.Context, name, id string) (autorefresh.Item, error) {
	var it autorefresh.Item
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
// optionally only terminal (or only non-terminal) ones, of at most limit
// items and autorefresh.MaxPageBytes, and the cursor of the next page (""
// at the end).
func (r *Registry) ListItems(_ context.Context, name, cursor string, limit int, f autorefresh.Filter) (page []autorefresh.Item, next string, err error) {
	after, err := autorefresh.ParsePage(cursor, limit)
	if err != nil {
		return nil, "", err
	}
	var keep func(cache.Entry[*record.Record]) bool
	if f != (autorefresh.Filter{}) {
		keep = func(e cache.Entry[*record.Record]) bool { return f.Match(e.Item) }
	}
	err = r.with(name, func(m *managed) error {
		entries, more, err := m.engine.List(after, limit, keep)
		if err != nil {
			return err
		}
		// The entries share the cache's records, so the cut by bytes costs
		// no copy of the data that it leaves out.
		if n := autorefresh.PageFits(func(i int) int {
			return autorefresh.ItemBytes(entries[i].ID, len(entries[i].Item.Data))
		}, len(entries), autorefresh.MaxPageBytes); n < len(entries) {
			entries, more = entries[:n], true
		}
		page = make([]autorefresh.Item, len(entries))
		for i, e := range entries {
			page[i] = itemOf(e)
		}
		if more {
			next = autorefresh.Cursor(entries[len(entries)-1].ID)
		}
		return nil
	})
	return page, next, err
}

// errPending is what the per-item controls answer until the embedded mode
// implements them.
var errPending = errs.Errorf(errs.Unavailable, "not available in this build yet")

// CreateItems implements autorefresh.Service.
func (r *Registry) CreateItems(context.Context, string, []autorefresh.NewItem) ([]autorefresh.Created, error) {
	return nil, errPending
}

// PatchItem implements autorefresh.Service.
func (r *Registry) PatchItem(context.Context, string, string, autorefresh.Patch) (autorefresh.Item, error) {
	return autorefresh.Item{}, errPending
}

// RetryItem implements autorefresh.Service.
func (r *Registry) RetryItem(context.Context, string, string, time.Duration) (autorefresh.Item, error) {
	return autorefresh.Item{}, errPending
}

// SetPaused implements autorefresh.Service.
func (r *Registry) SetPaused(context.Context, string, bool) (autorefresh.Info, error) {
	return autorefresh.Info{}, errPending
}
