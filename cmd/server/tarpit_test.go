package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// tarpit is an upstream that never answers: it counts the calls it holds,
// in all and by cache, and keeps them until the test ends.
type tarpit struct {
	mu      sync.Mutex
	holding int
	peak    int
	byCache map[string]int
}

func newTarpit(t *testing.T) (*tarpit, string) {
	tp := &tarpit{byCache: map[string]int{}}
	end := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Cache string `json:"cache"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		tp.mu.Lock()
		tp.holding++
		tp.peak = max(tp.peak, tp.holding)
		tp.byCache[req.Cache]++
		tp.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-end:
		}
		tp.mu.Lock()
		tp.holding--
		tp.mu.Unlock()
	}))
	t.Cleanup(func() { close(end); srv.Close() })
	return tp, srv.URL + "/sync"
}

func (tp *tarpit) state() (holding, peak int, caches map[string]int) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	caches = map[string]int{}
	for k, v := range tp.byCache {
		caches[k] = v
	}
	return tp.holding, tp.peak, caches
}

// A tarpit upstream holds at most --max-webhook-calls calls of the whole
// server, every cache gets its share of them, and /healthz and the API
// answer at once meanwhile. The audit saw five caches of parallelism 1,000
// against such a listener take every file descriptor and /healthz time out.
func TestTarpitCannotTakeTheServerDown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	bin := buildServer(t)
	tp, url := newTarpit(t)
	const maxCalls, caches = 8, 3
	p := startProc(t, bin, "--in-memory", "--allow-webhook-cidrs", "127.0.0.0/8",
		"--max-webhook-calls", fmt.Sprint(maxCalls), "--shutdown-timeout", "1s")
	t.Cleanup(func() { p.cmd.Process.Kill(); p.wait() })
	c := newClient(t, p.addr)
	// Every cache is registered before any is busy: the shares are kept
	// for the caches that share the bound, and a hung call cannot be taken
	// back from a cache that filled the slots before another was made.
	for i := range caches {
		name := fmt.Sprint("slow", i)
		if st, m := c.do("PUT", "/v1/caches/"+name, `{"webhook": {"url": "`+url+`", "timeout": "5m"}, "resyncPeriod": "1h", "parallelism": 100, "batchSize": 1}`); st != http.StatusCreated {
			t.Fatalf("PUT %s: %d %v", name, st, m)
		}
	}
	for i := range caches {
		name := fmt.Sprint("slow", i)
		for j := range 20 {
			if st, m := c.do("POST", "/v1/caches/"+name+"/items", fmt.Sprintf(`{"id": "i%d"}`, j)); st != http.StatusCreated {
				t.Fatalf("create: %d %v", st, m)
			}
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		holding, _, byCache := tp.state()
		if holding == maxCalls && len(byCache) == caches {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tarpit holds %d calls from %v; want %d from all %d caches", holding, byCache, maxCalls, caches)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range 10 {
		start := time.Now()
		if st, _ := c.do("GET", "/healthz", ""); st != http.StatusOK {
			t.Fatalf("/healthz: %d", st)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("/healthz took %v while the tarpit held every webhook call", d)
		}
		if st, _ := c.do("GET", "/v1/caches/slow0/items/i0", ""); st != http.StatusOK {
			t.Fatalf("GET item: %d", st)
		}
	}
	if _, peak, _ := tp.state(); peak > maxCalls {
		t.Fatalf("the tarpit held %d calls at once, more than --max-webhook-calls %d", peak, maxCalls)
	}
}
