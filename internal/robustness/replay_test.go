package robustness

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// checkReplay runs random item traffic while a stream of the cache's events
// is open from before the first item, lets the system go quiet (every item
// terminal, every delete carried out), and checks that the stream's events,
// replayed from the first, give exactly the items that list and get show.
func checkReplay(t *testing.T, cfg config, bin string, m mode) {
	started := time.Now()
	up := &upstream{failRate: 0.05, unchangedRate: 0.1}
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()
	httpc := newHTTPClient()
	defer httpc.CloseIdleConnections()

	s := startServer(t, bin, m)
	defer func() {
		for _, e := range s.log.errorLines() {
			t.Logf("%s server logged: %s", m.name, e)
		}
	}()
	defer s.stop(syscall.SIGTERM)
	probs := &problems{}
	rcfg := cfg
	rcfg.caches, rcfg.items = 1, cfg.items*4
	w := newWorkload(rcfg, upSrv.URL)
	w.itemsOnly = true
	h := NewHistory() // not checked here: the calls only make changes
	c0 := &apiClient{http: httpc, h: h, base: s.base, problems: probs}
	cache := w.caches[0]
	if a := c0.putCache(cache, upSrv.URL, 30*time.Millisecond, 5, false); a.status != 201 {
		t.Fatalf("PUT cache: %d %s", a.status, a.body)
	}
	stream, err := openEvents(httpc, s.base, cache)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.close()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	var wg sync.WaitGroup
	for i := range cfg.clients {
		c := &apiClient{http: httpc, h: h, id: i, base: s.base, problems: probs}
		crng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		wg.Go(func() { w.run(c, crng, cfg.ops*2, nil) })
	}
	wg.Wait()

	// Sync-on-create is off: the periodic cycle makes the first sync of a
	// new item, racing its create, which is where events came out of order.

	// Quiet: every item terminal and no delete pending. Then the stream
	// must catch up with what the API shows.
	var listed map[string]itemJSON
	quiet := func() bool {
		a := c0.send("GET", "/v1/caches/"+cache+"/items?limit=1000", "")
		if a.status != 200 {
			return false
		}
		var page struct{ Items []itemJSON }
		if json.Unmarshal(a.body, &page) != nil {
			return false
		}
		listed = map[string]itemJSON{}
		for _, it := range page.Items {
			if !it.Terminal || it.PendingDelete {
				return false
			}
			listed[it.ID] = it
		}
		return true
	}
	waitFor(t, 30*time.Second, "every item terminal and no delete pending", quiet)
	var replayed map[string]itemJSON
	var events int
	var streamProblems []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		replayed, events, streamProblems = stream.state()
		if sameItems(replayed, listed) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := diffItems(replayed, listed); d != "" {
		t.Errorf("%s: the events replayed do not give what list shows (stream vs list):\n%s", m.name, d)
	}
	for _, id := range w.ids {
		a := c0.send("GET", "/v1/caches/"+cache+"/items/"+id, "")
		it, listedIt := listed[id]
		var got itemJSON
		switch {
		case a.status == 404 && !listedIt:
		case a.status == 200 && json.Unmarshal(a.body, &got) == nil && listedIt && sameItem(got, it):
		default:
			t.Errorf("%s: GET %s: %d %s, list showed %v (listed %v)", m.name, id, a.status, a.body, it, listedIt)
		}
	}
	for _, p := range streamProblems {
		t.Errorf("%s: event stream: %s", m.name, p)
	}
	for _, p := range probs.all() {
		t.Errorf("%s: %s", m.name, p)
	}
	for _, a := range up.Anomalies() {
		t.Errorf("%s: %s", m.name, a)
	}
	t.Logf("%s: %d HTTP calls, %d events replayed into %d items, equal to list and get: %v; took %v",
		m.name, probs.calls.Load(), events, len(listed), sameItems(replayed, listed), time.Since(started).Round(time.Millisecond))
}

func sameItem(a, b itemJSON) bool {
	return a.ID == b.ID && a.Data == b.Data && a.Terminal == b.Terminal && a.Version == b.Version
}

func sameItems(a, b map[string]itemJSON) bool { return diffItems(a, b) == "" }

func diffItems(stream, list map[string]itemJSON) string {
	ids := map[string]bool{}
	for id := range stream {
		ids[id] = true
	}
	for id := range list {
		ids[id] = true
	}
	var lines []string
	for id := range ids {
		a, inA := stream[id]
		b, inB := list[id]
		if inA && inB && sameItem(a, b) {
			continue
		}
		lines = append(lines, fmt.Sprintf("  %s: %s vs %s", id, describeItem(a, inA), describeItem(b, inB)))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func describeItem(it itemJSON, ok bool) string {
	if !ok {
		return "absent"
	}
	return describeSeen(it.seen())
}
