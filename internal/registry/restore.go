package registry

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/internal/store"
)

// Journal is what the registry needs from durable storage: the engine's
// journal plus cache registrations. *store.Journal implements it.
type Journal interface {
	cache.Journal[*record.Record]
	AppendCache(name string, config json.RawMessage) uint64
	AppendDeleteCache(name string) uint64
	// AppendPaused records a cache's pause flag beside its config.
	AppendPaused(name string, paused bool) uint64
}

// Restore registers the caches loaded from storage, with their items, before
// Start; the caches keep the records of states' items. Nothing is written
// back. Items come back least recently updated first, which approximates
// their LRU order; each cache's size bound holds.
// Non-terminal items are synced at the first resync period, and pending
// deletions are carried out by the first cycle.
func (r *Registry) Restore(states []store.CacheState) error {
	for _, st := range states {
		var cfg autorefresh.Config
		dec := json.NewDecoder(bytes.NewReader(st.Config))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return fmt.Errorf("cache %q: stored config does not decode: %w", st.Name, err)
		}
		cfg = cfg.WithDefaults()
		if err := cfg.Check(); err != nil {
			return fmt.Errorf("cache %q: stored config: %w", st.Name, err)
		}
		entries := entriesByAge(st.Items)
		m := &managed{name: st.Name, paused: st.Paused}
		m.mu.Lock()
		r.mu.Lock()
		if _, dup := r.caches[st.Name]; dup {
			r.mu.Unlock()
			m.mu.Unlock()
			return fmt.Errorf("cache %q restored twice", st.Name)
		}
		r.caches[st.Name] = m
		r.mu.Unlock()
		err := r.install(m, cfg, entries)
		m.mu.Unlock()
		if err != nil {
			return fmt.Errorf("cache %q: %w", st.Name, err)
		}
	}
	return nil
}

// entriesByAge returns the engine's entries for items, least recently
// updated first; ties keep the order of items (the store's, by id). At a
// million items the sort was a sixth of a restart's CPU when it moved the
// entries themselves (88 bytes each); it sorts small keys instead.
func entriesByAge(items []store.Item) []cache.Entry[*record.Record] {
	type key struct {
		sec  int64 // UpdatedAt
		nsec int32
		i    int32 // a cache of 2^31 items would not fit in memory
	}
	keys := make([]key, len(items))
	for i := range items {
		at := items[i].UpdatedAt
		keys[i] = key{at.Unix(), int32(at.Nanosecond()), int32(i)}
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.sec, b.sec), cmp.Compare(a.nsec, b.nsec), cmp.Compare(a.i, b.i))
	})
	entries := make([]cache.Entry[*record.Record], len(items))
	for k, key := range keys {
		it := &items[key.i]
		entries[k] = cache.Entry[*record.Record]{ID: it.ID, Item: &it.Record, PendingDelete: it.PendingDelete}
		if it.SyncedAt != nil {
			entries[k].SyncedAt = *it.SyncedAt
		}
	}
	return entries
}
