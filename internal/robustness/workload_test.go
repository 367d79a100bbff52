package robustness

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"
)

// workload is the randomized traffic of one run: a few caches with a few
// item ids each, so that clients collide on the same items often.
type workload struct {
	caches  []string
	ids     []string
	webhook string
	gen     atomic.Int64 // data tags, unique over the run
	// itemsOnly leaves the caches alone: the replay check needs its cache,
	// and its stream, to live through the whole run.
	itemsOnly bool
}

func newWorkload(cfg config, webhook string) *workload {
	w := &workload{webhook: webhook}
	for i := range cfg.caches {
		w.caches = append(w.caches, fmt.Sprintf("lin-%d", i))
	}
	for i := range cfg.items {
		w.ids = append(w.ids, fmt.Sprintf("item-%d", i))
	}
	return w
}

// run makes up to ops random calls, and stops early when stop is closed or
// the server stops answering (it was killed or is shutting down).
func (w *workload) run(c *apiClient, rng *rand.Rand, ops int, stop <-chan struct{}) {
	for range ops {
		select {
		case <-stop:
			return
		default:
		}
		cache := w.caches[rng.IntN(len(w.caches))]
		id := w.ids[rng.IntN(len(w.ids))]
		var a answer
		r := rng.IntN(100)
		if w.itemsOnly {
			r = rng.IntN(91)
		}
		switch {
		case r < 30:
			a = c.create(cache, id, int(w.gen.Add(1)), rng.IntN(10) == 0)
		case r < 55:
			a = c.get(cache, id)
		case r < 65:
			a = c.list(cache, w.ids)
		case r < 83:
			a = c.delete(cache, id)
		case r < 91:
			a = c.syncNow(cache)
		case r < 98:
			a = w.putCache(c, rng, cache)
		default:
			a = c.deleteCache(cache)
		}
		if a.broken {
			return
		}
	}
}

// putCache registers or re-registers a cache with a random short period,
// so that syncs come often and reconfigurations race the rest; a quarter
// of them turn sync-on-create off, so that the first sync of an item comes
// from the periodic cycle, racing its create.
func (w *workload) putCache(c *apiClient, rng *rand.Rand, cache string) answer {
	periods := []time.Duration{20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond}
	return c.putCache(cache, w.webhook, periods[rng.IntN(len(periods))], 1+rng.IntN(5), rng.IntN(4) != 0)
}

// newHTTPClient is the workload's HTTP client: every call is bounded.
func newHTTPClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
}
