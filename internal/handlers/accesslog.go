package handlers

import (
	"net/http"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/autorefresh/autorefresh/internal/logging"
)

// access is one request as the access log sees it. observe creates it and
// passes it down as the ResponseWriter, so that it sees the status and size
// of the response; authenticate adds the client. Handing it down as the
// writer rather than in the request's context spares a copy of the request
// and a context per request: the GET of an item is the hottest path of the
// service, and those were a quarter of the bytes it allocated.
//
// An access is used by one request's goroutine at a time: the handler's,
// then observe's once the handler has returned.
type access struct {
	http.ResponseWriter
	id       string
	idHeader [1]string // the X-Request-Id header's value, without a slice of its own
	client   string

	status      int
	bytes       int
	wroteHeader bool

	method, route, path, remote string
	elapsed                     time.Duration
}

// WriteHeader records the final status and passes only the first one on,
// so that a handler's second call cannot change what was logged.
func (a *access) WriteHeader(code int) {
	if a.wroteHeader {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		a.ResponseWriter.WriteHeader(code) // informational: the final status comes later
		return
	}
	a.status, a.wroteHeader = code, true
	a.ResponseWriter.WriteHeader(code)
}

func (a *access) Write(p []byte) (int, error) {
	if !a.wroteHeader {
		a.WriteHeader(http.StatusOK)
	}
	n, err := a.ResponseWriter.Write(p)
	a.bytes += n
	return n, err
}

// FlushError sends what is buffered and reports a failure to (a broken
// connection, a passed write deadline): event streams end on it.
// http.ResponseController looks for it before Flush.
func (a *access) FlushError() error {
	if !a.wroteHeader {
		a.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(a.ResponseWriter).Flush()
}

// Flush is FlushError for callers that want an http.Flusher.
func (a *access) Flush() { _ = a.FlushError() }

// Unwrap lets http.ResponseController reach the connection's writer (write
// deadlines for long-polls and streams).
func (a *access) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// WriteFields writes the access-log line's fields. No bodies, no query
// (it may carry cursors), no headers (they may carry tokens).
func (a *access) WriteFields(enc logging.FieldWriter) {
	enc.AddString("requestId", a.id)
	enc.AddString("method", a.method)
	enc.AddString("route", a.route)
	enc.AddString("path", a.path)
	enc.AddInt("status", a.status)
	enc.AddInt("bytes", a.bytes)
	enc.AddDuration("duration", a.elapsed)
	enc.AddString("remote", a.remote)
	if a.client != "" { // only with tokens: who the token belongs to
		enc.AddString("client", a.client)
	}
}

// MarshalLogObject writes the fields to zap, for a line that Lines leaves
// to it (see observe).
func (a *access) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	a.WriteFields(enc)
	return nil
}

// accessOf returns the request's access record from its ResponseWriter, or
// nil outside observe.
func accessOf(w http.ResponseWriter) *access {
	for {
		switch x := w.(type) {
		case *access:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

// connWriter returns the writer that net/http gave the handler chain, below
// every wrapper. http.MaxBytesReader must get that one: it tells net/http to
// close the connection after an oversized body through a method that only
// net/http's own writer has, and it does not unwrap.
func connWriter(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

// requestID returns the request's id ("" outside observe).
func requestID(w http.ResponseWriter) string {
	if a := accessOf(w); a != nil {
		return a.id
	}
	return ""
}
