package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/handlers"
	"github.com/autorefresh/autorefresh/internal/syncers"
)

// tracedEnv is a server and its service traced into memory, as cmd/server
// wires them when tracing is on.
func tracedEnv(t *testing.T) (*env, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	// Synchronous export: a span is in exp as soon as it ends.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	prop := propagation.TraceContext{}
	e := newEnvWith(t,
		func(o *backend.Options) { o.Tracing = syncers.Tracing{TracerProvider: tp, Propagator: prop} },
		func(d *handlers.Deps) { d.TracerProvider, d.Propagator = tp, prop })
	return e, exp
}

// spanAttrs maps a span's attributes by key.
func spanAttrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// spansNamed returns the exported spans called name.
func spansNamed(exp *tracetest.InMemoryExporter, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func TestRequestSpansNamedByRoute(t *testing.T) {
	e, exp := tracedEnv(t)
	const itemID = "item-7f3a9c"
	if r := e.putCache("jobs", e.webhookBody(`, "syncOnCreate": false`)); r.status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/caches/jobs/items", "application/json", `{"id": "`+itemID+`"}`); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	get := e.do("GET", "/v1/caches/jobs/items/"+itemID, "", "")
	if get.status != http.StatusOK {
		t.Fatalf("GET: %d %s", get.status, get.body)
	}
	// A caller's trace context is honoured: the span joins its trace.
	caller := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:  trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled,
	})
	carrier := propagation.HeaderCarrier{}
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), caller), carrier)
	e.send("GET", "/v1/caches/jobs", map[string]string{"Traceparent": carrier.Get("Traceparent")}, "")
	e.do("GET", "/no/such/"+itemID, "", "")
	// Close waits for the handlers, so every server span has ended (a
	// client has its answer before the span ends).
	e.srv.Close()

	spans := spansNamed(exp, "GET /v1/caches/{cache}/items/{id}")
	if len(spans) != 1 {
		t.Fatalf("%d spans named by the item route, want 1; all: %v", len(spans), names(exp))
	}
	s := spans[0]
	a := spanAttrs(s)
	if s.SpanKind != trace.SpanKindServer {
		t.Errorf("span kind %s, want server", s.SpanKind)
	}
	for key, want := range map[attribute.Key]attribute.Value{
		"http.route":                attribute.StringValue("/v1/caches/{cache}/items/{id}"),
		"http.response.status_code": attribute.IntValue(http.StatusOK),
		handlers.AttrRequestID:      attribute.StringValue(get.header.Get("X-Request-Id")),
	} {
		if a[key] != want {
			t.Errorf("attribute %s = %v, want %v", key, a[key].String(), want.String())
		}
	}
	for _, want := range []string{"PUT /v1/caches/{cache}", "POST /v1/caches/{cache}/items", "GET"} {
		if len(spansNamed(exp, want)) != 1 {
			t.Errorf("no span %q; all: %v", want, names(exp))
		}
	}
	for _, n := range names(exp) {
		if strings.Contains(n, itemID) || strings.Contains(n, "jobs") {
			t.Errorf("span name %q holds a path segment", n)
		}
	}
	joined := spansNamed(exp, "GET /v1/caches/{cache}")
	if len(joined) != 1 || joined[0].SpanContext.TraceID() != caller.TraceID() || joined[0].Parent.SpanID() != caller.SpanID() {
		t.Errorf("span of a request with traceparent %q: %v, want it in the caller's trace; all: %v", carrier.Get("Traceparent"), joined, names(exp))
	}
}

// names lists the exported spans' names, for failure messages.
func names(exp *tracetest.InMemoryExporter) []string {
	var out []string
	for _, s := range exp.GetSpans() {
		out = append(out, s.Name)
	}
	return out
}

// The service built by the backend traces its batches: the webhook call
// carries a traceparent whose trace is that of an exported sync span.
func TestWebhookCallCarriesSyncTrace(t *testing.T) {
	e, exp := tracedEnv(t)
	traceparents := make(chan string, 16)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case traceparents <- r.Header.Get("Traceparent"):
		default: // the test has what it needs
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(up.Close)
	body := `{"webhook": {"url": "` + up.URL + `/sync"}, "resyncPeriod": "1h"}`
	if r := e.putCache("jobs", body); r.status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/caches/jobs/items", "application/json", `{"id": "a"}`); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var got string
	select {
	case got = <-traceparents:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook call within 10s of a create")
	}
	remote := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
		propagation.HeaderCarrier{"Traceparent": []string{got}}))
	if !remote.IsValid() {
		t.Fatalf("traceparent %q is not valid", got)
	}
	// The sync span ends after the upstream answered: wait for it.
	eventually(t, "the sync span", func() bool {
		for _, s := range spansNamed(exp, syncers.SpanName) {
			if s.SpanContext.TraceID() == remote.TraceID() && s.SpanContext.SpanID() == remote.SpanID() {
				a := spanAttrs(s)
				return a[syncers.AttrCache] == attribute.StringValue("jobs") && a[syncers.AttrBatchSize] == attribute.IntValue(1) &&
					a[syncers.AttrOutcome] == attribute.StringValue(syncers.OutcomeOK)
			}
		}
		return false
	})
}
