package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// countingWriter discards a response, counting its bytes.
type countingWriter struct {
	h http.Header
	n int
}

func (c *countingWriter) Header() http.Header         { return c.h }
func (c *countingWriter) Write(b []byte) (int, error) { c.n += len(b); return len(b), nil }
func (c *countingWriter) WriteHeader(int)             {}

// A list page is written as a stream: serving a page of 3.5 MB allocates
// far less than the page, instead of building the body whole first.
func TestListPageIsStreamed(t *testing.T) {
	e := newEnv(t)
	if r := e.putCache("big", `{"webhook": {"url": "`+e.upstream.URL+`/sync"}, "resyncPeriod": "1h", "syncOnCreate": false}`); r.status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	data := `"` + strings.Repeat("x", 500<<10) + `"`
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		if r := e.do("POST", "/v1/caches/big/items", "application/json", `{"id": "`+id+`", "data": `+data+`}`); r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", id, r.status, r.body)
		}
	}
	h := e.srv.Config.Handler
	w := &countingWriter{h: http.Header{}}
	req := httptest.NewRequest(http.MethodGet, "/v1/caches/big/items?limit=100", nil)
	runtime.GC() // empties the body pools, so a body built whole would be allocated now
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	h.ServeHTTP(w, req)
	runtime.ReadMemStats(&after)
	if w.n < 3<<20 {
		t.Fatalf("the page is %d bytes, want the 7 items of 500 KiB", w.n)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("serving a %d-byte page allocated %d bytes: the body was built whole", w.n, alloc)
	}
}
