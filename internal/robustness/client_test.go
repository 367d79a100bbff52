package robustness

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// apiClient makes the calls of the workload over real HTTP and records each
// one in the history with its call and return times.
type apiClient struct {
	http *http.Client
	h    *History
	id   int // porcupine's client id
	base string

	// problems are answers no model state explains at all (a 500, a status
	// the API does not give for the call): reported as failures beside the
	// linearizability verdict.
	problems *problems
}

// problems collects what the workload saw that is wrong in itself.
type problems struct {
	calls atomic.Int64 // HTTP calls made, answered or not

	mu   sync.Mutex
	list []string
	n500 int
}

func (p *problems) add(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.list) < 50 {
		p.list = append(p.list, fmt.Sprintf(format, args...))
	}
}

func (p *problems) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.list...)
}

// itemJSON is an item as the API shows it.
type itemJSON struct {
	ID            string   `json:"id"`
	Data          itemData `json:"data"`
	Terminal      bool     `json:"terminal"`
	Version       int      `json:"version"`
	PendingDelete bool     `json:"pendingDelete"`
}

func (it itemJSON) seen() Seen {
	return Seen{Gen: it.Data.G, N: it.Data.N, Version: it.Version, Terminal: it.Terminal, PendingDelete: it.PendingDelete}
}

// answer is one HTTP exchange. ok is false when there was no usable answer:
// a transport error, a timeout, or a 5xx or 429, whose outcome is unknown.
type answer struct {
	status int
	body   []byte
	ok     bool
	broken bool // the connection failed: the server is probably down
}

func (c *apiClient) send(method, path, body string) answer {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		panic(err) // the workload builds only valid requests
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	c.problems.calls.Add(1)
	res, err := c.http.Do(req)
	if err != nil {
		return answer{broken: true}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{broken: true}
	}
	a := answer{status: res.StatusCode, body: b, ok: res.StatusCode < 500 && res.StatusCode != 429}
	if res.StatusCode == 500 {
		c.problems.mu.Lock()
		c.problems.n500++
		c.problems.mu.Unlock()
		c.problems.add("%s %s: 500 %s", method, path, b)
	}
	return a
}

// expect records a call's answer, or the call as unknown if it has none.
// An answer whose status is not among want is a problem, recorded as
// unknown so that the checker still has the rest of the history.
func (c *apiClient) expect(in Input, call int64, a answer, want ...int) {
	ret := c.h.Now()
	if !a.ok || !contains(want, a.status) {
		if a.ok {
			c.problems.add("%s: unexpected %d %s", describeOperation(in, Output{Status: a.status}), a.status, a.body)
		}
		if in.Kind != Get && in.Kind != ListSeen {
			c.h.AddUnknown(c.id, in, call)
		}
		return
	}
	out := Output{Status: a.status}
	if a.status >= 200 && a.status <= 202 && in.Kind != CachePut {
		var it itemJSON
		if err := json.Unmarshal(a.body, &it); err != nil {
			c.problems.add("%s: item %q: %v", in.Kind, a.body, err)
			return
		}
		out.Item = it.seen()
	}
	c.h.Add(c.id, in, call, ret, out)
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func (c *apiClient) putCache(cache, webhook string, resync time.Duration, batch int, syncOnCreate bool) answer {
	in := Input{Kind: CachePut, Cache: cache}
	call := c.h.Now()
	body := fmt.Sprintf(`{"webhook": {"url": %q, "timeout": "2s"}, "resyncPeriod": %q, "batchSize": %d, "syncOnCreate": %v}`,
		webhook, resync.String(), batch, syncOnCreate)
	a := c.send("PUT", "/v1/caches/"+cache, body)
	c.expect(in, call, a, 200, 201)
	return a
}

func (c *apiClient) deleteCache(cache string) answer {
	in := Input{Kind: CacheDelete, Cache: cache}
	call := c.h.Now()
	a := c.send("DELETE", "/v1/caches/"+cache, "")
	c.expect(in, call, a, 204, 404)
	return a
}

func (c *apiClient) create(cache, id string, gen int, terminal bool) answer {
	in := Input{Kind: Create, Cache: cache, Item: id, Gen: gen, Terminal: terminal}
	call := c.h.Now()
	body := fmt.Sprintf(`{"id": %q, "data": {"g": %d, "n": 1}, "terminal": %v}`, id, gen, terminal)
	a := c.send("POST", "/v1/caches/"+cache+"/items", body)
	c.expect(in, call, a, 200, 201, 404)
	return a
}

func (c *apiClient) get(cache, id string) answer {
	in := Input{Kind: Get, Cache: cache, Item: id}
	call := c.h.Now()
	a := c.send("GET", "/v1/caches/"+cache+"/items/"+id, "")
	c.expect(in, call, a, 200, 404)
	return a
}

func (c *apiClient) delete(cache, id string) answer {
	in := Input{Kind: Delete, Cache: cache, Item: id}
	call := c.h.Now()
	a := c.send("DELETE", "/v1/caches/"+cache+"/items/"+id, "")
	c.expect(in, call, a, 202, 404)
	return a
}

// list reads the whole cache in one page and records, for every id the
// workload uses in it, whether the page showed it.
func (c *apiClient) list(cache string, ids []string) answer {
	call := c.h.Now()
	a := c.send("GET", "/v1/caches/"+cache+"/items?limit=1000", "")
	ret := c.h.Now()
	if !a.ok {
		return a
	}
	shown := map[string]itemJSON{}
	switch a.status {
	case 200:
		var page struct {
			Items      []itemJSON `json:"items"`
			NextCursor string     `json:"nextCursor"`
		}
		if err := json.Unmarshal(a.body, &page); err != nil {
			c.problems.add("list %s: %q: %v", cache, a.body, err)
			return a
		}
		if page.NextCursor != "" {
			c.problems.add("list %s: a next page after %d items with limit 1000", cache, len(page.Items))
		}
		for _, it := range page.Items {
			shown[it.ID] = it
		}
	case 404:
	default:
		c.problems.add("list %s: unexpected %d %s", cache, a.status, a.body)
		return a
	}
	for _, id := range ids {
		in := Input{Kind: ListSeen, Cache: cache, Item: id}
		if it, ok := shown[id]; ok {
			c.h.Add(c.id, in, call, ret, Output{Status: 200, Item: it.seen()})
		} else {
			c.h.Add(c.id, in, call, ret, Output{Status: 404})
		}
	}
	return a
}

// syncNow asks for a cycle; it changes nothing the model sees directly.
func (c *apiClient) syncNow(cache string) answer {
	return c.send("POST", "/v1/caches/"+cache+"/sync", "")
}
