package handlers

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/swaggerui"
	"github.com/autorefresh/autorefresh/web"
)

// routes is the one place that lists every route.
func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.behindProxies, s.observe, s.recoverer, s.checkHost)
	r.NotFound(func(w http.ResponseWriter, req *http.Request) {
		s.writeError(w, req, errs.Errorf(errs.NotFound, "no route for %s", req.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", allowed(r, req.URL.Path))
		s.writeError(w, req, &errs.Error{Code: codeMethodNotAllowed, Message: "method " + req.Method + " is not allowed here"})
	})

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Method(http.MethodGet, "/metrics", s.protectMetrics(promhttp.HandlerFor(s.deps.Gatherer, promhttp.HandlerOpts{})))
	r.Get("/openapi.yaml", s.spec)
	docs := swaggerui.New("/openapi.yaml")
	r.Method(http.MethodGet, "/docs", docs)
	r.Method(http.MethodGet, "/docs/*", docs)
	dashboard := web.Handler(r.NotFoundHandler())
	r.Method(http.MethodGet, "/", dashboard)
	r.Method(http.MethodGet, web.AssetPrefix+"*", dashboard)

	// The validator is inline middleware (a Group, not a Route) so that chi
	// has matched the route first: unknown paths and methods get chi's 404
	// and 405, and the metrics see the full route pattern.
	r.Group(func(r chi.Router) {
		r.Use(s.crossOrigin, s.authenticate, s.validate.middleware)
		r.Get("/v1/caches", s.listCaches)
		r.Put("/v1/caches/{cache}", s.putCache)
		r.Get("/v1/caches/{cache}", s.getCache)
		r.Delete("/v1/caches/{cache}", s.deleteCache)
		r.Post("/v1/caches/{cache}/sync", s.syncCache)
		r.Post("/v1/caches/{cache}/pause", s.pauseCache)
		r.Post("/v1/caches/{cache}/resume", s.resumeCache)
		r.Post("/v1/caches/{cache}/items", s.createItem)
		r.Get("/v1/caches/{cache}/items", s.listItems)
		// Only POST of .../items/batch is the bulk create: chi prefers the
		// static segment for POST alone, so GET, PATCH and DELETE of an
		// item whose id is "batch" reach the {id} routes below, and so
		// does its retry.
		r.Post("/v1/caches/{cache}/items/batch", s.createItems)
		r.Get("/v1/caches/{cache}/items/{id}", s.getItemOrWait)
		r.Patch("/v1/caches/{cache}/items/{id}", s.patchItem)
		r.Post("/v1/caches/{cache}/items/{id}/retry", s.retryItem)
		r.Get("/v1/caches/{cache}/events", s.streamEvents)
		r.Delete("/v1/caches/{cache}/items/{id}", s.deleteItem)
	})
	return r
}

// allowed lists the methods routes answers for path, for the Allow header of
// a 405 (chi's own 405 handler sets it, a custom one must).
func allowed(routes chi.Routes, path string) string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		if routes.Match(chi.NewRouteContext(), m, path) {
			out = append(out, m)
		}
	}
	return strings.Join(out, ", ")
}
