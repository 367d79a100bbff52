package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// A spec with one required query parameter and one optional one, to hold
// the validator's shortcut for requests without a query string to what
// kin-openapi decides without it.
const querySpec = `
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /must/{name}:
    get:
      parameters:
        - {name: name, in: path, required: true, schema: {type: string, pattern: '^[a-z]+$'}}
        - {name: q, in: query, required: true, schema: {type: integer}}
      responses: {"200": {description: ok}}
  /may/{name}:
    get:
      parameters:
        - {name: name, in: path, required: true, schema: {type: string, pattern: '^[a-z]+$'}}
        - {name: q, in: query, schema: {type: integer, default: 5}}
      responses: {"200": {description: ok}}
`

func TestValidatorQueryShortcut(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData([]byte(querySpec))
	if err != nil {
		t.Fatal(err)
	}
	var refused error
	v, err := newValidator(doc, 1<<10, nil, nil, func(w http.ResponseWriter, _ *http.Request, err error) {
		refused = err
		w.WriteHeader(statusOf(errs.CodeOf(err)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if v.routes[routeKey{http.MethodGet, "/must/{name}"}].queryOptional {
		t.Error("/must has a required query parameter, yet the validator may skip query checks")
	}
	if !v.routes[routeKey{http.MethodGet, "/may/{name}"}].queryOptional {
		t.Error("/may has only an optional query parameter, yet the validator does not skip query checks")
	}

	// Inline, as routes.go mounts it: chi has matched the route first.
	r := chi.NewRouter()
	var sawQuery string
	ok := func(w http.ResponseWriter, r *http.Request) { sawQuery = r.URL.RawQuery }
	r.With(v.middleware).Get("/must/{name}", ok)
	r.With(v.middleware).Get("/may/{name}", ok)
	for _, c := range []struct {
		path   string
		status int
		field  string // named in the error
	}{
		{"/must/abc", http.StatusBadRequest, "query.q"},
		{"/must/abc?q=x", http.StatusBadRequest, "query.q"},
		{"/must/abc?q=1", http.StatusOK, ""},
		{"/must/ABC?q=1", http.StatusBadRequest, "path.name"},
		{"/may/abc", http.StatusOK, ""},
		{"/may/abc?q=x", http.StatusBadRequest, "query.q"},
		{"/may/ABC", http.StatusBadRequest, "path.name"},
	} {
		refused, sawQuery = nil, "unset"
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequestWithContext(context.Background(), http.MethodGet, c.path, nil))
		if w.Code != c.status {
			t.Errorf("GET %s: status %d, want %d (error %v)", c.path, w.Code, c.status, refused)
			continue
		}
		if c.field != "" && (refused == nil || !strings.HasPrefix(errs.MessageOf(refused), c.field)) {
			t.Errorf("GET %s: error %v does not name %s", c.path, refused, c.field)
		}
		if c.status == http.StatusOK && c.path == "/may/abc" && sawQuery != "" {
			t.Errorf("GET %s: the validator set the default into the query (%q)", c.path, sawQuery)
		}
	}
}
