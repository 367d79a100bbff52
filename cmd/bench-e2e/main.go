// Command bench-e2e measures the real server binary end to end, over HTTP,
// in each storage mode in turn: in memory (--in-memory), durable (a bbolt
// journal in --data-dir) and PostgreSQL (--postgres, against a PostgreSQL
// server of its own). For each mode it prints one row of a table:
//
//   - single creates: POST /v1/caches/{cache}/items from --clients
//     keep-alive clients at once, every id new; created items per second;
//   - bulk creates: POST /v1/caches/{cache}/items/batch of --bulk-size items
//     from --bulk-clients clients; created items per second, and the ratio
//     bulk ÷ single (issue 15 aims for at least 10×);
//   - sync throughput: --sync-items items always due (resyncPeriod 10ms,
//     batchSize 100, parallelism 10, no effective rate limit) against an
//     upstream in this process that answers 204 at once; items per second
//     as the upstream counts them;
//   - the server's CPU time per item in each of those, from /proc, which
//     depends much less on other load on the machine than the rates do;
//   - with --rss-items N > 0, on a fresh server: the growth of its RSS per
//     item after N items were created (in bulk), and, in the durable and
//     PostgreSQL modes, the time from SIGTERM to exit and from starting the
//     binary again to /readyz answering 200, with the N items.
//
// Rates are counted over a fixed window (--window) after a warm-up
// (--warmup), between two readings of a counter and the real clock. Every
// figure is for the whole machine: the server, this load generator, the
// upstream and PostgreSQL share its CPUs. Compare the modes and the ratios
// of one run rather than absolute figures across runs.
//
// It is a dev tool, run by `make bench-e2e` (minutes, not part of make test):
//
//	make build
//	go run ./cmd/bench-e2e --server bin/server --window 10s --modes memory,durable,postgres
//
// The PostgreSQL mode needs Debian's postgresql package; it is started as in
// the tests (internal/pgtest: initdb and pg_ctl, as the postgres user when
// run as root, fsync on, 127.0.0.1 and a free port, in a temporary
// directory). Everything listens on 127.0.0.1. Servers are stopped at the
// end of each mode, on Ctrl-C, and by the kernel if this process dies
// (parent-death signal); PostgreSQL is stopped at the end and on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return // -h printed the usage; that is a success
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-e2e: %v\n", err)
		os.Exit(1)
	}
}

// The storage modes, in the order they run.
const (
	modeMemory   = "memory"
	modeDurable  = "durable"
	modePostgres = "postgres"
)

var allModes = []string{modeMemory, modeDurable, modePostgres}

// config is the command line.
type config struct {
	server      string
	modes       []string
	window      time.Duration
	warmup      time.Duration
	clients     int
	bulkClients int
	bulkSize    int
	syncItems   int
	rssItems    int
	workDir     string
	keep        bool
	logLevel    string
	serverFlags []string // extra flags for every server
}

// parseFlags reads the command line (args without the program name).
// BENCH_WINDOW, if set, is the default of --window, as for
// scripts/bench-pg.sh.
func parseFlags(args []string, getenv func(string) string, out io.Writer) (config, error) {
	fs := flag.NewFlagSet("bench-e2e", flag.ContinueOnError)
	fs.SetOutput(out)
	var c config
	window := 10 * time.Second
	if s := getenv("BENCH_WINDOW"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return config{}, fmt.Errorf("BENCH_WINDOW: %w", err)
		}
		window = d
	}
	var modes string
	fs.StringVar(&c.server, "server", "bin/server", "the server `binary` (make build)")
	fs.StringVar(&modes, "modes", strings.Join(allModes, ","), "storage modes to run, comma-separated, in this order")
	fs.DurationVar(&c.window, "window", window, "how long each rate is counted (default $BENCH_WINDOW if set)")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "load before each window starts, not counted")
	fs.IntVar(&c.clients, "clients", 32, "concurrent clients for single creates")
	fs.IntVar(&c.bulkClients, "bulk-clients", 4, "concurrent clients for bulk creates")
	fs.IntVar(&c.bulkSize, "bulk-size", 1000, "items per bulk create request (the server takes 1 to 1000)")
	fs.IntVar(&c.syncItems, "sync-items", 20000, "items always due in the sync throughput run")
	fs.IntVar(&c.rssItems, "rss-items", 200000, "items loaded on a fresh server for RSS per item and restart-to-ready (0: skip)")
	fs.StringVar(&c.workDir, "work-dir", "", "`directory` under which the run's data and logs go (default: the system temp dir)")
	fs.BoolVar(&c.keep, "keep", false, "keep the work directory (server logs, data files)")
	fs.StringVar(&c.logLevel, "log-level", "info", "the servers' --log-level (info writes an access-log line per request, as shipped)")
	var extra string
	fs.StringVar(&extra, "server-flags", "", "extra `flags` for every server, space-separated (e.g. --gc-floor-mib 0)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	c.serverFlags = strings.Fields(extra)
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	for _, m := range strings.Split(modes, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		switch m {
		case modeMemory, modeDurable, modePostgres:
			c.modes = append(c.modes, m)
		default:
			return config{}, fmt.Errorf("--modes: unknown mode %q (want %s)", m, strings.Join(allModes, ", "))
		}
	}
	switch {
	case len(c.modes) == 0:
		return config{}, errors.New("--modes: none given")
	case c.window <= 0 || c.warmup < 0:
		return config{}, errors.New("--window must be positive and --warmup not negative")
	case c.clients < 1 || c.bulkClients < 1:
		return config{}, errors.New("--clients and --bulk-clients must be at least 1")
	case c.bulkSize < 1 || c.bulkSize > 1000:
		return config{}, errors.New("--bulk-size must be between 1 and 1000")
	case c.syncItems < 1:
		return config{}, errors.New("--sync-items must be at least 1")
	case c.rssItems < 0:
		return config{}, errors.New("--rss-items must not be negative")
	}
	return c, nil
}

// run parses args (args[0] is the program name), runs every mode and
// prints the table on stdout, with progress lines before it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		args = []string{"bench-e2e"}
	}
	cfg, err := parseFlags(args[1:], getenv, stdout)
	if err != nil {
		return err
	}
	if _, err := os.Stat(cfg.server); err != nil {
		return fmt.Errorf("--server: %w (make build)", err)
	}
	b, err := newBench(cfg, stdout)
	if err != nil {
		return err
	}
	defer b.close()
	rep := &report{cfg: cfg, started: time.Now(), loadBefore: loadAvg()}
	for _, mode := range cfg.modes {
		res, err := b.runMode(ctx, mode)
		if err != nil {
			b.keepWorkDir()
			return fmt.Errorf("%s mode: %w", mode, err)
		}
		rep.rows = append(rep.rows, res)
	}
	rep.loadAfter = loadAvg()
	rep.elapsed = time.Since(rep.started)
	rep.write(stdout)
	return nil
}
