package handlers

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
)

// The per-item and per-cache controls of issue 15: PATCH and retry of an
// item, pause and resume of a cache. Bulk creation is in batch.go.

// itemPatch is the body of PATCH /v1/caches/{cache}/items/{id}. Data is nil
// when the body has no "data" (JSON null is "null", which sets the data to
// null); Terminal is nil when it has no "terminal".
type itemPatch struct {
	Data     json.RawMessage `json:"data"`
	Terminal *bool           `json:"terminal"`
}

// itemRetry is the optional body of POST .../items/{id}/retry.
type itemRetry struct {
	TTL autorefresh.Duration `json:"ttl"`
}

func (s *server) patchItem(w http.ResponseWriter, r *http.Request) {
	name, id := chi.URLParam(r, "cache"), chi.URLParam(r, "id")
	cond, err := parsePreconditions(r, "If-Match")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in itemPatch
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.Data == nil && in.Terminal == nil {
		// It would bump the version for nothing, and is more likely a
		// client that misspelt its fields than one that means it.
		s.writeError(w, r, errs.Errorf(errs.Invalid, "body: give data, terminal or both"))
		return
	}
	p := autorefresh.Patch{Data: in.Data, Terminal: in.Terminal}
	if p.IfMatch, err = s.ifMatch(r, name, id, cond); err != nil {
		s.writeError(w, r, err)
		return
	}
	it, err := s.svc.PatchItem(r.Context(), name, id, p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeItem(w, r, http.StatusOK, it)
}

// ifMatch turns If-Match into the one version the service compares
// atomically with the write (0: no condition). With one strong tag it is
// that tag's version. "*" only needs the item to exist, which the write checks
// itself. A list of several tags, or of none that can match, is resolved
// against the item as it is now: the version found goes to the service, so
// that a change in between still fails the write (412), never passes it.
// A missing item answers 404 rather than 412, as RFC 9110 §13.2.1 wants of
// a request that would fail without its condition.
func (s *server) ifMatch(r *http.Request, name, id string, cond preconditions) (int64, error) {
	switch {
	case !cond.present || cond.any:
		return 0, nil
	case len(cond.strong) == 1: // weak tags never match: they change nothing
		return cond.strong[0], nil
	}
	it, err := s.svc.GetItem(r.Context(), name, id)
	if err != nil {
		return 0, err
	}
	if !cond.matchesStrong(it.Version) {
		return 0, errs.Errorf(errs.PreconditionFailed, "header.If-Match: the item is at version %d", it.Version)
	}
	return it.Version, nil
}

func (s *server) retryItem(w http.ResponseWriter, r *http.Request) {
	var in itemRetry
	if r.ContentLength != 0 { // the body is optional
		if err := decode(r, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if err := checkTTL(in.TTL); err != nil {
		s.writeError(w, r, err)
		return
	}
	it, err := s.svc.RetryItem(r.Context(), chi.URLParam(r, "cache"), chi.URLParam(r, "id"), time.Duration(in.TTL))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeItem(w, r, http.StatusOK, it)
}

func (s *server) pauseCache(w http.ResponseWriter, r *http.Request)  { s.setPaused(w, r, true) }
func (s *server) resumeCache(w http.ResponseWriter, r *http.Request) { s.setPaused(w, r, false) }

func (s *server) setPaused(w http.ResponseWriter, r *http.Request, paused bool) {
	info, err := s.svc.SetPaused(r.Context(), chi.URLParam(r, "cache"), paused)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewCache(info))
}
