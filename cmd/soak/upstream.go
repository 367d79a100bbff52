package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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

// upstreamStats is what an upstream saw, for the report.
type upstreamStats struct {
	cache                                                        string
	calls                                                        [numModes]int64
	updated                                                      int64
	undecodable, wrongCache, terminalSent, oversized, emptyBatch int64
}

func (u *upstream) stats() upstreamStats {
	st := upstreamStats{
		cache: u.cache, updated: u.updated.Load(),
		undecodable: u.undecodable.Load(), wrongCache: u.wrongCache.Load(), terminalSent: u.terminalSent.Load(),
		oversized: u.oversized.Load(), emptyBatch: u.emptyBatch.Load(),
	}
	for m := range numModes {
		st.calls[m] = u.calls[m].Load()
	}
	return st
}

func (st upstreamStats) violations() int64 {
	return st.undecodable + st.wrongCache + st.terminalSent + st.oversized + st.emptyBatch
}
