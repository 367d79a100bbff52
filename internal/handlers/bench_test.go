package handlers_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"

	"github.com/autorefresh/autorefresh/api"
	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/handlers"
	"github.com/autorefresh/autorefresh/internal/logging"
)

// The handler benchmarks measure what the server does per request beyond
// net/http, wired as cmd/server wires it: validation against the spec,
// metrics, and the buffered access log (to io.Discard). There is no network,
// so allocs/op and ns/op move only with the handler's own code:
//
//	go test -run '^$' -bench . -benchmem -count 6 ./internal/handlers/ | benchstat -
//
// The figures with the network and a load generator are make bench-http's.

func benchHandler(b *testing.B) http.Handler {
	b.Helper()
	log, accessLog, stopLog := logging.Open(io.Discard, zapcore.InfoLevel)
	b.Cleanup(stopLog)
	reg := prometheus.NewRegistry()
	svc, err := backend.Open(context.Background(), backend.Options{InMemory: true, Registerer: reg, Logger: log, Egress: &egress.Policy{AllowPrivate: true}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(svc.Close)
	if err := svc.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	spec, err := api.Load()
	if err != nil {
		b.Fatal(err)
	}
	h, err := handlers.NewServer(handlers.Deps{Service: svc.Service(), Watch: svc.Hub(), Logger: log, AccessLog: accessLog, Registerer: reg, Gatherer: reg, Spec: spec, SpecYAML: api.Spec()})
	if err != nil {
		b.Fatal(err)
	}
	for _, setup := range []struct{ method, path, body string }{
		{http.MethodPut, "/v1/caches/bench", `{"webhook":{"url":"http://127.0.0.1:9/sync"},"resyncPeriod":"1h","syncOnCreate":false,"size":10000000}`},
		{http.MethodPost, "/v1/caches/bench/items", `{"id":"item1","data":{"status":"Not-started","attempt":0}}`},
	} {
		w := &discardWriter{}
		h.ServeHTTP(w, benchRequest(setup.method, setup.path, setup.body))
		if w.status != http.StatusCreated {
			b.Fatalf("%s %s: status %d", setup.method, setup.path, w.status)
		}
	}
	return h
}

func benchRequest(method, path, body string) *http.Request {
	r, _ := http.NewRequest(method, "http://bench"+path, strings.NewReader(body))
	if body == "" {
		r.Body = http.NoBody // as net/http's server gives a GET
	} else {
		r.Header.Set("Content-Type", "application/json")
	}
	r.RemoteAddr = "127.0.0.1:40000"
	return r
}

// discardWriter is the cheapest ResponseWriter that still records the
// status, so that the benchmark fails rather than measuring error paths.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

func BenchmarkGetItem(b *testing.B) {
	h := benchHandler(b)
	r := benchRequest(http.MethodGet, "/v1/caches/bench/items/item1", "")
	w := &discardWriter{}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.header)
		w.status = 0
		h.ServeHTTP(w, r)
	}
	if w.status != http.StatusOK {
		b.Fatalf("status %d", w.status)
	}
}

func BenchmarkCreateItem(b *testing.B) {
	h := benchHandler(b)
	w := &discardWriter{}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		body := `{"id":"p` + strconv.Itoa(n) + `","data":{"status":"Not-started","attempt":0}}`
		clear(w.header)
		w.status = 0
		h.ServeHTTP(w, benchRequest(http.MethodPost, "/v1/caches/bench/items", body))
		if w.status != http.StatusCreated {
			b.Fatalf("create %d: status %d", n, w.status)
		}
	}
}
