package syncers

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/autorefresh/autorefresh/webhook"
)

// tracing gives the options an SDK provider that exports synchronously
// into memory (so a span is there as soon as it ends) and the W3C
// propagator, and returns the exporter.
func tracing(t *testing.T, o *Options) *tracetest.InMemoryExporter {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	o.TracerProvider, o.Propagator = tp, propagation.TraceContext{}
	return exp
}

// onlySpan returns the one span exported.
func onlySpan(t *testing.T, exp *tracetest.InMemoryExporter) tracetest.SpanStub {
	t.Helper()
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans exported, want 1: %v", len(spans), spans)
	}
	return spans[0]
}

// attrs maps a span's attributes by key.
func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestSyncSpanAndTraceparent(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	up := newUpstream(t, replyJSON(`{"items":[{"id":"a","action":"unchanged"}]}`))
	var exp *tracetest.InMemoryExporter
	h := newHarness(t, up.URL, func(o *Options) {
		o.Webhook.Secret = secret
		exp = tracing(t, o)
	})
	if _, err := h.sync(t, batchOf(rec("a", `{}`, false, 1), rec("b", `{}`, false, 1))); err != nil {
		t.Fatal(err)
	}
	span := onlySpan(t, exp)
	got := up.last(t).header

	// The upstream's traceparent is valid W3C and names this very span as
	// its parent, in the same trace.
	remote := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(got)))
	if !remote.IsValid() || !remote.IsRemote() {
		t.Fatalf("traceparent %q is not a valid span context", got.Get("Traceparent"))
	}
	if remote.TraceID() != span.SpanContext.TraceID() || remote.SpanID() != span.SpanContext.SpanID() {
		t.Fatalf("traceparent %q, want trace %s span %s", got.Get("Traceparent"), span.SpanContext.TraceID(), span.SpanContext.SpanID())
	}
	if !remote.IsSampled() {
		t.Error("the upstream is told the trace is not sampled, but its span was exported")
	}

	if span.Name != SpanName || span.SpanKind != trace.SpanKindClient {
		t.Errorf("span %q of kind %s, want %q of kind client", span.Name, span.SpanKind, SpanName)
	}
	a := attrs(span)
	for key, want := range map[attribute.Key]attribute.Value{
		AttrCache:     attribute.StringValue("jobs"),
		AttrBatchSize: attribute.IntValue(2),
		AttrOutcome:   attribute.StringValue(OutcomeOK),
		attrStatus:    attribute.IntValue(http.StatusOK),
		AttrWebhookID: attribute.StringValue(got.Get(webhook.HeaderID)),
	} {
		if a[key] != want {
			t.Errorf("attribute %s = %v, want %v", key, a[key].String(), want.String())
		}
	}
	if got.Get(webhook.HeaderID) == "" {
		t.Error("a signed call carries no webhook-id")
	}
	if span.Status.Code == codes.Error {
		t.Errorf("span status %v for a call that succeeded", span.Status)
	}
}

// A sync span under a span of the caller's is its child, so a batch that a
// traced operation started is part of its trace.
func TestSyncSpanJoinsCallersTrace(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(http.StatusNoContent) })
	var tp trace.TracerProvider
	var exp *tracetest.InMemoryExporter
	h := newHarness(t, up.URL, func(o *Options) { exp = tracing(t, o); tp = o.TracerProvider })
	ctx, parent := tp.Tracer("test").Start(context.Background(), "parent")
	if _, err := h.w.Sync(ctx, batchOf(rec("a", `{}`, false, 1))); err != nil {
		t.Fatal(err)
	}
	parent.End()
	spans := exp.GetSpans()
	if len(spans) != 2 || spans[0].Name != SpanName {
		t.Fatalf("spans %v, want the sync span then its parent", spans)
	}
	if spans[0].Parent.SpanID() != parent.SpanContext().SpanID() || spans[0].SpanContext.TraceID() != parent.SpanContext().TraceID() {
		t.Errorf("sync span's parent %s, want %s", spans[0].Parent.SpanID(), parent.SpanContext().SpanID())
	}
	if a := attrs(spans[0]); a[attrStatus] != attribute.IntValue(http.StatusNoContent) {
		t.Errorf("status attribute %v, want 204", a[attrStatus].String())
	}
}

// A failed batch's span says why, with the same reason as the metrics, and
// is marked as an error.
func TestSyncSpanOutcomeOfFailures(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	var exp *tracetest.InMemoryExporter
	h := newHarness(t, up.URL, func(o *Options) { exp = tracing(t, o) })
	b := batchOf(rec("a", `{}`, false, 1))
	_, err := h.sync(t, b)
	syncError(t, err, ReasonStatus5xx)
	// The hold the 503 started answers the next batch without a call;
	// it still gets a span, saying so.
	_, err = h.sync(t, b)
	syncError(t, err, ReasonThrottled)
	if n := up.hits.Load(); n != 1 {
		t.Fatalf("%d calls reached the upstream, want 1", n)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	for i, want := range []string{ReasonStatus5xx, ReasonThrottled} {
		if got := attrs(spans[i])[AttrOutcome]; got != attribute.StringValue(want) {
			t.Errorf("span %d outcome %v, want %s", i, got.String(), want)
		}
		if spans[i].Status.Code != codes.Error || spans[i].Status.Description == "" {
			t.Errorf("span %d status %+v, want an error with its text", i, spans[i].Status)
		}
	}
	if got := attrs(spans[0])[attrStatus]; got != attribute.IntValue(http.StatusServiceUnavailable) {
		t.Errorf("status attribute %v, want 503", got.String())
	}
}

// Without a TracerProvider and Propagator a call carries no trace headers,
// and with a propagator alone it carries only a caller's trace, if any.
func TestNoTracingNoTraceHeaders(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(http.StatusNoContent) })
	plain := newHarness(t, up.URL, nil)
	if _, err := plain.sync(t, batchOf(rec("a", `{}`, false, 1))); err != nil {
		t.Fatal(err)
	}
	if tp := up.last(t).header.Get("Traceparent"); tp != "" {
		t.Errorf("traceparent %q sent with tracing off", tp)
	}
	propOnly := newHarness(t, up.URL, func(o *Options) { o.Propagator = propagation.TraceContext{} })
	if _, err := propOnly.sync(t, batchOf(rec("a", `{}`, false, 1))); err != nil {
		t.Fatal(err)
	}
	if tp := up.last(t).header.Get("Traceparent"); tp != "" {
		t.Errorf("traceparent %q sent with no span to name", tp)
	}
}
