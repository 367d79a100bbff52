package handlers

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/go-chi/chi/v5"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// validator checks requests against api/openapi.yaml before they reach a
// handler, so the spec is the contract rather than a description of it.
type validator struct {
	// routes maps "METHOD /path/{param}" to the spec's operation. chi has
	// already matched the request, and its route patterns are the spec's
	// paths, so the operation is a map lookup rather than a second router
	// matching regexps against every path of the spec.
	routes   map[string]*routers.Route
	maxBody  int64
	writeErr func(http.ResponseWriter, *http.Request, error)
}

func newValidator(doc *openapi3.T, maxBody int64, writeErr func(http.ResponseWriter, *http.Request, error)) (*validator, error) {
	v := &validator{routes: map[string]*routers.Route{}, maxBody: maxBody, writeErr: writeErr}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			v.routes[method+" "+path] = &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}
		}
	}
	return v, nil
}

// find returns the operation chi matched and its path parameters.
func (v *validator) find(r *http.Request) (*routers.Route, map[string]string, bool) {
	rc := chi.RouteContext(r.Context())
	if rc == nil {
		return nil, nil, false
	}
	route, ok := v.routes[r.Method+" "+rc.RoutePattern()]
	if !ok {
		return nil, nil, false
	}
	params := make(map[string]string, len(rc.URLParams.Keys))
	for i, k := range rc.URLParams.Keys {
		params[k] = rc.URLParams.Values[i]
	}
	return route, params, true
}

// middleware reads the body through the size limit, checks its media type,
// then validates path, query and body against the operation in the spec.
func (v *validator) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, params, ok := v.find(r)
		if !ok {
			// chi matched this request, so the spec lacks the route: a bug,
			// but answer as chi would for an unknown route.
			v.writeErr(w, r, errs.Errorf(errs.NotFound, "no such route"))
			return
		}
		if route.Operation.RequestBody == nil {
			// Operations without a body ignore one, whatever it is.
			r.Body, r.ContentLength = http.NoBody, 0
		} else if !v.readBody(w, r) {
			return
		}
		in := &openapi3filter.RequestValidationInput{
			Request: r, PathParams: params, Route: route,
			// The handlers apply defaults themselves; letting the validator
			// write them into the request would rewrite the query string
			// and re-encode the body on every request.
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, SkipSettingDefaults: true},
		}
		if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
			v.writeErr(w, r, errs.Wrap(errs.Invalid, err, describe(err)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// readBody reads the body through the size limit, checks its media type and
// shape, and puts it back for the schema check and the handler. It answers
// the request itself and reports false when the body is refused.
func (v *validator) readBody(w http.ResponseWriter, r *http.Request) bool {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, v.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			v.writeErr(w, r, errs.Errorf(errs.TooLarge, "body: larger than %d bytes", v.maxBody))
			return false
		}
		v.writeErr(w, r, errs.Errorf(errs.Invalid, "body: could not be read"))
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	if len(body) > 0 && !isJSON(r.Header.Get("Content-Type")) {
		v.writeErr(w, r, &errs.Error{Code: codeUnsupportedMedia, Message: "body: Content-Type must be application/json"})
		return false
	}
	if err := checkJSON(body); err != nil {
		v.writeErr(w, r, err)
		return false
	}
	return true
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// describe turns a kin-openapi error into a message that names the field and
// says what is wrong without echoing the value (which may be a secret).
func describe(err error) string {
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		return "request does not match the API"
	}
	where := "body"
	if re.Parameter != nil {
		where = re.Parameter.In + "." + re.Parameter.Name
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		if p := se.JSONPointer(); len(p) > 0 {
			where += "." + strings.Join(p, ".")
		}
		return where + ": " + se.Reason
	}
	if re.RequestBody != nil && re.Err != nil {
		var pe *openapi3filter.ParseError
		if errors.As(re.Err, &pe) {
			return where + ": not valid JSON"
		}
	}
	reason := re.Reason
	if reason == "" {
		reason = "is invalid"
	}
	return where + ": " + reason
}
