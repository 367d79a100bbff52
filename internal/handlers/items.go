package handlers

import (
	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/autorefresh/autorefresh/internal/errs"
)

func (s *server) createItem(w http.ResponseWriter, r *http.Request) {
	var in itemCreate
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	it, created, err := s.svc.CreateItem(r.Context(), chi.URLParam(r, "cache"), autorefresh.NewItem{ID: in.ID, Data: in.Data, Terminal: in.Terminal})
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
	page, next, err := s.svc.ListItems(r.Context(), chi.URLParam(r, "cache"), q.Get("cursor"), limit, autorefresh.Filter{Terminal: terminal})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeItems(w, r, page, next)
}
