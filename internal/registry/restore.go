package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

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
// Start; the caches keep the records of states' items. Nothing is written back. Items come back least recently updated
// first, which approximates their LRU order; each cache's size bound holds.
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
		entries := make([]cache.Entry[*record.Record], len(st.Items))
		for i := range st.Items {
			it := &st.Items[i]
			en := cache.Entry[*record.Record]{ID: it.ID, Item: &it.Record, PendingDelete: it.PendingDelete}
			if it.SyncedAt != nil {
				en.SyncedAt = *it.SyncedAt
			}
			entries[i] = en
		}
		// The entries, not the larger items, are sorted. Ties keep the
		// order of the ids, as the store gives them, so the unstable
		// sort gives what a stable one would, at a fraction of its cost.
		slices.SortFunc(entries, func(a, b cache.Entry[*record.Record]) int {
			if c := a.Item.UpdatedAt.Compare(b.Item.UpdatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
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
