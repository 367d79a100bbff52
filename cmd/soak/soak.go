package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// batchSize is the caches' batchSize; the upstreams check no batch is larger.
const batchSize = 50

// soak is one run: the processes it started and what it measured.
type soak struct {
	cfg         config
	log         io.Writer // progress, on stderr
	workDir     string
	keepWorkDir bool
	srv         *serverProc
	stopping    atomic.Bool // the soak is stopping the server: its exit is expected
	ups         upstreams
	upsPID      int // the upstream process, 0 in process
	a           *api
}

func newSoak(cfg config, log io.Writer) *soak { return &soak{cfg: cfg, log: log} }

func (s *soak) logf(format string, args ...any) {
	fmt.Fprintf(s.log, "soak: "+format+"\n", args...)
}

// cleanup stops whatever still runs and removes the work directory unless
// it is to be kept. It is safe after any failure.
func (s *soak) cleanup() {
	s.stopping.Store(true)
	if s.srv != nil && s.srv.running() {
		if _, err := s.srv.stop(5 * time.Second); err != nil {
			s.logf("server stop: %v", err)
		}
	}
	if s.ups != nil {
		s.ups.close()
	}
	if s.a != nil {
		s.a.closeIdle()
	}
	if s.workDir != "" && !s.keepWorkDir && !s.cfg.keep {
		_ = os.RemoveAll(s.workDir)
	}
}

// run carries out the whole soak and returns its report; an error means the
// soak could not be carried out (setup, interruption), not that a check
// failed.
func (s *soak) run(parent context.Context) (*report, error) {
	cfg := s.cfg
	rep := &report{cfg: cfg, started: time.Now(), machine: readMachine(cfg.server)}
	rep.machine.command = commandLine(cfg.args)
	rep.rates = [numKinds]float64{kGet: cfg.rate, kCreate: cfg.createRate, kDelete: cfg.deleteRate}

	if _, err := os.Stat(cfg.server); err != nil {
		return nil, fmt.Errorf("server binary: %w (run make build first)", err)
	}
	dir, err := os.MkdirTemp(cfg.dataDir, "autorefresh-soak-")
	if err != nil {
		return nil, err
	}
	s.workDir = dir
	s.keepWorkDir = true // until the report is made
	dataDir := filepath.Join(dir, "data")

	if cfg.upstreamsInProcess {
		s.ups = localUpstreams{newUpstreamGroup(cfg.caches, 2*cfg.webhookTimeout, cfg.terminalAt, batchSize)}
	} else {
		p, err := startUpstreamProc(parent, dir, upstreamOptions{
			caches: cfg.caches, slow: 2 * cfg.webhookTimeout, terminalAt: cfg.terminalAt,
			batchSize: batchSize, gomaxprocs: cfg.upstreamProcs,
		})
		if err != nil {
			return nil, err
		}
		s.ups, s.upsPID = p, p.pid()
		s.logf("upstreams listening in their own process (pid %d, GOMAXPROCS %d)", s.upsPID, cfg.upstreamProcs)
	}
	eps := s.ups.endpoints()
	if st, err := s.ups.stats(parent); err == nil {
		rep.machine.upsProcs = st.GOMAXPROCS
	}
	rep.upsOwnProcess = !cfg.upstreamsInProcess
	s.srv, err = startServer(parent, cfg.server, dir, dataDir, cfg.serverLog, cfg.serverFlags)
	if err != nil {
		return nil, err
	}
	base := "http://" + s.srv.addr
	s.logf("server %s listening on %s (pid %d, log %s)", cfg.server, s.srv.addr, s.srv.cmd.Process.Pid, s.srv.logPath)

	// Everything below ends early if the server or the upstreams die.
	ctx, abort := context.WithCancelCause(parent)
	defer abort(nil)
	go func() {
		select {
		case <-s.srv.exited:
			if !s.stopping.Load() {
				abort(fmt.Errorf("the server exited during the soak (%v); stderr: %s; log: %s",
					s.srv.waitErr, tail(s.srv.errPath, 2000), tail(s.srv.logPath, 1000)))
			}
		case <-s.ups.exited():
			p := s.ups.(*upstreamProc)
			abort(fmt.Errorf("%w (%v); stderr: %s", errUpstreamsExited, p.waitErr, tail(p.errPath, 2000)))
		case <-ctx.Done():
		}
	}()
	fail := func(err error) (*report, error) {
		if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
			return nil, c
		}
		return nil, err
	}

	ledgers := make([]*ledger, cfg.caches)
	for i := range ledgers {
		ledgers[i] = newLedger(eps[i].Cache)
	}
	s.a = newAPI(base, int(numPools)*cfg.clients, ledgers)
	if err := waitReady(ctx, base); err != nil {
		return fail(err)
	}
	for _, u := range eps {
		if err := s.putCache(ctx, u); err != nil {
			return fail(err)
		}
	}
	s.logf("%d caches registered (resyncPeriod %v, webhook timeout %v, batchSize %d)", cfg.caches, cfg.resync, cfg.webhookTimeout, batchSize)

	// Baseline: caches registered, no items, no connections of ours, and
	// the start-up garbage collected.
	s.a.closeIdle()
	if rep.gcBaseline, err = s.collectGarbage(ctx, 2); err != nil {
		return fail(err)
	}
	base0, err := sampleN(ctx, base, 3, 500*time.Millisecond)
	if err != nil {
		return fail(err)
	}
	rep.baseline = base0
	s.logf("baseline: %.0f goroutines, heap in use %s", last(base0).goroutines(), mib(last(base0).heapInuse()))

	if err := seed(ctx, s.a, cfg.seed, cfg.clients); err != nil {
		return fail(err)
	}
	s.logf("seeded %d items per cache; load for %v: %.0f GET/s from %d clients, %.0f creates/s and %.0f deletes/s from %d others",
		cfg.seed, cfg.duration, cfg.rate, cfg.clients, cfg.createRate, cfg.deleteRate, cfg.clients)

	// The load, with the upstreams flapping.
	if rep.loadStart, err = scrape(ctx, base); err != nil {
		return fail(err)
	}
	// Every upstream goes through every mode at least once, however short
	// the load.
	rep.phase = min(cfg.phase, cfg.duration/time.Duration(len(schedule)+1))
	if err := s.ups.startFlap(ctx, rep.phase); err != nil {
		return fail(err)
	}
	var upsCPU func() float64 // nil in process: the soak's own CPU has it
	if s.upsPID != 0 {
		upsCPU = func() float64 {
			if st, err := s.ups.stats(ctx); err == nil {
				return st.CPUSeconds
			}
			return -1
		}
	}
	rep.load = runLoad(ctx, s.a, rep.rates, cfg.duration, cfg.clients, cfg.window, upsCPU, s.log)
	if ctx.Err() != nil {
		return fail(ctx.Err())
	}
	// Every upstream healthy from now on.
	if rep.flapSteps, err = s.ups.healAll(ctx); err != nil {
		return fail(err)
	}
	if rep.loadEnd, err = scrape(ctx, base); err != nil {
		return fail(err)
	}
	s.logf("load done: %d GETs, %d creates, %d deletes answered; end of load: %.0f goroutines, heap in use %s",
		len(rep.load.samples[kGet]), len(rep.load.samples[kCreate]), len(rep.load.samples[kDelete]),
		rep.loadEnd.goroutines(), mib(rep.loadEnd.heapInuse()))

	// Accounting: at once, then once the upstreams are healthy again and
	// a few cycles have carried out the deletions and synced the items to
	// terminal.
	acc, _, err := account(ctx, s.a, "right after the load")
	if err != nil {
		return fail(err)
	}
	rep.accounts = append(rep.accounts, acc)
	acc, listings, took, err := settle(ctx, s.a, "after the upstreams recovered", cfg.settleTimeout)
	if err != nil {
		return fail(err)
	}
	rep.accounts = append(rep.accounts, acc)
	rep.settleTook = took
	s.logf("accounting: %d listed, %d missing, %d resurrected, %d unknown; settled in %v (%d pending deletion, %d not terminal)",
		acc.listed, acc.missing, acc.resurrected, acc.unknown, took.Round(time.Millisecond), acc.pending, acc.nonTerminal)
	rep.settledMetrics, err = scrape(ctx, base)
	if err != nil {
		return fail(err)
	}

	// Delete everything, wait for the cycles to remove it, then let the
	// server collect its garbage and measure.
	rep.deleteAll = deleteAll(ctx, s.a, listings, cfg.clients)
	acc, _, took, err = settle(ctx, s.a, "after deleting every item", cfg.settleTimeout)
	if err != nil {
		return fail(err)
	}
	rep.accounts = append(rep.accounts, acc)
	rep.emptyTook = took
	s.logf("deleted every item: %d left listed after %v", acc.listed, took.Round(time.Millisecond))
	s.a.closeIdle()
	// The server keeps idle keep-alive connections to the webhooks (90 s);
	// closing them from the upstreams' side ends its goroutines now.
	if err := s.ups.closeClientConns(ctx); err != nil {
		return fail(err)
	}
	if rep.gcAfter, err = s.collectGarbage(ctx, 2); err != nil {
		return fail(err)
	}
	if rep.after, err = sampleN(ctx, base, 3, time.Second); err != nil {
		return fail(err)
	}
	s.logf("after settling: %.0f goroutines, heap in use %s", last(rep.after).goroutines(), mib(last(rep.after).heapInuse()))

	// A clean stop is part of the soak.
	s.stopping.Store(true)
	rep.stopTook, rep.stopErr = s.srv.stop(20 * time.Second)
	rep.logs, err = readLogStats(s.srv.logPath)
	if err != nil {
		return nil, err
	}
	st, err := s.ups.stats(ctx)
	if err != nil {
		return nil, err
	}
	rep.ups = st.Upstreams
	rep.evaluate()
	s.keepWorkDir = false
	return rep, nil
}

// waitReady polls /readyz until it answers 200.
func waitReady(ctx context.Context, base string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		res, err := oneShotClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/readyz did not answer 200 within 20s (last: %v)", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// putCache registers one cache with its upstream.
func (s *soak) putCache(ctx context.Context, u endpoint) error {
	body := fmt.Sprintf(`{"webhook": {"url": %q, "timeout": %q}, "resyncPeriod": %q, "batchSize": %d, "size": 1000000}`,
		u.URL, s.cfg.webhookTimeout.String(), s.cfg.resync.String(), batchSize)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, s.a.base+"/v1/caches/"+u.Cache, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := s.a.http.Do(req)
	if err != nil {
		return fmt.Errorf("PUT cache %s: %w", u.Cache, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 2000))
		return fmt.Errorf("PUT cache %s: status %d: %s", u.Cache, res.StatusCode, b)
	}
	return nil
}

// gcRun is how the garbage collection before a measurement went.
type gcRun struct {
	requests int
	cycles   float64
	took     time.Duration
}

// collectGarbage makes the server run at least n garbage collections. The
// server has no endpoint for that and, idle, would wait up to two minutes
// for the runtime's forced GC, so the soak gives it garbage to collect:
// create requests with a 64 KiB body and an id the API refuses. The server
// reads, checks and parses the body, answers 400 and stores nothing. The
// GC count is read after every request, so little garbage is left over when
// the last cycle has run, and the heap then is close to the live heap.
func (s *soak) collectGarbage(ctx context.Context, n int) (gcRun, error) {
	start := time.Now()
	m, err := scrape(ctx, s.a.base)
	if err != nil {
		return gcRun{}, err
	}
	from := m.gcCycles()
	body := []byte(`{"id": "not a valid id!", "data": {"pad": "` + strings.Repeat("g", 64<<10) + `"}}`)
	url := s.a.base + "/v1/caches/" + s.a.ledgers[0].cache + "/items"
	var r gcRun
	for r.requests = 0; r.requests < 100_000; r.requests++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return r, err
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := s.a.http.Do(req)
		if err != nil {
			return r, fmt.Errorf("garbage request: %w", err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			return r, fmt.Errorf("garbage request: status %d, want 400", res.StatusCode)
		}
		if m, err = scrape(ctx, s.a.base); err != nil {
			return r, err
		}
		if r.cycles = m.gcCycles() - from; r.cycles >= float64(n) {
			r.requests++
			break
		}
	}
	s.a.closeIdle()
	r.took = time.Since(start)
	if r.cycles < float64(n) {
		return r, fmt.Errorf("the server ran %v GC cycles after %d garbage requests, want %d", r.cycles, r.requests, n)
	}
	// Let the background sweeper return the freed spans.
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(time.Second):
	}
	return r, nil
}

// sampleN scrapes n times, gap apart.
func sampleN(ctx context.Context, base string, n int, gap time.Duration) ([]metrics, error) {
	var out []metrics
	for i := range n {
		if i > 0 {
			select {
			case <-ctx.Done():
				return out, ctx.Err()
			case <-time.After(gap):
			}
		}
		m, err := scrape(ctx, base)
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
	return out, nil
}

func last(ms []metrics) metrics { return ms[len(ms)-1] }
