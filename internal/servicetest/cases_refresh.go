package servicetest

import (
	"encoding/json"
	"fmt"
	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// refreshCases cover the refresh pipeline: sync-on-create coalescing and
// its fairness to the periodic refresh.
var refreshCases = []testCase{
	{"SyncOnCreateCoalesces", testSyncOnCreateCoalesces},
}

// batchIDs reads the ids of a webhook batch, or answers 400 and reports
// false.
func batchIDs(w http.ResponseWriter, r *http.Request) ([]string, bool) {
	var req struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	}
	ids := make([]string, len(req.Items))
	for i, it := range req.Items {
		ids[i] = it.ID
	}
	return ids, true
}

// countingUpstream answers every batch with 204 and counts calls and the
// items they carried.
type countingUpstream struct {
	mu    sync.Mutex
	calls int
	items map[string]int
}

func newCountingUpstream(t *testing.T) (*countingUpstream, string) {
	u := &countingUpstream{items: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids, ok := batchIDs(w, r)
		if !ok {
			return
		}
		u.mu.Lock()
		u.calls++
		for _, id := range ids {
			u.items[id]++
		}
		u.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return u, srv.URL + "/sync"
}

func (u *countingUpstream) counts() (calls, distinct int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls, len(u.items)
}

// A burst of creates is synced in batches of batchSize, not one call per
// item: the audit saw 1,030 calls for 5,000 creates where 50 would do.
func testSyncOnCreateCoalesces(t *testing.T, f Factory) {
	up, url := newCountingUpstream(t)
	s, _ := open1(t, f, Limits{})
	ctx := ctxT(t)
	c := cfg(url, time.Hour, true)
	c.BatchSize = 100
	mustPut(t, s, "burst", c, true)
	const clients, perClient = 16, 50
	var wg sync.WaitGroup
	for g := range clients {
		wg.Go(func() {
			for i := range perClient {
				if _, _, err := s.CreateItem(ctx, "burst", autorefresh.NewItem{ID: fmt.Sprintf("%d-%d", g, i), Data: nil, Terminal: false}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	const total = clients * perClient
	waitFor(t, "every created item synced", 10*time.Second, func() bool {
		_, distinct := up.counts()
		return distinct == total
	})
	// Each linger (tens of ms) cuts its items into batches of 100; how many
	// lingers a burst spans depends on the machine, so the bound is loose,
	// and still far below one call per item.
	if calls, _ := up.counts(); calls > total/4 {
		t.Fatalf("%d creates made %d webhook calls, want at most %d", total, calls, total/4)
	}
}
