package handlers

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"

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
	routes map[routeKey]operation
	// options is shared by every request (kin-openapi only reads it),
	// indexed by [skip the query][skip the body]: the query of a request
	// without a query string, and the body of a route whose handler checks
	// it against the spec itself (operation.bodyByHandler).
	options  [2][2]*openapi3filter.Options
	inputs   sync.Pool // of *validation, to spare two allocations per request
	writeErr func(http.ResponseWriter, *http.Request, error)
}

// routeKey is a method and a chi route pattern.
type routeKey struct{ method, pattern string }

// operation is a route of the spec, as the validator checks it.
type operation struct {
	route *routers.Route
	// queryOptional is set when no query parameter is required. A request
	// without a query string then passes every query parameter's check
	// (absent and optional, and defaults are not set), so the check is
	// skipped: kin-openapi would parse the empty query once per declared
	// parameter, and a GET of an item declares three.
	queryOptional bool
	// quick are the quick tests of the route's parameters (nil: none, all
	// go through kin-openapi); bodyOnly is the route without parameters,
	// to check the body of a request whose parameters passed them.
	quick    quickParams
	bodyOnly *routers.Route
	// body is the quick test of an application/json body (nil: none).
	body *quickBody
	// maxBody bounds the route's request body.
	maxBody int64
	// bodyByHandler is set for a route whose handler checks the body
	// against the spec's schema itself, from rules compiled from it (the
	// bulk create: batchbody.go). The body is still size-limited and
	// checked by checkJSON here.
	bodyByHandler bool
}

// validation is one request's input to kin-openapi, kept for reuse.
type validation struct {
	in     openapi3filter.RequestValidationInput
	params map[string]string
}

// newValidator builds the validator of doc's operations. Bodies are bounded
// by maxBody, or by bodyLimits for the routes it names. The bodies of the
// routes in byHandler are left to their handlers.
func newValidator(doc *openapi3.T, maxBody int64, bodyLimits map[routeKey]int64, byHandler []routeKey, writeErr func(http.ResponseWriter, *http.Request, error)) (*validator, error) {
	v := &validator{routes: map[routeKey]operation{}, writeErr: writeErr}
	for q := range 2 {
		for b := range 2 {
			v.options[q][b] = &openapi3filter.Options{
				// Tokens are checked by the authenticate middleware, which
				// knows the token file; kin-openapi could only call a no-op.
				AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
				// The handlers apply defaults themselves; letting the
				// validator write them into the request would rewrite the
				// query string and re-encode the body on every request.
				SkipSettingDefaults:       true,
				ExcludeRequestQueryParams: q == 1,
				ExcludeRequestBody:        b == 1,
			}
		}
	}
	v.inputs.New = func() any { return &validation{params: make(map[string]string, 2)} }
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			// A copy of the operation without security requirements: with
			// them, kin-openapi walks the spec's bearerAuth scheme on every
			// request only to call the no-op above. The spec itself keeps
			// them, for the docs and the Swagger UI's Authorize button.
			checked := *op
			checked.Security = &openapi3.SecurityRequirements{}
			route := &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: &checked}
			key := routeKey{method, path}
			limit, ok := bodyLimits[key]
			if !ok {
				limit = maxBody
			}
			o := operation{route: route, queryOptional: !requiresQuery(item.Parameters, op.Parameters), maxBody: limit,
				bodyByHandler: slices.Contains(byHandler, key)}
			if o.quick = newQuickParams(route); o.quick != nil && op.RequestBody != nil {
				o.bodyOnly = bodyRoute(route)
				o.body = newQuickBody(op.RequestBody)
			}
			v.routes[key] = o
		}
	}
	return v, nil
}

// requiresQuery reports whether any of the parameters is a required query
// parameter.
func requiresQuery(lists ...openapi3.Parameters) bool {
	for _, list := range lists {
		for _, p := range list {
			if p.Value != nil && p.Value.In == openapi3.ParameterInQuery && p.Value.Required {
				return true
			}
		}
	}
	return false
}

// find returns the operation chi matched.
func (v *validator) find(r *http.Request) (operation, *chi.Context, bool) {
	rc := chi.RouteContext(r.Context())
	if rc == nil {
		return operation{}, nil, false
	}
	op, ok := v.routes[routeKey{r.Method, r.Pattern}] // chi set r.Pattern when it matched the route
	return op, rc, ok
}

// middleware reads the body through the size limit, checks its media type,
// then validates path, query and body against the operation in the spec.
func (v *validator) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, rc, ok := v.find(r)
		var body []byte
		if !ok {
			// chi matched this request, so the spec lacks the route: a bug,
			// but answer as chi would for an unknown route.
			v.writeErr(w, r, errs.Errorf(errs.NotFound, "no such route"))
			return
		}
		if op.route.Operation.RequestBody == nil {
			if !v.bodyless(w, r) {
				return
			}
			// Operations without a body ignore a JSON one.
			r.Body, r.ContentLength = http.NoBody, 0
		} else if body, ok = v.readBody(w, r, op); !ok {
			return
		}
		if err := v.check(r, op, rc, body); err != nil {
			v.writeErr(w, r, errs.Wrap(errs.Invalid, err, describe(err)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// check runs kin-openapi's request validation: of the whole request, or of
// its body alone when its parameters pass their quick tests, or none when
// the body passes its own too. body is the request's, as read by readBody.
func (v *validator) check(r *http.Request, op operation, rc *chi.Context, body []byte) error {
	var q, b int
	if r.URL.RawQuery == "" && op.queryOptional {
		q = 1
	}
	if op.bodyByHandler {
		b = 1
	}
	options := v.options[q][b]
	route := op.route
	if op.quick != nil && op.quick.accepts(r, rc, q == 1) {
		if op.bodyOnly == nil || op.bodyByHandler {
			return nil // no body, or the handler's: nothing is left to check
		}
		// kin-openapi picks the schema by the Content-Type: the quick test
		// is the application/json one's.
		if ct := r.Header["Content-Type"]; op.body != nil && len(ct) == 1 && ct[0] == "application/json" && op.body.accepts(body) {
			return nil
		}
		route = op.bodyOnly
	}
	return v.checkRoute(r, route, rc, options)
}

// checkRoute runs kin-openapi's request validation against route.
func (v *validator) checkRoute(r *http.Request, route *routers.Route, rc *chi.Context, options *openapi3filter.Options) error {
	val := v.inputs.Get().(*validation)
	for i, k := range rc.URLParams.Keys {
		val.params[k] = rc.URLParams.Values[i]
	}
	val.in = openapi3filter.RequestValidationInput{Request: r, PathParams: val.params, Route: route, Options: options}
	err := openapi3filter.ValidateRequest(r.Context(), &val.in)
	if err != nil {
		// The error points at the input (RequestError.Input), and it
		// outlives this call in the log: that input is not reused.
		return err
	}
	clear(val.params)
	val.in = openapi3filter.RequestValidationInput{}
	v.inputs.Put(val)
	return nil
}

// readBody reads the body through the size limit, checks its media type and
// shape, and puts it back for the schema check and the handler; it returns
// the body for the schema check. It answers the request itself and reports
// false when the body is refused.
func (v *validator) readBody(w http.ResponseWriter, r *http.Request, op operation) ([]byte, bool) {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(connWriter(w), r.Body, op.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			v.writeErr(w, r, errs.Errorf(errs.TooLarge, "body: larger than %d bytes", op.maxBody))
			return nil, false
		}
		v.writeErr(w, r, errs.Errorf(errs.Invalid, "body: could not be read"))
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	// An empty body of an operation whose body is optional (a retry) is
	// held to bodyless's rule: a form's content type is refused even
	// without a body, or a page elsewhere could send the write as a form.
	ct := r.Header.Get("Content-Type")
	optional := !op.route.Operation.RequestBody.Value.Required
	if (len(body) > 0 || optional && ct != "") && !isJSON(ct) {
		v.writeErr(w, r, &errs.Error{Code: codeUnsupportedMedia, Message: "body: Content-Type must be application/json"})
		return nil, false
	}
	if err := checkJSON(body); err != nil {
		v.writeErr(w, r, err)
		return nil, false
	}
	return body, true
}

// bodyless checks a write that takes no body (a sync, a delete): it must
// come with a JSON content type or with no content type and no body. A
// browser sends a form (urlencoded, multipart or text/plain) to another
// site without asking it first, so a write that took those would be open
// to cross-site request forgery whatever the body says. It answers the
// request itself and reports false when it is refused.
func (v *validator) bodyless(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if isJSON(ct) {
			return true
		}
		v.writeErr(w, r, &errs.Error{Code: codeUnsupportedMedia, Message: "Content-Type must be application/json, or absent with an empty body"})
		return false
	}
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return true
	}
	// A chunked body has no length: one byte tells whether it is empty.
	var one [1]byte
	if n, _ := io.ReadFull(r.Body, one[:]); n == 0 {
		return true
	}
	v.writeErr(w, r, &errs.Error{Code: codeUnsupportedMedia, Message: "a body needs Content-Type: application/json"})
	return false
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
