package handlers

import (
	"net/http"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
)

// methodLabel folds unknown methods into "other" to bound cardinality.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// routeLabel is the matched chi pattern, or "unmatched". chi puts the
// pattern in r.Pattern when it routes the request (observe's own request:
// nothing in between copies it), so it is not built again here.
func routeLabel(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return "unmatched"
}

// observe records metrics and writes the access-log line for every request.
// It wraps everything else, so it sees the final status, including that of
// a recovered panic.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		a := &access{ResponseWriter: w, id: s.ids.next(r)}
		a.idHeader[0] = a.id
		w.Header()[requestIDHeader] = a.idHeader[:]
		next.ServeHTTP(a, r)
		if !a.wroteHeader {
			a.status = http.StatusOK // as net/http answers a handler that wrote nothing
		}
		end := time.Now()
		a.elapsed = end.Sub(start)
		a.method, a.route, a.path, a.remote = r.Method, routeLabel(r), r.URL.Path, r.RemoteAddr
		s.metrics.record(a.route, methodLabel(r.Method), a.status, a.elapsed)
		nameSpan(r, a.id)
		if s.deps.AccessLog == nil || !s.deps.AccessLog.Info(end, "request", a) {
			s.log.Info("request", zap.Inline(a))
		}
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
				s.log.Error("handler panic", zap.String("requestId", requestID(w)),
					zap.Any("panic", v), zap.ByteString("stack", debug.Stack()))
				writeJSON(w, http.StatusInternalServerError, errorBody{Code: "INTERNAL", Message: "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}
