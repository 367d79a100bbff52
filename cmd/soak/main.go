// Command soak is a load-and-fault soak of the real autorefresh server.
//
// It starts the server binary as a subprocess on 127.0.0.1, registers several
// caches whose webhooks are upstreams that flap between answering properly,
// answering too slowly, answering 500 and answering garbage, and then drives
// an open-loop load of GETs, creates and deletes at fixed rates. The
// upstreams stand for remote systems and run in a process of their own (the
// soak runs itself again with a hidden --serve-upstreams flag), apart from
// the load generator's scheduler.
// At the end it checks that
//
//   - every acknowledged item is accounted for (present, or gone if its
//     delete was acknowledged),
//   - memory is flat once the load stops and the items are deleted,
//   - goroutines return to their baseline,
//   - the p99 GET latency stays under the limit (10 ms) at the offered rate,
//
// prints a markdown report, optionally writes it into a file between marker
// comments (docs/soak.md), and exits non-zero if any check fails.
//
// It is a dev tool run by `make soak`, for minutes, not in CI:
//
//	go build -o bin/server ./cmd/server
//	go run ./cmd/soak --server bin/server --duration 3m --report docs/soak.md
//
// Everything listens on and connects to 127.0.0.1 only. The run stops by
// itself; the server and the upstreams are stopped at the end, on Ctrl-C, and
// if the soak itself is killed (the server through the parent-death signal,
// the upstream process when its stdin, a pipe from the soak, closes).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	server             string
	duration           time.Duration
	rate               float64 // GETs per second
	createRate         float64
	deleteRate         float64
	caches             int
	clients            int
	dataDir            string
	keep               bool
	report             string
	p99Limit           time.Duration
	resync             time.Duration
	webhookTimeout     time.Duration
	phase              time.Duration
	seed               int
	terminalAt         int64
	settleTimeout      time.Duration
	heapFactor         float64
	heapSlack          int64 // bytes
	goroutineSlack     int
	gomaxprocs         int
	upstreamProcs      int  // GOMAXPROCS of the upstream process
	upstreamsInProcess bool // the upstreams in the soak's own process, as before
	window             time.Duration
	serverLog          string   // file or discard
	serverFlags        []string // extra flags for the server
	args               []string // as given, for the report
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var heapSlackMiB int64
	fs.StringVar(&c.server, "server", "bin/server", "path of the server `binary` to run (make build)")
	fs.DurationVar(&c.duration, "duration", 3*time.Minute, "how long the measured load runs")
	fs.Float64Var(&c.rate, "rate", 5000, "GET requests per second offered")
	fs.Float64Var(&c.createRate, "create-rate", 500, "creates per second offered")
	fs.Float64Var(&c.deleteRate, "delete-rate", 100, "deletes per second offered")
	fs.IntVar(&c.caches, "caches", 4, "caches, each with its own flapping upstream")
	fs.IntVar(&c.clients, "clients", 32, "client goroutines for GETs, and as many again for creates and deletes; one keep-alive pool keeps a connection for each")
	fs.StringVar(&c.dataDir, "data-dir", "", "`directory` under which the run's work directory is made (default: the system temp dir)")
	fs.BoolVar(&c.keep, "keep", false, "keep the work directory (server log, data file) even when every check passes")
	fs.StringVar(&c.report, "report", "", "also write the markdown report into this `file`, between the soak markers (the rest of the file is kept)")
	fs.DurationVar(&c.p99Limit, "p99-limit", 10*time.Millisecond, "the p99 GET latency that must not be exceeded")
	fs.DurationVar(&c.resync, "resync", 500*time.Millisecond, "resyncPeriod of the caches")
	fs.DurationVar(&c.webhookTimeout, "webhook-timeout", 500*time.Millisecond, "webhook.timeout of the caches; slow upstreams sleep twice as long")
	fs.DurationVar(&c.phase, "phase", 5*time.Second, "how long an upstream stays in one mode (ok, slow, 500, garbage)")
	fs.IntVar(&c.seed, "seed", 250, "items created per cache before the measured load starts")
	fs.Int64Var(&c.terminalAt, "terminal-at", 4, "the version at which a healthy upstream makes an item terminal")
	fs.DurationVar(&c.settleTimeout, "settle-timeout", 60*time.Second, "longest wait for each settling step after the load")
	fs.Float64Var(&c.heapFactor, "heap-factor", 1.5, "memory is flat if heap in use after settling <= baseline*factor + slack")
	fs.Int64Var(&heapSlackMiB, "heap-slack-mib", 16, "see --heap-factor, in MiB")
	fs.IntVar(&c.goroutineSlack, "goroutine-slack", 5, "goroutines may end at most this many above the baseline")
	fs.IntVar(&c.gomaxprocs, "gomaxprocs", 1, "GOMAXPROCS of the load generator (0: the Go default), so that it leaves the other CPUs to the server; the server keeps its own default")
	fs.IntVar(&c.upstreamProcs, "upstreams-gomaxprocs", 1, "GOMAXPROCS of the upstream process (0: the Go default)")
	fs.BoolVar(&c.upstreamsInProcess, "upstreams-in-process", false, "run the upstreams in the soak's own process, sharing the load generator's scheduler (how the soak ran before; for comparison only)")
	fs.DurationVar(&c.window, "window", 10*time.Second, "width of the windows in the latency-over-time table")
	fs.StringVar(&c.serverLog, "server-log", "file", "where the server's log (stdout) goes: file (server.log in the work directory), or discard: read through a pipe, access-log lines dropped, the others kept (for finding what the log costs)")
	var extra string
	fs.StringVar(&extra, "server-flags", "", "extra `flags` for the server, space-separated (e.g. --in-memory, to take the disk out of the picture)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	c.heapSlack = heapSlackMiB << 20
	c.serverFlags = strings.Fields(extra)
	c.args = args
	switch {
	case c.duration <= 0:
		return config{}, errors.New("--duration must be positive")
	case c.rate <= 0 || c.createRate < 0 || c.deleteRate < 0:
		return config{}, errors.New("--rate must be positive, --create-rate and --delete-rate not negative")
	case c.upstreamProcs < 0 || c.gomaxprocs < 0:
		return config{}, errors.New("--gomaxprocs and --upstreams-gomaxprocs must not be negative")
	case c.caches < 1 || c.caches > 100:
		return config{}, errors.New("--caches must be between 1 and 100")
	case c.clients < 1 || c.clients > 10000:
		return config{}, errors.New("--clients must be between 1 and 10000")
	case c.resync <= 0 || c.webhookTimeout <= 0 || c.phase <= 0 || c.window <= 0:
		return config{}, errors.New("--resync, --webhook-timeout, --phase and --window must be positive")
	case c.terminalAt < 2:
		return config{}, errors.New("--terminal-at must be at least 2")
	case c.serverLog != "file" && c.serverLog != "discard":
		return config{}, errors.New("--server-log must be file or discard")
	case c.seed < 1:
		return config{}, errors.New("--seed must be at least 1: GETs need items to read")
	}
	return c, nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK          = 0
	exitChecks      = 1 // the soak ran and a check failed
	exitSetup       = 2 // bad flags, or something could not be set up
	exitInterrupted = 130
)

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == serveUpstreamsFlag {
		return serveUpstreams(args[1:], os.Stdin, stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return exitSetup
	}
	if cfg.gomaxprocs > 0 {
		runtime.GOMAXPROCS(cfg.gomaxprocs)
	}

	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A watchdog bounds the whole run, whatever happens to the settling
	// steps: the load, then generously for setup, checks and shutdown.
	bound := cfg.duration + 6*cfg.settleTimeout + 5*time.Minute
	ctx, cancel := context.WithTimeout(sigCtx, bound)
	defer cancel()

	s := newSoak(cfg, stderr)
	defer s.cleanup()
	rep, err := s.run(ctx)
	if err != nil {
		if sigCtx.Err() != nil {
			fmt.Fprintln(stderr, "soak: interrupted:", err)
			s.keepWorkDir = false // unless --keep
			return exitInterrupted
		}
		fmt.Fprintln(stderr, "soak:", err)
		if s.workDir != "" {
			s.keepWorkDir = true
			fmt.Fprintln(stderr, "soak: work directory kept:", s.workDir)
		}
		return exitSetup
	}
	md := rep.markdown()
	fmt.Fprint(stdout, md)
	if cfg.report != "" {
		if err := writeReport(cfg.report, md); err != nil {
			fmt.Fprintln(stderr, "soak:", err)
			return exitSetup
		}
		fmt.Fprintln(stderr, "soak: report written to", cfg.report)
	}
	if !rep.passed() {
		s.keepWorkDir = true
		fmt.Fprintln(stderr, "soak: FAILED:", strings.Join(rep.failed(), "; "))
		fmt.Fprintln(stderr, "soak: work directory kept:", s.workDir)
		return exitChecks
	}
	fmt.Fprintln(stderr, "soak: every check passed")
	return exitOK
}
