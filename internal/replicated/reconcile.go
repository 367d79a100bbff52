package replicated

import (
	"context"
	"encoding/json"
	"time"

	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
)

// reconcileLoop keeps this replica's workers in step with the caches
// table: at start, when a notification says a cache changed, and every
// ReconcileInterval in case a notification was missed.
func (s *Service) reconcileLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.ReconcileInterval)
	defer t.Stop()
	var bo backoff
	for {
		if err := s.reconcile(ctx); err != nil && ctx.Err() == nil {
			if !bo.wait(ctx, s.log, "reconcile: database error; retrying", zapErr(err)) {
				return
			}
			continue
		}
		bo.reset()
		if err := s.freshenStats(ctx); err != nil && ctx.Err() == nil {
			s.log.Debug("planner statistics of items not refreshed", zapErr(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

type cacheRow struct {
	gen       int64
	createdAt time.Time
	cfg       autorefresh.Config
}

// reconcile starts a worker for each cache without one, replaces the
// workers of caches whose config changed, and stops those of caches that
// are gone (telling OnCacheDeleted).
func (s *Service) reconcile(ctx context.Context) error {
	qctx, cancel := context.WithTimeout(ctx, s.opts.OpTimeout)
	defer cancel()
	rows, err := s.pool.Query(qctx, "SELECT name, config, generation, created_at FROM caches")
	if err != nil {
		return err
	}
	want := make(map[string]cacheRow)
	for rows.Next() {
		var (
			name string
			b    []byte
			r    cacheRow
		)
		if err := rows.Scan(&name, &b, &r.gen, &r.createdAt); err != nil {
			rows.Close()
			return err
		}
		if err := json.Unmarshal(b, &r.cfg); err != nil {
			s.log.Error("cache not refreshed: its stored config does not decode", zap.String("cache", name), zapErr(err))
			continue
		}
		want[name] = r
		s.configs.set(name, registration{createdAt: r.createdAt, gen: r.gen, cfg: r.cfg.WithDefaults()})
	}
	if err := rows.Err(); err != nil {
		return err
	}

	var gone []*worker
	s.mu.Lock()
	if ctx.Err() != nil {
		s.mu.Unlock()
		return nil
	}
	for name, w := range s.workers {
		r, ok := want[name]
		switch {
		case !ok || !r.createdAt.Equal(w.createdAt):
			w.cancel()
			delete(s.workers, name)
			gone = append(gone, w)
		case r.gen != w.gen:
			w.cancel()
			delete(s.workers, name)
		}
	}
	for name, r := range want {
		if _, ok := s.workers[name]; ok {
			continue
		}
		w, err := s.newWorker(name, r.gen, r.createdAt, r.cfg)
		if err != nil {
			// The address policy of this replica refuses the webhook, say.
			s.log.Error("cache not refreshed by this replica", zap.String("cache", name), zapErr(err))
			continue
		}
		wctx, wcancel := context.WithCancel(ctx)
		w.cancel = wcancel
		s.workers[name] = w
		s.goRun(func() { w.run(wctx) })
	}
	s.mu.Unlock()

	for _, w := range gone {
		name := w.name
		s.forgetSeries(name)
		// Its webhook calls may run on for DrainTimeout and bring series
		// back when they end: forget them again once the worker is done,
		// unless the name is refreshed again by then.
		s.goRun(func() {
			<-w.done
			s.mu.Lock()
			defer s.mu.Unlock()
			if _, back := s.workers[name]; !back {
				s.forgetSeries(name)
			}
		})
		if _, ok := want[name]; !ok {
			s.stats.Delete(name)
			s.configs.drop(name)
		}
		if s.opts.OnCacheDeleted != nil {
			s.opts.OnCacheDeleted(name)
		}
	}
	return nil
}

// forgetSeries drops a cache's metric series.
func (s *Service) forgetSeries(name string) {
	s.whMetrics.Forget(name)
	s.metrics.forget(name)
	s.gauges.forget()
}

// worker returns this replica's worker of a cache, or nil.
func (s *Service) worker(name string) *worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.workers[name]
}
