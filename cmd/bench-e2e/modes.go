package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// runMode measures one storage mode. Each part runs on a server of its own
// with fresh storage, so that no part pays for the items another left.
func (b *bench) runMode(ctx context.Context, mode string) (result, error) {
	res := result{mode: mode, rssItems: b.cfg.rssItems}
	cfg := b.cfg
	err := b.withServer(ctx, mode, func(srv *serverProc, a api) error {
		if err := a.putCache(ctx, "single", b.cacheConfig("1h", false)); err != nil {
			return err
		}
		b.logf("%s: single creates, %d clients, %s", mode, cfg.clients, cfg.window)
		var err error
		res.single, err = drive(ctx, srv.cpuSeconds, cfg.clients, cfg.warmup, cfg.window, func(ctx context.Context, w, seq int) (int, error) {
			id := "s" + strconv.Itoa(w) + "-" + strconv.Itoa(seq)
			if err := a.createOne(ctx, "single", id, seq); err != nil {
				return 0, err
			}
			return 1, nil
		})
		return err
	})
	if err != nil {
		return res, fmt.Errorf("single creates: %w", err)
	}

	err = b.withServer(ctx, mode, func(srv *serverProc, a api) error {
		if err := a.putCache(ctx, "bulk", b.cacheConfig("1h", false)); err != nil {
			return err
		}
		b.logf("%s: bulk creates, %d clients × %d items, %s", mode, cfg.bulkClients, cfg.bulkSize, cfg.window)
		var err error
		res.bulk, err = drive(ctx, srv.cpuSeconds, cfg.bulkClients, cfg.warmup, cfg.window, func(ctx context.Context, w, seq int) (int, error) {
			return a.createBulk(ctx, "bulk", "b"+strconv.Itoa(w)+"-"+strconv.Itoa(seq)+"-", cfg.bulkSize)
		})
		return err
	})
	if err != nil {
		return res, fmt.Errorf("bulk creates: %w", err)
	}

	err = b.withServer(ctx, mode, func(srv *serverProc, a api) error {
		// Created in bulk while not yet due (syncOnCreate off), then
		// always due: resyncPeriod 10ms.
		if err := a.putCache(ctx, "sync", b.cacheConfig("10ms", false)); err != nil {
			return err
		}
		if err := a.loadItems(ctx, "sync", "y", cfg.syncItems, cfg.bulkSize, cfg.bulkClients); err != nil {
			return err
		}
		b.logf("%s: sync throughput, %d items always due, %s", mode, cfg.syncItems, cfg.window)
		calls := b.up.calls.Load()
		var err error
		res.sync, err = window(ctx, srv.cpuSeconds, cfg.warmup, cfg.window, func() (int64, int64) {
			return b.up.items.Load(), b.up.bad.Load()
		})
		res.syncCalls = b.up.calls.Load() - calls
		if res.sync.errors > 0 {
			res.sync.err = fmt.Errorf("the upstream could not decode %d webhook bodies", res.sync.errors)
		}
		if err == nil {
			// Stop the calls before the next server starts.
			_, err = a.expect(ctx, http.StatusNoContent, http.MethodDelete, "/v1/caches/sync", nil)
		}
		return err
	})
	if err != nil {
		return res, fmt.Errorf("sync throughput: %w", err)
	}

	if cfg.rssItems > 0 {
		if err := b.withServer(ctx, mode, func(srv *serverProc, a api) error {
			return b.rssAndRestart(ctx, mode, srv, a, &res)
		}); err != nil {
			return res, fmt.Errorf("RSS and restart: %w", err)
		}
	}
	return res, nil
}

// withServer starts a server of the mode with fresh storage, runs f, and
// stops the server (SIGTERM, or SIGKILL when f failed).
func (b *bench) withServer(ctx context.Context, mode string, f func(*serverProc, api) error) error {
	srv, err := b.newServer(ctx, mode)
	if err != nil {
		return err
	}
	if _, err := srv.start(ctx, b.client); err != nil {
		return err
	}
	defer srv.kill()
	if err := f(srv, api{client: b.client, base: "http://" + srv.addr}); err != nil {
		return err
	}
	b.client.CloseIdleConnections()
	_, err = srv.stop(60 * time.Second)
	return err
}

// rssAndRestart loads --rss-items items into a fresh server and reads its
// RSS before and after; then, where the items survive a restart (not in
// memory), stops it with SIGTERM and times the exit and the start again up
// to /readyz, and checks the items are all there.
func (b *bench) rssAndRestart(ctx context.Context, mode string, srv *serverProc, a api, res *result) error {
	n := b.cfg.rssItems
	if err := a.putCache(ctx, "rss", b.cacheConfig("1h", false)); err != nil {
		return err
	}
	var err error
	if res.rssBefore, err = srv.rssBytes(); err != nil {
		return err
	}
	b.logf("%s: loading %d items for RSS", mode, n)
	t0 := time.Now()
	if err := a.loadItems(ctx, "rss", "r", n, b.cfg.bulkSize, b.cfg.bulkClients); err != nil {
		return err
	}
	res.loadTime = time.Since(t0)
	if res.rssAfter, err = srv.rssBytes(); err != nil {
		return err
	}
	if err := checkSize(ctx, a, "rss", n); err != nil {
		return err
	}
	if mode == modeMemory {
		return nil // a restart forgets everything: nothing to time
	}
	b.logf("%s: restart with %d items", mode, n)
	b.client.CloseIdleConnections()
	if res.stopTime, err = srv.stop(60 * time.Second); err != nil {
		return err
	}
	if res.readyTime, err = srv.start(ctx, b.client); err != nil {
		return err
	}
	return checkSize(ctx, a, "rss", n)
}

// checkSize fails unless the cache's stats count n items.
func checkSize(ctx context.Context, a api, cache string, n int) error {
	b, err := a.expect(ctx, http.StatusOK, http.MethodGet, "/v1/caches/"+cache, nil)
	if err != nil {
		return err
	}
	var c struct {
		Stats struct {
			Size int `json:"size"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("GET /v1/caches/%s: %w", cache, err)
	}
	if c.Stats.Size != n {
		return fmt.Errorf("cache %s holds %d items, want %d", cache, c.Stats.Size, n)
	}
	return nil
}
