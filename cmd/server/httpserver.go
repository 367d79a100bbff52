package main

import (
	"net/http"
	"time"

	"go.uber.org/zap"
)

// limits bound what one connection may cost the server. Every timeout is
// set, so a slow or malicious client (slow-loris headers, a body that
// trickles in, a reader that never reads) holds a connection and its
// goroutine for a bounded time only.
type limits struct {
	readHeader, read, write, idle time.Duration
	maxHeaderBytes                int
}

// defaultLimits are the server's. write must exceed the longest long-poll
// (see handlers.DefaultMaxWait); event streams extend their own deadline.
func defaultLimits() limits {
	return limits{
		readHeader:     5 * time.Second,
		read:           30 * time.Second,
		write:          60 * time.Second,
		idle:           2 * time.Minute,
		maxHeaderBytes: 64 << 10,
	}
}

// newHTTPServer builds the http.Server with every limit applied.
func newHTTPServer(h http.Handler, log *zap.Logger, l limits) *http.Server {
	return &http.Server{
		Handler:           nosniff(h),
		ReadHeaderTimeout: l.readHeader,
		ReadTimeout:       l.read,
		WriteTimeout:      l.write,
		IdleTimeout:       l.idle,
		MaxHeaderBytes:    l.maxHeaderBytes,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
}

// nosniff makes every response, the API's JSON and errors included, tell
// browsers to trust its Content-Type and never guess another: a JSON body
// that echoes client text is then never run as a script or rendered as
// HTML. Set before the handler runs, so a handler may still override it.
//
// The value's slice is shared by every response: Header.Set would
// canonicalise the name and allocate a slice per request. net/http only
// reads a header's values (it copies them when the header is written), and
// a handler that sets the header again replaces the slice; the capacity of
// one makes an Add copy it rather than write into it.
func nosniff(next http.Handler) http.Handler {
	value := []string{"nosniff"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Content-Type-Options"] = value[:1:1]
		next.ServeHTTP(w, r)
	})
}
