package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/autorefresh/autorefresh/internal/pgtest"
)

// bench holds what the modes share: the work directory, the HTTP client,
// the upstream and, once the PostgreSQL mode needs it, the database server.
type bench struct {
	cfg    config
	out    io.Writer
	dir    string
	keep   bool
	client *http.Client
	up     *upstream
	pg     *pgtest.Cluster
	runs   int // servers started, for their log file names
}

func newBench(cfg config, out io.Writer) (*bench, error) {
	dir, err := os.MkdirTemp(cfg.workDir, "bench-e2e-")
	if err != nil {
		return nil, err
	}
	conns := max(cfg.clients, cfg.bulkClients) + 8
	return &bench{cfg: cfg, out: out, dir: dir, keep: cfg.keep, client: newClient(conns), up: newUpstream()}, nil
}

// keepWorkDir keeps the work directory (logs, data) after close, and says
// where it is.
func (b *bench) keepWorkDir() {
	b.keep = true
	fmt.Fprintln(b.out, "bench-e2e: work directory kept:", b.dir)
}

// close stops the upstream and PostgreSQL and removes the work directory
// unless it is kept. Servers are stopped by the mode that started them.
func (b *bench) close() {
	b.up.close()
	b.client.CloseIdleConnections()
	if b.pg != nil {
		if err := b.pg.Close(); err != nil {
			fmt.Fprintln(b.out, "bench-e2e: stopping PostgreSQL:", err)
		}
	}
	if !b.keep {
		_ = os.RemoveAll(b.dir)
	}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.out, "bench-e2e: "+format+"\n", args...)
}

// newServer prepares a server of the mode with fresh storage: a new data
// directory, or a new database on the PostgreSQL server (started on first
// use).
func (b *bench) newServer(ctx context.Context, mode string) (*serverProc, error) {
	b.runs++
	name := fmt.Sprintf("%d-%s", b.runs, mode)
	var storage []string
	switch mode {
	case modeMemory:
		storage = []string{"--in-memory"}
	case modeDurable:
		storage = []string{"--data-dir", filepath.Join(b.dir, name+".data")}
	case modePostgres:
		if b.pg == nil {
			b.logf("starting PostgreSQL (%s)", pgtest.BinDir)
			c, err := pgtest.NewCluster()
			if err != nil {
				return nil, err
			}
			b.pg = c
		}
		url, err := b.pg.CreateDatabase(ctx)
		if err != nil {
			return nil, err
		}
		storage = []string{"--postgres", url}
	}
	return newServer(b.cfg.server, filepath.Join(b.dir, name+".log"), b.cfg.logLevel, append(storage, b.cfg.serverFlags...)...)
}

// cacheConfig is the PUT body of a cache whose webhook is the upstream.
// Items are never due unless resync is short; size is far above what a run
// creates, so that nothing is evicted.
func (b *bench) cacheConfig(resync string, syncOnCreate bool) string {
	return `{"webhook": {"url": "` + b.up.url() + `", "timeout": "5s"},
		"resyncPeriod": "` + resync + `", "syncOnCreate": ` + strconv.FormatBool(syncOnCreate) + `,
		"batchSize": 100, "parallelism": 10, "size": 5000000,
		"rateLimit": {"qps": 1000000, "burst": 1000000}}`
}

// upstream is the webhook every cache calls: it counts the items it is sent
// and answers 204 (nothing changed) at once.
type upstream struct {
	srv   *httptest.Server
	items atomic.Int64
	calls atomic.Int64
	bad   atomic.Int64 // bodies it could not decode
}

func newUpstream() *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			u.bad.Add(1)
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		u.calls.Add(1)
		u.items.Add(int64(len(req.Items)))
		w.WriteHeader(http.StatusNoContent)
	}))
	return u
}

func (u *upstream) url() string { return u.srv.URL + "/sync" }

func (u *upstream) close() { u.srv.Close() }

// result is one mode's row of the table.
type result struct {
	mode      string
	single    rate
	bulk      rate
	sync      rate
	syncCalls int64
	// With --rss-items:
	rssItems  int
	rssBefore int64 // bytes, the fresh server with its cache registered
	rssAfter  int64 // bytes, once the items were created
	loadTime  time.Duration
	stopTime  time.Duration // SIGTERM to exit
	readyTime time.Duration // start to /readyz 200, with the items
}
