package replicated

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
)

// deltas are one replica's counters of one cache since its last flush to
// cache_stats.
type deltas struct {
	syncs, syncErrors, enqueued, hits, misses, evictions, deletions atomic.Int64
	lastSync                                                        atomic.Int64 // unix nanos; 0 if none since the flush
	lastErr                                                         atomic.Pointer[lastError]
}

type lastError struct {
	msg string
	at  time.Time
}

func (d *deltas) setSynced() { d.lastSync.Store(time.Now().UnixNano()) }

func (d *deltas) setError(msg string) { d.lastErr.Store(&lastError{msg: msg, at: time.Now()}) }

// local returns this replica's counters of a cache.
func (s *Service) local(name string) *deltas {
	if d, ok := s.stats.Load(name); ok {
		return d.(*deltas)
	}
	d, _ := s.stats.LoadOrStore(name, new(deltas))
	return d.(*deltas)
}

// addLocal adds this replica's unflushed counters to st.
func (s *Service) addLocal(name string, st *autorefresh.Stats) {
	v, ok := s.stats.Load(name)
	if !ok {
		return
	}
	d := v.(*deltas)
	st.Syncs += uint64(max(d.syncs.Load(), 0))
	st.SyncErrors += uint64(max(d.syncErrors.Load(), 0))
	st.EnqueuedTotal += uint64(max(d.enqueued.Load(), 0))
	st.Hits += uint64(max(d.hits.Load(), 0))
	st.Misses += uint64(max(d.misses.Load(), 0))
	st.Evictions += uint64(max(d.evictions.Load(), 0))
	st.Deletions += uint64(max(d.deletions.Load(), 0))
	if ns := d.lastSync.Load(); ns != 0 {
		if t := time.Unix(0, ns).UTC(); t.After(st.LastSyncAt) {
			st.LastSyncAt = t
		}
	}
	if e := d.lastErr.Load(); e != nil && e.at.After(st.LastErrorAt) {
		st.LastError, st.LastErrorAt = e.msg, e.at.UTC()
	}
}

// statsLoop adds this replica's counters to the shared ones, and writes the
// item uses it saw, every StatsInterval; the counters once more when ctx
// ends.
func (s *Service) statsLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = s.flushStats(fctx)
			cancel()
			return
		case <-t.C:
			if err := s.flushStats(ctx); err != nil && ctx.Err() == nil {
				s.log.Debug("counters not flushed; kept for the next try", zapErr(err))
			}
			if err := s.flushTouches(ctx); err != nil && ctx.Err() == nil {
				s.log.Debug("item uses not recorded", zapErr(err))
			}
		}
	}
}

type flushed struct {
	d                                                               *deltas
	syncs, syncErrors, enqueued, hits, misses, evictions, deletions int64
	lastSync                                                        int64
	lastErr                                                         *lastError
}

// flushStats sends every cache's deltas in one batch. On failure the deltas
// are put back, so nothing is lost while the database is away.
func (s *Service) flushStats(ctx context.Context) error {
	var (
		batch pgx.Batch
		taken []flushed
	)
	// In name order: two replicas' flushes lock the same rows in the
	// same order, so neither waits for the other while holding a row it
	// needs.
	var names []string
	s.stats.Range(func(k, _ any) bool {
		names = append(names, k.(string))
		return true
	})
	slices.Sort(names)
	for _, name := range names {
		v, ok := s.stats.Load(name)
		if !ok {
			continue
		}
		d := v.(*deltas)
		f := flushed{d: d,
			syncs: d.syncs.Swap(0), syncErrors: d.syncErrors.Swap(0), enqueued: d.enqueued.Swap(0),
			hits: d.hits.Swap(0), misses: d.misses.Swap(0), evictions: d.evictions.Swap(0), deletions: d.deletions.Swap(0),
			lastSync: d.lastSync.Swap(0), lastErr: d.lastErr.Swap(nil),
		}
		if f.syncs|f.syncErrors|f.enqueued|f.hits|f.misses|f.evictions|f.deletions|f.lastSync == 0 && f.lastErr == nil {
			continue
		}
		var lastSync, errAt *time.Time
		var errMsg *string
		if f.lastSync != 0 {
			t := time.Unix(0, f.lastSync)
			lastSync = &t
		}
		if f.lastErr != nil {
			errAt, errMsg = &f.lastErr.at, &f.lastErr.msg
		}
		batch.Queue(`UPDATE cache_stats SET
			syncs = syncs + $2, sync_errors = sync_errors + $3, enqueued = enqueued + $4,
			hits = hits + $5, misses = misses + $6, evictions = evictions + $7, deletions = deletions + $8,
			last_sync_at = greatest(last_sync_at, $9),
			last_error = CASE WHEN $11::timestamptz IS NOT NULL AND (last_error_at IS NULL OR $11 > last_error_at)
				THEN $10 ELSE last_error END,
			last_error_at = greatest(last_error_at, $11)
			WHERE cache = $1`,
			name, f.syncs, f.syncErrors, f.enqueued, f.hits, f.misses, f.evictions, f.deletions, lastSync, errMsg, errAt)
		taken = append(taken, f)
	}
	if len(taken) == 0 {
		return nil
	}
	err := s.pool.SendBatch(ctx, &batch).Close()
	if err != nil {
		for _, f := range taken {
			d := f.d
			d.syncs.Add(f.syncs)
			d.syncErrors.Add(f.syncErrors)
			d.enqueued.Add(f.enqueued)
			d.hits.Add(f.hits)
			d.misses.Add(f.misses)
			d.evictions.Add(f.evictions)
			d.deletions.Add(f.deletions)
			if f.lastSync != 0 {
				d.lastSync.CompareAndSwap(0, f.lastSync)
			}
			if f.lastErr != nil {
				d.lastErr.CompareAndSwap(nil, f.lastErr)
			}
		}
	}
	return err
}

func zapErr(err error) zap.Field { return zap.Error(err) }
