package handlers

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// httpMetrics are labelled by chi route pattern, never by raw path, so an
// item id can never become a label value.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "autorefresh", Name: "http_requests_total",
			Help: "HTTP requests served, by chi route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "autorefresh", Name: "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by chi route pattern and method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"route", "method"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register http metrics: %w", err)
		}
	}
	return m, nil
}

// methodLabel folds unknown methods into "other" to bound cardinality.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// routeLabel is the matched chi pattern, or "unmatched".
func routeLabel(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return "unmatched"
}

// observe records metrics and writes the access-log line for every request.
// It wraps everything else, so it sees the final status, including that of
// a recovered panic.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{id: s.ids.next(r)}
		w.Header().Set(requestIDHeader, info.id)
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		r = withInfo(r, info)
		next.ServeHTTP(ww, r)
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		route, method := routeLabel(r), methodLabel(r.Method)
		elapsed := time.Since(start)
		s.metrics.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
		s.metrics.duration.WithLabelValues(route, method).Observe(elapsed.Seconds())
		// One line per request: no bodies, no query (it may carry
		// cursors), no headers (they may carry tokens).
		s.log.Info("request",
			zap.String("requestId", info.id),
			zap.String("method", r.Method),
			zap.String("route", route),
			zap.String("path", r.URL.Path),
			zap.Int("status", status),
			zap.Int("bytes", ww.BytesWritten()),
			zap.Duration("duration", elapsed),
			zap.String("remote", r.RemoteAddr),
			zap.String("client", info.client),
		)
	})
}

// recoverer turns a handler panic into a JSON 500 and a log line with the
// stack, and keeps the server up. http.ErrAbortHandler is re-raised, as
// net/http expects.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", zap.String("requestId", requestID(r)),
					zap.Any("panic", v), zap.ByteString("stack", debug.Stack()))
				writeJSON(w, http.StatusInternalServerError, errorBody{Code: "INTERNAL", Message: "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}
