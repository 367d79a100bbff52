package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"
)

// mode is how an upstream answers at the moment.
type mode int32

const (
	modeOK      mode = iota // every item of the batch: update, version+1, terminal at --terminal-at
	modeSlow                // sleeps twice the webhook timeout, then answers as ok (too late)
	mode500                 // 500 Internal Server Error
	modeGarbage             // 200 with a body that is not JSON
	numModes
)

var modeNames = [numModes]string{"ok", "slow", "500", "garbage"}

// schedule is the sequence every upstream goes through, one phase per step,
// each upstream shifted by its index so the caches are not all failing at
// once. Half the time is healthy, so items keep reaching terminal.
var schedule = []mode{modeOK, modeSlow, modeOK, mode500, modeOK, modeGarbage}

// upstream is one cache's webhook: an httptest server on 127.0.0.1 that
// flaps between the modes, and checks what autorefresh sends it.
type upstream struct {
	cache      string
	srv        *httptest.Server
	mode       atomic.Int32
	slow       time.Duration
	terminalAt int64
	batchSize  int

	calls   [numModes]atomic.Int64
	updated atomic.Int64 // items answered with an update in ok mode (some answers arrive too late in slow mode and do not count here)

	// Protocol violations seen; every one must stay 0.
	undecodable  atomic.Int64 // a request body that is not the documented JSON
	wrongCache   atomic.Int64 // a request whose "cache" is not this upstream's cache
	terminalSent atomic.Int64 // an item sent with terminal=true (terminal items are never sent again)
	oversized    atomic.Int64 // a batch larger than batchSize
	emptyBatch   atomic.Int64 // a batch with no items
}

type syncRequest struct {
	Cache string `json:"cache"`
	Items []struct {
		ID       string          `json:"id"`
		Data     json.RawMessage `json:"data"`
		Terminal bool            `json:"terminal"`
		Version  int64           `json:"version"`
	} `json:"items"`
}

type syncEntry struct {
	ID       string `json:"id"`
	Action   string `json:"action"`
	Data     any    `json:"data"`
	Terminal bool   `json:"terminal"`
}

func newUpstream(cache string, slow time.Duration, terminalAt int64, batchSize int) *upstream {
	u := &upstream{cache: cache, slow: slow, terminalAt: terminalAt, batchSize: batchSize}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve)) // listens on 127.0.0.1:0
	return u
}

func (u *upstream) url() string { return u.srv.URL + "/sync" }

func (u *upstream) setMode(m mode) { u.mode.Store(int32(m)) }

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	m := mode(u.mode.Load())
	u.calls[m].Add(1)
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	var req syncRequest
	if err != nil || json.Unmarshal(body, &req) != nil {
		u.undecodable.Add(1)
		http.Error(w, "undecodable request", http.StatusBadRequest)
		return
	}
	if req.Cache != u.cache {
		u.wrongCache.Add(1)
	}
	if len(req.Items) > u.batchSize {
		u.oversized.Add(1)
	}
	if len(req.Items) == 0 {
		u.emptyBatch.Add(1)
	}
	for _, it := range req.Items {
		if it.Terminal {
			u.terminalSent.Add(1)
		}
	}
	switch m {
	case modeSlow:
		t := time.NewTimer(u.slow)
		select {
		case <-t.C:
		case <-r.Context().Done(): // autorefresh gave up (its timeout), or we are closing
			t.Stop()
			return
		}
	case mode500:
		http.Error(w, "flapping: 500", http.StatusInternalServerError)
		return
	case modeGarbage:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"items": [{"id": "`+req.Items[0].ID+`", "action": "upd`) // cut short: not JSON
		return
	}
	out := struct {
		Items []syncEntry `json:"items"`
	}{Items: make([]syncEntry, 0, len(req.Items))}
	for _, it := range req.Items {
		n := it.Version + 1
		out.Items = append(out.Items, syncEntry{
			ID: it.ID, Action: "update",
			Data:     map[string]any{"n": n, "by": u.cache},
			Terminal: n >= u.terminalAt,
		})
	}
	if m == modeOK {
		u.updated.Add(int64(len(out.Items)))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// flap moves every upstream one step along the schedule each phase, until
// ctx ends; then it leaves them all healthy. It returns the number of steps.
func flap(ctx context.Context, ups []*upstream, phase time.Duration) int {
	t := time.NewTicker(phase)
	defer t.Stop()
	step := 0
	for {
		for i, u := range ups {
			u.setMode(schedule[(step+i)%len(schedule)])
		}
		select {
		case <-ctx.Done():
			for _, u := range ups {
				u.setMode(modeOK)
			}
			return step
		case <-t.C:
			step++
		}
	}
}

// upstreamStats is what an upstream saw, for the report. It travels as JSON
// from the upstream process to the soak.
type upstreamStats struct {
	Cache        string          `json:"cache"`
	Calls        [numModes]int64 `json:"calls"` // by mode
	Updated      int64           `json:"updated"`
	Undecodable  int64           `json:"undecodable"`
	WrongCache   int64           `json:"wrongCache"`
	TerminalSent int64           `json:"terminalSent"`
	Oversized    int64           `json:"oversized"`
	EmptyBatch   int64           `json:"emptyBatch"`
}

func (u *upstream) stats() upstreamStats {
	st := upstreamStats{
		Cache: u.cache, Updated: u.updated.Load(),
		Undecodable: u.undecodable.Load(), WrongCache: u.wrongCache.Load(), TerminalSent: u.terminalSent.Load(),
		Oversized: u.oversized.Load(), EmptyBatch: u.emptyBatch.Load(),
	}
	for m := range numModes {
		st.Calls[m] = u.calls[m].Load()
	}
	return st
}

func (st upstreamStats) violations() int64 {
	return st.Undecodable + st.WrongCache + st.TerminalSent + st.Oversized + st.EmptyBatch
}

// upstreamGroup is the upstreams of one run, one per cache, with their
// flapping. It lives in the upstream process (see upstreamproc.go), or in
// the soak's own process with --upstreams-in-process.
type upstreamGroup struct {
	ups []*upstream

	mu       sync.Mutex
	stopFlap context.CancelFunc // nil when not flapping
	steps    chan int
}

func newUpstreamGroup(caches int, slow time.Duration, terminalAt int64, batchSize int) *upstreamGroup {
	g := &upstreamGroup{}
	for i := range caches {
		g.ups = append(g.ups, newUpstream(cacheName(i), slow, terminalAt, batchSize))
	}
	return g
}

// cacheName is the name of cache i, served by upstream i.
func cacheName(i int) string { return fmt.Sprintf("soak-%d", i) }

// endpoints lists the caches and their webhook URLs, in order.
func (g *upstreamGroup) endpoints() []endpoint {
	out := make([]endpoint, len(g.ups))
	for i, u := range g.ups {
		out[i] = endpoint{Cache: u.cache, URL: u.url()}
	}
	return out
}

// startFlap starts the schedule (see flap), unless it runs already.
func (g *upstreamGroup) startFlap(phase time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopFlap != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.stopFlap, g.steps = cancel, make(chan int, 1)
	go func() { g.steps <- flap(ctx, g.ups, phase) }()
}

// healAll ends the schedule, leaves every upstream healthy and returns the
// number of steps taken (0 if it was not running).
func (g *upstreamGroup) healAll() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopFlap == nil {
		return 0
	}
	g.stopFlap()
	n := <-g.steps
	g.stopFlap = nil
	return n
}

// closeClientConns closes the connections the server keeps to the upstreams.
func (g *upstreamGroup) closeClientConns() {
	for _, u := range g.ups {
		u.srv.CloseClientConnections()
	}
}

func (g *upstreamGroup) stats() []upstreamStats {
	out := make([]upstreamStats, len(g.ups))
	for i, u := range g.ups {
		out[i] = u.stats()
	}
	return out
}

func (g *upstreamGroup) close() {
	g.healAll()
	for _, u := range g.ups {
		u.srv.CloseClientConnections()
		u.srv.Close()
	}
}
