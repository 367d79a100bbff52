package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/watch"
)

// Watch defaults, for Deps fields left zero.
const (
	// DefaultHeartbeat keeps idle streams alive through proxies that cut
	// connections silent for 30 s or more.
	DefaultHeartbeat = 15 * time.Second
	// DefaultMaxWait caps long-poll timeouts below the server's 60 s
	// WriteTimeout, so a poll always ends with an answer.
	DefaultMaxWait = 50 * time.Second
)

func (s *server) heartbeat() time.Duration {
	if s.deps.Heartbeat > 0 {
		return s.deps.Heartbeat
	}
	return DefaultHeartbeat
}

func (s *server) maxWait() time.Duration {
	if s.deps.MaxWait > 0 {
		return s.deps.MaxWait
	}
	return DefaultMaxWait
}

// errNoWatch answers watch requests on a server built without a hub.
func errNoWatch() error {
	return errs.Errorf(errs.Unavailable, "watching is not enabled on this server")
}

// streamEvents is GET /v1/caches/{cache}/events: the cache's item changes as
// Server-Sent Events, until the client leaves, the cache is deleted or the
// server shuts down.
func (s *server) streamEvents(w http.ResponseWriter, r *http.Request) {
	hub := s.deps.Watch
	if hub == nil {
		s.writeError(w, r, errNoWatch())
		return
	}
	name := chi.URLParam(r, "cache")
	opts := watch.SubscribeOptions{ID: r.URL.Query().Get("id"), Client: clientKey(r)}
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			s.writeError(w, r, errs.Errorf(errs.Invalid, "header.Last-Event-ID: must be the id of an event of this API"))
			return
		}
		opts.Resume, opts.After = true, n
	}
	sub, err := hub.Subscribe(name, opts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer sub.Close()
	// Checked after subscribing: a cache deleted from here on ends the
	// subscription, so the stream cannot outlive its cache unnoticed.
	if _, err := s.svc.Info(r.Context(), name); err != nil {
		s.writeError(w, r, err)
		return
	}

	stream, err := startSSE(w, s.heartbeat())
	if err != nil {
		return
	}
	for _, ev := range sub.Backlog {
		if err := stream.event(ev); err != nil {
			return
		}
	}
	if err := stream.flush(); err != nil {
		return
	}
	tick := time.NewTicker(s.heartbeat())
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				// The cache was deleted or the server is stopping: end
				// the stream. A client that reconnects learns which
				// (404 or 503).
				_ = stream.comment(endReason(sub.Err()))
				return
			}
			if err := stream.event(ev); err != nil {
				return
			}
			// Send a burst in one write, but never hold an event back.
			if len(sub.C()) == 0 {
				if err := stream.flush(); err != nil {
					return
				}
			}
		case <-tick.C:
			if err := stream.comment("keep-alive"); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

func endReason(err error) string {
	if errors.Is(err, watch.ErrCacheDeleted) {
		return "the cache was deleted"
	}
	return "the server is shutting down"
}
