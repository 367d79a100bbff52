package handlers

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/registry"
)

func (s *server) createItem(w http.ResponseWriter, r *http.Request) {
	var in itemCreate
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	it, created, err := s.svc.CreateItem(r.Context(), chi.URLParam(r, "cache"), in.ID, in.Data, in.Terminal)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, viewItem(it))
}

func (s *server) getItem(w http.ResponseWriter, r *http.Request) {
	it, err := s.svc.GetItem(r.Context(), chi.URLParam(r, "cache"), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewItem(it))
}

func (s *server) deleteItem(w http.ResponseWriter, r *http.Request) {
	it, err := s.svc.DeleteItem(r.Context(), chi.URLParam(r, "cache"), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, viewItem(it))
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
	page, next, err := s.svc.ListItems(r.Context(), chi.URLParam(r, "cache"), q.Get("cursor"), limit, terminal)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := itemList{Items: make([]itemView, len(page))}
	for i, it := range page {
		out.Items[i] = viewItem(it)
	}
	if next != "" {
		out.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, out)
}

var _ Service = (*registry.Registry)(nil)
