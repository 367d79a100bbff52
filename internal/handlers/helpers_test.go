package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/autorefresh/autorefresh/api"
	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/exampleupstream"
	"github.com/autorefresh/autorefresh/internal/handlers"
	"github.com/autorefresh/autorefresh/internal/watch"
)

// env is a running server on loopback with the example upstream beside it.
type env struct {
	t        *testing.T
	srv      *httptest.Server
	upstream *httptest.Server
	up       *exampleupstream.Upstream
	reg      *prometheus.Registry
	logs     *observer.ObservedLogs
	hub      *watch.Hub
	router   routers.Router
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil, nil)
}

// newEnvWith lets a test change the service's options and the server's
// dependencies before they are used.
func newEnvWith(t *testing.T, opts func(*backend.Options), deps func(*handlers.Deps)) *env {
	t.Helper()
	return buildEnv(t, opts, deps, nil)
}

// buildEnv is newEnvWith that can also configure the http.Server before it
// starts (timeouts, shutdown hooks).
func buildEnv(t *testing.T, opts func(*backend.Options), deps func(*handlers.Deps), server func(*http.Server)) *env {
	t.Helper()
	e := &env{t: t, reg: prometheus.NewRegistry()}
	core, logs := observer.New(zap.DebugLevel)
	e.logs = logs
	log := zap.New(core)

	up, err := exampleupstream.New(exampleupstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.up = up
	e.upstream = httptest.NewServer(up)
	t.Cleanup(e.upstream.Close)

	// The service in memory, with its hub, as cmd/server opens it.
	bo := backend.Options{InMemory: true, Registerer: e.reg, Logger: log, Egress: &egress.Policy{AllowPrivate: true}}
	if opts != nil {
		opts(&bo)
	}
	b, err := backend.Open(context.Background(), bo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.hub = b.Hub()

	spec, err := api.Load()
	if err != nil {
		t.Fatal(err)
	}
	e.router, err = gorillamux.NewRouter(spec)
	if err != nil {
		t.Fatal(err)
	}
	d := handlers.Deps{Service: b.Service(), Watch: b.Hub(), Ready: b.Ready, Logger: log, Registerer: e.reg, Gatherer: e.reg, Spec: spec, SpecYAML: api.Spec()}
	if deps != nil {
		deps(&d)
	}
	h, err := handlers.NewServer(d)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewUnstartedServer(h)
	// As cmd/server does: open streams and long-polls end when the
	// server's shutdown begins.
	e.srv.Config.RegisterOnShutdown(e.hub.Close)
	if server != nil {
		server(e.srv.Config)
	}
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

// resp is a response with its body read.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// do sends a request and checks the response against the spec: its status
// must be declared and its body must match the declared schema.
func (e *env) do(method, path, contentType string, body string) resp {
	e.t.Helper()
	return e.doAs("", method, path, contentType, body)
}

// doAs is do with a bearer token ("" sends none).
func (e *env) doAs(token, method, path, contentType string, body string) resp {
	e.t.Helper()
	header := map[string]string{}
	if token != "" {
		header["Authorization"] = "Bearer " + token
	}
	if contentType != "" {
		header["Content-Type"] = contentType
	}
	return e.send(method, path, header, body)
}

// send is do with any headers (Host included), checked against the spec
// like every other response.
func (e *env) send(method, path string, header map[string]string, body string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body == "" {
		req.Body = http.NoBody
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.checkAgainstSpec(req, res, b)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// checkAgainstSpec validates a response against api/openapi.yaml, so that
// the spec and the server cannot drift apart.
func (e *env) checkAgainstSpec(req *http.Request, res *http.Response, body []byte) {
	e.t.Helper()
	route, params, err := e.router.FindRoute(req)
	if err != nil && strings.HasSuffix(req.URL.Path, "/items/batch") {
		// OpenAPI matches the concrete path .../items/batch (createItems,
		// POST only) before .../items/{id}, so a router finds no GET,
		// PATCH or DELETE there; the server serves those as the item
		// whose id is "batch", and so they are checked.
		alias := req.Clone(req.Context())
		alias.URL.Path = strings.TrimSuffix(req.URL.Path, "batch") + "x"
		if route, params, err = e.router.FindRoute(alias); err == nil {
			params["id"] = "batch"
		}
	}
	if err != nil {
		// Unknown routes and methods must still answer in the JSON error form.
		var m map[string]any
		if json.Unmarshal(body, &m) != nil || m["code"] == nil || m["message"] == nil {
			e.t.Errorf("%s %s: %d with a body not in the error form: %q", req.Method, req.URL.Path, res.StatusCode, body)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		// Non-JSON bodies (the spec's YAML, Swagger UI's HTML, metrics
		// text) are checked for a declared status only.
		Options: &openapi3filter.Options{IncludeResponseStatus: true,
			ExcludeResponseBody: !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json")},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		e.t.Errorf("%s %s: response %d does not match the spec: %v\nbody: %s", req.Method, req.URL.Path, res.StatusCode, err, body)
	}
}

func (e *env) putCache(name, body string) resp {
	e.t.Helper()
	return e.do(http.MethodPut, "/v1/caches/"+name, "application/json", body)
}

func (e *env) webhookBody(extra string) string {
	return `{"webhook": {"url": "` + e.upstream.URL + `/sync"}, "resyncPeriod": "50ms"` + extra + `}`
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
