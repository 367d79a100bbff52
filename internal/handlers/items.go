package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
)

func (s *server) createItem(w http.ResponseWriter, r *http.Request) {
	var in itemCreate
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkTTL(in.TTL); err != nil {
		s.writeError(w, r, err)
		return
	}
	it, created, err := s.svc.CreateItem(r.Context(), chi.URLParam(r, "cache"), in.newItem())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.writeItem(w, r, status, it)
}

func (s *server) getItem(w http.ResponseWriter, r *http.Request) {
	it, err := s.svc.GetItem(r.Context(), chi.URLParam(r, "cache"), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.readItem(w, r, it)
}

// readItem answers a GET of an item: 304 without a body while the client's
// If-None-Match names its version, else the item.
func (s *server) readItem(w http.ResponseWriter, r *http.Request, it autorefresh.Item) {
	if notModified(w, r, it.Version) {
		return
	}
	s.writeItem(w, r, http.StatusOK, it)
}

func (s *server) deleteItem(w http.ResponseWriter, r *http.Request) {
	it, err := s.svc.DeleteItem(r.Context(), chi.URLParam(r, "cache"), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeItem(w, r, http.StatusAccepted, it)
}

func (s *server) listItems(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.writeError(w, r, errs.Errorf(errs.Invalid, "query.limit: must be an integer"))
			return
		}
		limit = n
	}
	var terminal *bool
	if v := q.Get("terminal"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.writeError(w, r, errs.Errorf(errs.Invalid, "query.terminal: must be true or false"))
			return
		}
		terminal = &b
	}
	f := autorefresh.Filter{Terminal: terminal}
	if v := q.Get("state"); v != "" {
		state, ok := record.ParseState(v)
		if !ok {
			s.writeError(w, r, errs.Errorf(errs.Invalid, "query.state: must be one of %s", stateNames()))
			return
		}
		f.State = state
	}
	page, next, err := s.svc.ListItems(r.Context(), chi.URLParam(r, "cache"), q.Get("cursor"), limit, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeItems(w, r, page, next)
}

// checkTTL is autorefresh.CheckTTL for a body's "ttl": the HTTP layer
// checks it so that every mode answers a bad one alike, naming the field.
func checkTTL(ttl autorefresh.Duration) error {
	if err := autorefresh.CheckTTL(time.Duration(ttl)); err != nil {
		return errs.Errorf(errs.Invalid, "body.%s", errs.MessageOf(err))
	}
	return nil
}

// stateNames lists the states a client may filter by.
func stateNames() string {
	names := make([]string, len(record.States))
	for i, s := range record.States {
		names[i] = s.String()
	}
	return strings.Join(names, ", ")
}
