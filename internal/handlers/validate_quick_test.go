package handlers

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"

	"github.com/autorefresh/autorefresh/api"
	"github.com/autorefresh/autorefresh/internal/errs"
)

// The quick tests of validate_quick.go may only spare kin-openapi work,
// never change an answer: every request below, valid or not, is checked
// both ways, through check (quick tests first) and through kin-openapi
// alone, against api/openapi.yaml, and must get the same answer.

// quickValues are path values to try: valid ones, and each way of being
// invalid that the spec's patterns and lengths know.
var quickValues = []string{
	"jobs", "item1", "a", "A-b.c_d~e", ".", "..", "batch",
	"UPPER", "-lead", "with space", "slash/inside", "per%cent", "é", "ütf8", "a\x00b", "tab\tx",
	strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("b", 256), strings.Repeat("b", 257),
}

// quickHeaders are request headers to try: none, valid and invalid values
// of the spec's header parameters, and one the spec does not name.
var quickHeaders = []http.Header{
	nil,
	{"If-None-Match": {`"3"`}},
	{"If-None-Match": {strings.Repeat("x", 1025)}},
	{"If-Match": {`"1"`}},
	{"If-Match": {strings.Repeat("x", 1025)}},
	{"If-Match": {""}},
	{"Last-Event-Id": {strings.Repeat("7", 2000)}},
	{"X-Other": {"anything"}},
}

var quickQueries = []string{"", "limit=5", "limit=0", "limit=x", "terminal=maybe", "wait=true", "timeout=-1s", "unknown=1"}

func TestQuickParamsAnswerAsKinOpenAPI(t *testing.T) {
	v := specValidator(t)
	checked := 0
	for key, op := range v.routes {
		// Every route of the spec has quick tests: without them the
		// server would be back to kin-openapi's cost on every request.
		if op.quick == nil {
			t.Errorf("%s %s: no quick tests", key.method, key.pattern)
			continue
		}
		names := pathNames(key.pattern)
		for _, value := range quickValues {
			for _, h := range quickHeaders {
				for _, q := range quickQueries {
					params := map[string]string{}
					for i, n := range names {
						// The first parameter gets the value, the others
						// a valid one (and then the value in turn).
						params[n] = "item1"
						if i == checked%len(names) {
							params[n] = value
						}
					}
					checked++
					quick := quickCheck(t, v, key, op, params, h, q, true)
					full := quickCheck(t, v, key, op, params, h, q, false)
					if quick != full {
						t.Errorf("%s %s %v header %v query %q: quick %q, kin-openapi %q", key.method, key.pattern, params, h, q, quick, full)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no route checked")
	}
}

func TestQuickParamsBodyAnswersAsKinOpenAPI(t *testing.T) {
	v := specValidator(t)
	key := routeKey{http.MethodPost, "/v1/caches/{cache}/items"}
	op := v.routes[key]
	if op.bodyOnly == nil {
		t.Fatalf("%v: no body-only route", key)
	}
	for _, body := range []string{
		`{"id":"item1"}`, `{"id":"item1","data":{"a":[1,2,{"b":null}]},"terminal":true,"ttl":"1h"}`,
		`{"id":"bad id"}`, `{"id":""}`, `{}`, `{"id":"a","unknown":1}`, `{"id":"a","terminal":"yes"}`,
		`{"id":"a","ttl":"soon"}`, `[]`, `"x"`, `{"id":1}`,
	} {
		for _, cache := range []string{"jobs", "Bad"} {
			params := map[string]string{"cache": cache}
			quick := quickCheckBody(t, v, key, op, params, body, true)
			full := quickCheckBody(t, v, key, op, params, body, false)
			if quick != full {
				t.Errorf("POST %s body %s: quick %q, kin-openapi %q", cache, body, quick, full)
			}
		}
	}
}

// specValidator is the validator of api/openapi.yaml.
func specValidator(t *testing.T) *validator {
	t.Helper()
	spec, err := api.Load()
	if err != nil {
		t.Fatal(err)
	}
	v, err := newValidator(spec, 1<<20, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// pathNames lists the {names} of a route pattern.
func pathNames(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") {
			out = append(out, strings.Trim(seg, "{}"))
		}
	}
	return out
}

// quickCheck validates one request as the middleware would, after chi
// matched it, through check (quick) or through kin-openapi alone, and
// returns the answer: "" or the error's code and message.
func quickCheck(t *testing.T, v *validator, key routeKey, op operation, params map[string]string, h http.Header, query string, quick bool) string {
	t.Helper()
	r := httptest.NewRequestWithContext(context.Background(), key.method, "/x", nil)
	r.URL.RawQuery = query
	for k, vs := range h {
		r.Header[k] = vs
	}
	if op.route.Operation.RequestBody != nil {
		// A valid body of every route that takes one: the parameters are
		// what this test is about.
		r.Body = http.NoBody
		r.Header.Set("Content-Type", "application/json")
		r = withBody(r, validBody(key))
	}
	return answer(v, r, key, op, params, quick)
}

func quickCheckBody(t *testing.T, v *validator, key routeKey, op operation, params map[string]string, body string, quick bool) string {
	t.Helper()
	r := httptest.NewRequestWithContext(context.Background(), key.method, "/x", nil)
	r.Header.Set("Content-Type", "application/json")
	return answer(v, withBody(r, body), key, op, params, quick)
}

func withBody(r *http.Request, body string) *http.Request {
	r.Body = http.NoBody
	if body != "" {
		r2 := httptest.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), strings.NewReader(body))
		r2.Header = r.Header
		return r2
	}
	return r
}

func answer(v *validator, r *http.Request, key routeKey, op operation, params map[string]string, quick bool) string {
	rc := chi.NewRouteContext()
	for k, val := range params {
		rc.URLParams.Add(k, val)
	}
	r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rc))
	r.Pattern = key.pattern
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	var err error
	if quick {
		err = v.check(r, op, rc, body)
	} else {
		options := v.options[0][0]
		if r.URL.RawQuery == "" && op.queryOptional {
			options = v.options[1][0]
		}
		err = v.checkRoute(r, op.route, rc, options)
	}
	if err == nil {
		return ""
	}
	return string(errs.CodeOf(errs.Wrap(errs.Invalid, err, describe(err)))) + ": " + describe(err)
}

// validBody is a body the route's schema accepts.
func validBody(key routeKey) string {
	switch {
	case strings.HasSuffix(key.pattern, "/items") && key.method == http.MethodPost:
		return `{"id":"item1"}`
	case strings.HasSuffix(key.pattern, "/batch"):
		return `{"items":[{"id":"item1"}]}`
	case key.method == http.MethodPatch:
		return `{"terminal":true}`
	case key.method == http.MethodPut:
		return `{"webhook":{"url":"http://127.0.0.1:9/sync"}}`
	}
	return ""
}

// The quick test of a path parameter is only built for plain string
// schemas: any other keyword leaves the parameter to kin-openapi.
func TestPlainString(t *testing.T) {
	max := uint64(4)
	base := func() *openapi3.Schema {
		return &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeString}, MaxLength: &max, Pattern: "^[a-z]+$", Description: "d"}
	}
	if !plainString(base()) {
		t.Error("a string with a length and a pattern is not plain")
	}
	for name, change := range map[string]func(*openapi3.Schema){
		"enum":     func(s *openapi3.Schema) { s.Enum = []any{"a"} },
		"format":   func(s *openapi3.Schema) { s.Format = "uuid" },
		"nullable": func(s *openapi3.Schema) { s.Nullable = true },
		"not":      func(s *openapi3.Schema) { s.Not = openapi3.NewSchemaRef("", openapi3.NewStringSchema()) },
		"allOf": func(s *openapi3.Schema) {
			s.AllOf = openapi3.SchemaRefs{openapi3.NewSchemaRef("", openapi3.NewStringSchema())}
		},
		"const":   func(s *openapi3.Schema) { s.Const = "a" },
		"integer": func(s *openapi3.Schema) { s.Type = &openapi3.Types{openapi3.TypeInteger} },
		"two types": func(s *openapi3.Schema) {
			s.Type = &openapi3.Types{openapi3.TypeString, openapi3.TypeNull}
		},
	} {
		s := base()
		change(s)
		if plainString(s) {
			t.Errorf("with %s: plain", name)
		}
	}
}
