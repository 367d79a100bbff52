// Package handlers is the HTTP layer: chi routes that map one to one onto
// the calls of autorefresh.Service (whichever storage mode implements it), request validation against api/openapi.yaml,
// JSON errors, metrics by route pattern and one access-log line per request.
// It holds no domain logic.
package handlers

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/auth"
	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/logging"
	"github.com/autorefresh/autorefresh/internal/watch"
)

// DefaultMaxBodyBytes bounds request bodies when Deps.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 1 << 20

// Deps are the server's collaborators.
type Deps struct {
	// Service is the domain: the embedded registry or the PostgreSQL mode.
	Service autorefresh.Service
	Logger  *zap.Logger
	// AccessLog, if set, writes the access log's lines (the Lines of the
	// logging.Open that made Logger: the same output and format, at a
	// fraction of zap's cost); nil writes them through Logger.
	AccessLog *logging.Lines
	// Registerer receives the HTTP metrics; Gatherer is served at /metrics.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Spec is the parsed api/openapi.yaml; SpecYAML its text, served as is.
	Spec     *openapi3.T
	SpecYAML []byte
	// Ready reports whether the server can take traffic (/readyz).
	Ready func() error
	// MaxBodyBytes bounds request bodies. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Tokens, if set, is who may call /v1: read tokens may GET and watch,
	// write tokens may do everything. Nil leaves the API open.
	Tokens *auth.Tokens
	// ProtectMetrics puts /metrics behind a read token too.
	ProtectMetrics bool
	// RateLimit bounds each client's requests per second on /v1 (0: no
	// limit). A client is its token (by its hash), or its remote IP
	// without a valid one. With Tokens and no RateLimit, callers without
	// a valid token are still limited to DefaultUnauthenticatedRate.
	RateLimit int
	// TrustedProxies are the networks of the proxies in front of the
	// server: from a peer within them, the client is the address their
	// X-Forwarded-For names (see behindProxies). Empty: the peer is the
	// client, whatever the header says.
	TrustedProxies []netip.Prefix
	// AllowedHosts, if set, are the host[:port] names requests may carry
	// in Host (an entry without a port matches every port); others get
	// 421, except the health checks. It defends an open server against
	// DNS rebinding. Empty: no check.
	AllowedHosts []string
	// Watch, if set, serves the event streams and the long-poll GETs
	// (which answer 503 without it). Close it before shutting the HTTP
	// server down: that is what ends open streams and polls.
	Watch *watch.Hub
	// Heartbeat is how often an idle event stream gets a comment line.
	// Default DefaultHeartbeat.
	Heartbeat time.Duration
	// MaxWait caps a long-poll's timeout; keep it below the server's
	// WriteTimeout. Default DefaultMaxWait.
	MaxWait time.Duration
	// TracerProvider, if set, gives every request a server span named by
	// its route (see traced); nil traces nothing.
	TracerProvider trace.TracerProvider
	// Propagator reads a caller's trace context (traceparent) so that the
	// request's span joins the caller's trace; nil ignores it. Only used
	// with a TracerProvider.
	Propagator propagation.TextMapPropagator
}

// server carries the dependencies of the handlers.
type server struct {
	svc      autorefresh.Service
	log      *zap.Logger
	metrics  *httpMetrics
	deps     Deps
	validate *validator
	ids      *requestIDs
	bodies   bodies
	limits   limits
	hosts    *hostCheck
	// batch checks the bulk create's body (batchbody.go).
	batch batchRule
	// jsonType is the Content-Type header's value of JSON bodies, one
	// slice for every response (see writeEncoded).
	jsonType []string
}

// NewServer builds the HTTP handler once; it is safe for concurrent use.
func NewServer(d Deps) (http.Handler, error) {
	if d.Service == nil || d.Logger == nil || d.Registerer == nil || d.Gatherer == nil || d.Spec == nil {
		return nil, errs.Errorf(errs.Invalid, "handlers: Service, Logger, Registerer, Gatherer and Spec are required")
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if d.Ready == nil {
		d.Ready = func() error { return nil }
	}
	m, err := newHTTPMetrics(d.Registerer)
	if err != nil {
		return nil, err
	}
	s := &server{svc: d.Service, log: d.Logger, metrics: m, deps: d, ids: newRequestIDs(), jsonType: []string{"application/json"}}
	s.limits = s.newLimits()
	if s.hosts, err = newHostCheck(d.AllowedHosts); err != nil {
		return nil, errs.Wrap(errs.Invalid, err, err.Error())
	}
	if s.batch, err = compileBatchRule(d.Spec); err == nil {
		err = s.batch.agreesWithService()
	}
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, err.Error())
	}
	limits := map[routeKey]int64{batchRoute: max(d.MaxBodyBytes, MaxBatchBodyBytes)}
	s.validate, err = newValidator(d.Spec, d.MaxBodyBytes, limits, []routeKey{batchRoute}, s.writeError)
	if err != nil {
		return nil, err
	}
	return s.traced(s.routes()), nil
}

// decode reads a JSON body that the validator has already checked and
// size-limited. Unknown fields are refused here too, as a second guard.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errs.Errorf(errs.Invalid, "body: %s", jsonProblem(err))
	}
	if dec.More() {
		return errs.Errorf(errs.Invalid, "body: more than one JSON value")
	}
	return nil
}

// jsonProblem describes a decoding error without quoting the input.
func jsonProblem(err error) string {
	switch e := err.(type) {
	case *json.UnmarshalTypeError:
		return e.Field + ": wrong type, want " + e.Type.String()
	case *json.SyntaxError:
		return "not valid JSON"
	}
	return err.Error()
}
