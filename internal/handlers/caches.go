package handlers

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
)

func (s *server) listCaches(w http.ResponseWriter, r *http.Request) {
	infos, err := s.svc.List(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Caches []cacheView `json:"caches"`
	}{Caches: make([]cacheView, len(infos))}
	for i, in := range infos {
		out.Caches[i] = viewCache(in)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) putCache(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "cache")
	var cfg autorefresh.Config
	if err := decode(r, &cfg); err != nil {
		s.writeError(w, r, err)
		return
	}
	created, err := s.svc.Put(r.Context(), name, cfg)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info, err := s.svc.Info(r.Context(), name)
	if errs.CodeOf(err) == errs.NotFound {
		// A DELETE took effect after this PUT did: the PUT still
		// succeeded, so it answers with the config it wrote (and no
		// counters), not a 404 a client would take for a failure.
		info = autorefresh.Info{Name: name}
		info.Config, info.SecretSet = autorefresh.Redact(cfg.WithDefaults())
		err = nil
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, viewCache(info))
}

func (s *server) getCache(w http.ResponseWriter, r *http.Request) {
	info, err := s.svc.Info(r.Context(), chi.URLParam(r, "cache"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewCache(info))
}

func (s *server) deleteCache(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.Delete(r.Context(), chi.URLParam(r, "cache")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) syncCache(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.Sync(r.Context(), chi.URLParam(r, "cache")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, struct {
		Queued bool `json:"queued"`
	}{true})
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.deps.Ready(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *server) spec(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(s.deps.SpecYAML)
}
