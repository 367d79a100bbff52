package registry

import (
	"context"
	"encoding/json"
	"time"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
)

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
		it, created = m.itemOf(e), c
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
		it = m.itemOf(e)
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
		it = m.itemOf(e)
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
			page[i] = m.itemOf(e)
		}
		if more {
			next = autorefresh.Cursor(entries[len(entries)-1].ID)
		}
		return nil
	})
	return page, next, err
}

// CreateItems creates up to autorefresh.MaxBatchCreate items, each as
// CreateItem would, acknowledged by one durable commit: an entry that is
// invalid or past the capacity fails alone.
func (r *Registry) CreateItems(_ context.Context, name string, in []autorefresh.NewItem) ([]autorefresh.Created, error) {
	if len(in) == 0 || len(in) > autorefresh.MaxBatchCreate {
		return nil, errs.Errorf(errs.Invalid, "items: must be between 1 and %d", autorefresh.MaxBatchCreate)
	}
	out := make([]autorefresh.Created, len(in))
	err := r.with(name, func(m *managed) error {
		now := r.opts.Clock.Now().UTC()
		ids := make([]string, 0, len(in))
		recs := make([]*record.Record, 0, len(in))
		at := make([]int, 0, len(in)) // index in `in` of each id sent
		for i, n := range in {
			data, err := autorefresh.CheckCreate(n.ID, n.Data)
			if err == nil {
				err = autorefresh.CheckTTL(n.TTL)
			}
			if err != nil {
				out[i].Err = err
				continue
			}
			ids = append(ids, n.ID)
			recs = append(recs, autorefresh.NewRecord(n, data, m.cfg, now))
			at = append(at, i)
		}
		for k, res := range m.engine.CreateAll(ids, recs) {
			i := at[k]
			if res.Err != nil {
				out[i].Err = res.Err
				continue
			}
			out[i] = autorefresh.Created{Item: m.itemOf(res.Entry), Created: res.Created}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PatchItem changes an item as a sync reply's update would (record.Patch),
// in one step with its If-Match check; a sync answer for the state it had
// before is dropped.
func (r *Registry) PatchItem(_ context.Context, name, id string, p autorefresh.Patch) (autorefresh.Item, error) {
	if p.Data != nil {
		if !json.Valid(p.Data) {
			return autorefresh.Item{}, errs.Errorf(errs.Invalid, "data: not valid JSON")
		}
		if err := record.CheckData(p.Data); err != nil {
			return autorefresh.Item{}, errs.Errorf(errs.Invalid, "data: %s", err)
		}
	}
	var it autorefresh.Item
	err := r.with(name, func(m *managed) error {
		e, err := m.engine.Modify(id, func(old *record.Record) (*record.Record, error) {
			if p.IfMatch > 0 && old.Version != p.IfMatch {
				return nil, errs.Errorf(errs.PreconditionFailed, "item %q is at version %d, not %d", id, old.Version, p.IfMatch)
			}
			return old.Patch(p.Data, p.Terminal, r.opts.Clock.Now().UTC()), nil
		}, false)
		if err != nil {
			return err
		}
		it = m.itemOf(e)
		return nil
	})
	return it, err
}

// RetryItem makes a failed or expired item active again with its deadline
// ttl from now (0: none), or an active one due now; either is synced at
// once (unless the cache is paused). A completed item is a Conflict.
func (r *Registry) RetryItem(_ context.Context, name, id string, ttl time.Duration) (autorefresh.Item, error) {
	if err := autorefresh.CheckTTL(ttl); err != nil {
		return autorefresh.Item{}, err
	}
	var it autorefresh.Item
	err := r.with(name, func(m *managed) error {
		e, err := m.engine.Modify(id, func(old *record.Record) (*record.Record, error) {
			now := r.opts.Clock.Now().UTC()
			var expiresAt time.Time
			if ttl > 0 {
				expiresAt = now.Add(ttl)
			}
			n, _, ok := old.Retry(expiresAt, now)
			if !ok {
				return nil, errs.Errorf(errs.Conflict, "item %q is completed: a retry does not reopen it", id)
			}
			return n, nil // old itself when it was active: no change, only due now
		}, true)
		if err != nil {
			return err
		}
		it = m.itemOf(e)
		return nil
	})
	return it, err
}
