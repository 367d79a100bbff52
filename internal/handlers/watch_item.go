package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
)

// defaultWait is a long-poll's timeout when the request names none.
const defaultWait = 30 * time.Second

// getItemOrWait is GET /v1/caches/{cache}/items/{id}. With
// waitForChange=true it is a long-poll: it answers at once if the item's
// version is above `version` (by default the current one) or the item is
// gone, and otherwise when either happens or the timeout ends, with the item
// as it then is.
func (s *server) getItemOrWait(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery == "" { // a plain GET, the most common request: no query to parse
		s.getItem(w, r)
		return
	}
	q := r.URL.Query()
	if wait, _ := strconv.ParseBool(q.Get("waitForChange")); !wait {
		s.getItem(w, r)
		return
	}
	hub := s.deps.Watch
	if hub == nil {
		s.writeError(w, r, errNoWatch())
		return
	}
	name, id := chi.URLParam(r, "cache"), chi.URLParam(r, "id")
	version := int64(-1)
	if v := q.Get("version"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			s.writeError(w, r, errs.Errorf(errs.Invalid, "query.version: must be a whole number"))
			return
		}
		version = n
	}
	timeout := defaultWait
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			s.writeError(w, r, errs.Errorf(errs.Invalid, "query.timeout: must be a duration such as 30s"))
			return
		}
		timeout = d
	}
	timeout = min(timeout, s.maxWait())

	// The server's WriteTimeout would cut the wait short (see sseStream).
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout + writeSlack))

	client := clientKey(r)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		// Watch before reading, so a change in between still wakes us.
		waiter, err := hub.WatchFor(client, name, id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		it, err := s.svc.GetItem(r.Context(), name, id)
		if err != nil {
			waiter.Stop()
			s.writeError(w, r, err)
			return
		}
		if version < 0 {
			version = it.Version
		}
		if it.Version > version {
			waiter.Stop()
			s.readItem(w, r, it)
			return
		}
		done := s.awaitChange(r, waiter.C(), deadline.C, hub.Done())
		waiter.Stop()
		switch done {
		case waitCancelled:
			return
		case waitEnded:
			s.answerCurrent(w, r, name, id, it)
			return
		}
		// A change: read the item again at the top of the loop.
	}
}

type waitResult int

const (
	waitChanged   waitResult = iota
	waitEnded                // timeout or shutdown: answer with the item as it is
	waitCancelled            // the client left
)

func (s *server) awaitChange(r *http.Request, changed <-chan struct{}, timeout <-chan time.Time, closing <-chan struct{}) waitResult {
	select {
	case <-changed:
		select {
		case <-closing:
			return waitEnded
		default:
			return waitChanged
		}
	case <-timeout:
		return waitEnded
	case <-closing:
		return waitEnded
	case <-r.Context().Done():
		return waitCancelled
	}
}

// answerCurrent ends a wait that saw no change with the item as it now is
// (or a 404 if it went meanwhile), falling back to the last read.
func (s *server) answerCurrent(w http.ResponseWriter, r *http.Request, name, id string, last autorefresh.Item) {
	it, err := s.svc.GetItem(r.Context(), name, id)
	if err != nil {
		if errs.CodeOf(err) == errs.NotFound {
			s.writeError(w, r, err)
			return
		}
		it = last
	}
	s.readItem(w, r, it)
}
