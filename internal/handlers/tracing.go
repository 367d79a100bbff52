package handlers

import (
	"net"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Attributes the server adds to otelhttp's on every request span.
const (
	// attrRoute and attrClient are the OpenTelemetry semantic
	// conventions' names.
	attrRoute  = attribute.Key("http.route")
	attrClient = attribute.Key("client.address")
	// AttrRequestID is the request's X-Request-Id, as in the access log,
	// so that a log line and its span find each other.
	AttrRequestID = attribute.Key("autorefresh.request.id")
)

// traced wraps h in otelhttp's server spans when the Deps have a
// TracerProvider, and returns h as it is otherwise, so that tracing off
// costs nothing. The span is named by the method alone when it starts,
// since chi has not matched the route yet; observe renames it to the
// route pattern once it has (see nameSpan). The raw path never names a
// span: it holds cache names and item ids.
func (s *server) traced(h http.Handler) http.Handler {
	if s.deps.TracerProvider == nil {
		return h
	}
	prop := s.deps.Propagator
	if prop == nil {
		// No propagator: the request's trace headers are not read, and
		// every request starts a trace of its own.
		prop = propagation.NewCompositeTextMapPropagator()
	}
	return otelhttp.NewHandler(h, "",
		otelhttp.WithTracerProvider(s.deps.TracerProvider),
		otelhttp.WithPropagators(prop),
		// The server's metrics are Prometheus' (httpmetrics.go); otelhttp's
		// own would go to the global provider, which nothing here sets.
		otelhttp.WithMeterProvider(noop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return methodLabel(r.Method) }),
	)
}

// nameSpan names the request's span by its route once chi has matched it,
// e.g. "GET /v1/caches/{cache}/items/{id}", as the semantic conventions ask
// (a request no route matched keeps the method alone), and adds the route
// and the request id. client.address is set again to the client as
// behindProxies found it: otelhttp takes it from X-Forwarded-For whoever
// sent the header, and a forged one must not change what a span says
// either. Without tracing the span is not recording and this
// does nothing.
func nameSpan(r *http.Request, requestID string) {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() {
		return
	}
	if r.Pattern != "" {
		span.SetName(methodLabel(r.Method) + " " + r.Pattern)
		span.SetAttributes(attrRoute.String(r.Pattern))
	}
	span.SetAttributes(AttrRequestID.String(requestID))
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		span.SetAttributes(attrClient.String(host))
	}
}
