package handlers_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/api"
	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/handlers"
)

// FuzzHandler sends arbitrary methods, paths, headers and bodies to the whole
// HTTP handler. It must never answer 5xx, and every status must be one the
// spec declares for the operation (explicitly, not through `default`), or a
// 404/405 for what matches no operation.
//
//	go test -run '^$' -fuzz FuzzHandler -fuzztime 1m ./internal/handlers/
func FuzzHandler(f *testing.F) {
	spec, err := api.Load()
	if err != nil {
		f.Fatal(err)
	}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		f.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	ctx := context.Background()
	b, err := backend.Open(ctx, backend.Options{InMemory: true, Registerer: reg, Logger: zap.NewNop(), Egress: &egress.Policy{}, MaxItems: 1000})
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	if err := b.Start(ctx); err != nil {
		f.Fatal(err)
	}
	caches := b.Service()
	// A cache to hit, whose webhook is never called (public address refused
	// at dial time, and syncs only hourly).
	if _, err := caches.Put(ctx, "jobs", autorefresh.Config{Webhook: autorefresh.Webhook{URL: "http://example.com/sync"}, ResyncPeriod: autorefresh.Duration(3600e9)}); err != nil {
		f.Fatal(err)
	}
	h, err := handlers.NewServer(handlers.Deps{Service: caches, Logger: zap.NewNop(), Registerer: reg, Gatherer: reg, Spec: spec, SpecYAML: api.Spec()})
	if err != nil {
		f.Fatal(err)
	}

	f.Add("GET", "/v1/caches/jobs/items/a", "", []byte(""))
	f.Add("POST", "/v1/caches/jobs/items", "application/json", []byte(`{"id":"a","data":{"x":[1,2]}}`))
	f.Add("PUT", "/v1/caches/x", "application/json", []byte(`{"webhook":{"url":"http://example.com/"},"resyncPeriod":"1s"}`))
	f.Add("DELETE", "/v1/caches/jobs/items/a", "", []byte(""))
	f.Add("PATCH", "/v1/caches", "text/plain", []byte("x"))
	f.Add("GET", "/v1/caches/jobs/items?limit=0&cursor=%%", "", []byte(""))
	f.Fuzz(func(t *testing.T, method, path, ctype string, body []byte) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") || len(path) > 4096 {
			return
		}
		req, err := http.NewRequest(method, "http://127.0.0.1"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		status := rec.Code
		if status >= 500 {
			t.Fatalf("%s %q: %d %s", method, path, status, rec.Body.Bytes())
		}
		// Operation endpoints outside /v1 and the docs are not checked
		// against response lists; only /v1 is the contract.
		if !strings.HasPrefix(req.URL.Path, "/v1/") {
			return
		}
		route, _, err := router.FindRoute(req)
		if err != nil {
			if status != http.StatusNotFound && status != http.StatusMethodNotAllowed && status != http.StatusBadRequest {
				t.Fatalf("%s %q matches no operation but got %d", method, path, status)
			}
			return
		}
		if route.Operation.Responses.Value(strconv.Itoa(status)) == nil {
			t.Fatalf("%s %q (%s): status %d is not declared: %s", method, path, route.Operation.OperationID, status, rec.Body.Bytes())
		}
	})
}

// validMethod keeps methods net/http would accept on the wire.
func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for _, c := range m {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}
