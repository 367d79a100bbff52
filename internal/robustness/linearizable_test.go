package robustness

import (
	"context"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/autorefresh/autorefresh/internal/pgtest"
)

// TestRobustness builds the server once and runs every check on it, in both
// storage modes: linearizability of the API across restarts, and the replay
// of the event stream.
func TestRobustness(t *testing.T) {
	cfg := loadConfig(t)
	bin := buildServer(t)
	var cluster *pgtest.Cluster
	if ok, _ := pgtest.Available(); ok {
		cluster = pgtest.Own(t)
	}
	pgURL := func(t *testing.T) string {
		pgtest.SkipIfUnavailable(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		url, err := cluster.CreateDatabase(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return url
	}
	t.Run("linearizable/bolt", func(t *testing.T) {
		checkLinearizable(t, cfg, bin, boltMode(t.TempDir()))
	})
	t.Run("linearizable/postgres", func(t *testing.T) {
		checkLinearizable(t, cfg, bin, pgMode(pgURL(t)))
	})
	t.Run("replay/bolt", func(t *testing.T) {
		checkReplay(t, cfg, bin, boltMode(t.TempDir()))
	})
	t.Run("replay/postgres", func(t *testing.T) {
		checkReplay(t, cfg, bin, pgMode(pgURL(t)))
	})
}

// phaseEnds are the ways a phase ends, in turn: SIGKILL under load, SIGTERM
// under load, SIGTERM once the clients are done.
var phaseEnds = []string{"SIGKILL under load", "SIGTERM under load", "SIGTERM when idle"}

// checkLinearizable runs phases of random concurrent calls against one
// server, restarting it between phases on the same state, then reads every
// item once more after a last restart, and checks the whole history.
func checkLinearizable(t *testing.T, cfg config, bin string, m mode) {
	started := time.Now()
	up := &upstream{failRate: 0.05, unchangedRate: 0.1}
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()
	httpc := newHTTPClient()
	defer httpc.CloseIdleConnections()

	var logs []*logWriter
	defer func() {
		for _, l := range logs {
			for _, e := range l.errorLines() {
				t.Logf("%s server logged: %s", m.name, e)
			}
		}
	}()
	h := NewHistory()
	probs := &problems{}
	w := newWorkload(cfg, upSrv.URL)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 12))
	kills, terms := 0, 0
	clientID := 0
	newClient := func(base string) *apiClient {
		c := &apiClient{http: httpc, h: h, id: clientID, base: base, problems: probs}
		clientID++
		return c
	}

	for phase := range cfg.phases {
		s := startServer(t, bin, m)
		logs = append(logs, s.log)
		if phase == 0 {
			c := newClient(s.base)
			for _, cache := range w.caches {
				w.putCache(c, rng, cache)
			}
		}
		end := phaseEnds[phase%len(phaseEnds)]
		stop := make(chan struct{})
		var wg sync.WaitGroup
		before, _ := h.Counts()
		for range cfg.clients {
			c := newClient(s.base)
			crng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
			wg.Go(func() { w.run(c, crng, cfg.ops, stop) })
		}
		if end == "SIGTERM when idle" {
			wg.Wait()
		} else {
			// Strike after a random share of the phase's calls, measured by
			// progress rather than by time, so that a slow machine still
			// kills the server under load.
			target := before + cfg.clients*cfg.ops*(20+rng.IntN(60))/100
			waitFor(t, 60*time.Second, "workload progress", func() bool {
				n, _ := h.Counts()
				return n >= target
			})
		}
		if strings.HasPrefix(end, "SIGKILL") {
			s.stop(syscall.SIGKILL)
			kills++
		} else {
			s.stop(syscall.SIGTERM)
			terms++
		}
		close(stop)
		wg.Wait()
		httpc.CloseIdleConnections()
		n, unknown := h.Counts()
		t.Logf("%s phase %d: %d operations so far (%d without answer), ended by %s", m.name, phase, n, unknown, end)
	}

	// After the last restart, read everything once more: what was
	// acknowledged or seen before must still be there.
	s := startServer(t, bin, m)
	logs = append(logs, s.log)
	c := newClient(s.base)
	for _, cache := range w.caches {
		c.list(cache, w.ids)
		for _, id := range w.ids {
			c.get(cache, id)
		}
	}
	s.stop(syscall.SIGTERM)
	terms++
	workTook := time.Since(started)

	ops := h.Operations()
	res, err := Check(ops, checkTimeout(cfg), cfg.out, "linearizable-"+m.name)
	if err != nil {
		t.Error(err)
	}
	_, unknown := h.Counts()
	t.Logf("%s: %d per-item histories, %d operations from %d HTTP calls (%d without answer), %d restarts (%d SIGKILL, %d SIGTERM); "+
		"webhook: %d calls, %d items sent, %d updates, %d injected failures; workload %v, check %v: %s",
		m.name, res.Partitions, res.Operations, probs.calls.Load(), unknown, kills+terms, kills, terms,
		up.calls.Load(), up.items.Load(), up.updates.Load(), up.failed.Load(),
		workTook.Round(time.Millisecond), res.Took.Round(time.Millisecond), res.Verdict)
	switch res.Verdict {
	case porcupine.Illegal:
		msg := "NOT LINEARIZABLE (" + m.name + "); visualization: " + res.Visualization
		for i, p := range res.Illegal {
			if i == 2 {
				break
			}
			msg += "\nan item's history with no linearization:\n" + p
		}
		t.Error(msg)
	case porcupine.Unknown:
		t.Logf("the checker gave up after %v: no verdict; visualization: %s", checkTimeout(cfg), res.Visualization)
	}
	for _, p := range probs.all() {
		t.Errorf("%s: %s", m.name, p)
	}
	for _, a := range up.Anomalies() {
		t.Errorf("%s: %s", m.name, a)
	}
}

func checkTimeout(cfg config) time.Duration {
	return time.Duration(min(60, 10+cfg.phases*cfg.clients*cfg.ops/500)) * time.Second
}

// waitFor polls cond until it holds, failing the test at the deadline.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
