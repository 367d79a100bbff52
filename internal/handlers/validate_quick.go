package handlers

import (
	"net/http"
	"reflect"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"
)

// kin-openapi checks each parameter of a request by decoding it into a
// value and walking its schema with fresh validation settings: on a GET of
// an item (two path parameters, an optional header) that was most of the
// validator's cost, and a quarter of what the server allocated per request.
// The spec's path parameters are plain strings (a length range and a
// pattern), so a cheap test recognises a valid value. That test only ever
// says "certainly valid": a value it does not recognise, or a parameter it
// cannot judge, sends the whole request through kin-openapi as before, so
// every refusal is kin-openapi's own, with the same answer.

// quickParams are an operation's parameters, as kin-openapi checks them
// (the path item's, unless the operation overrides them, then the
// operation's), each with a cheap test.
type quickParams []quickParam

// quickParam is one parameter with a test that accepts only values
// kin-openapi accepts.
type quickParam struct {
	in, name string
	// header is the canonical header name (in: header).
	header string
	// For a path parameter: its value's length range in bytes (only ASCII
	// values are judged, where bytes are UTF-16 code units as JSON
	// Schema counts them; max < 0 is no bound) and pattern (nil: none).
	min, max int
	pattern  *regexp.Regexp
	// classes is pattern, when it has their shape (see classPattern).
	classes classPattern
}

// newQuickParams returns the quick tests of route's parameters, or nil if
// one of them has none: then every request of the route goes through
// kin-openapi whole.
func newQuickParams(route *routers.Route) quickParams {
	if route.Spec.IsOpenAPI31OrLater() {
		return nil // another schema dialect: not what the tests below mirror
	}
	var out quickParams
	op := route.Operation
	for _, ref := range route.PathItem.Parameters {
		p := ref.Value
		if p == nil {
			return nil
		}
		if op.Parameters != nil && op.Parameters.GetByInAndName(p.In, p.Name) != nil {
			continue // overridden by the operation's: checked below
		}
		q, ok := newQuickParam(p)
		if !ok {
			return nil
		}
		out = append(out, q)
	}
	for _, ref := range op.Parameters {
		if ref.Value == nil {
			return nil
		}
		q, ok := newQuickParam(ref.Value)
		if !ok {
			return nil
		}
		out = append(out, q)
	}
	if out == nil {
		out = quickParams{} // no parameter: every request passes, not "no quick test"
	}
	return out
}

// newQuickParam returns p's quick test, if it has one. A query parameter
// is accepted only when kin-openapi would skip it, an optional header
// only when absent (see accepts); a header or path parameter needs a
// schema that only a string type, a length range and a pattern constrain.
func newQuickParam(p *openapi3.Parameter) (quickParam, bool) {
	if p.Content != nil || p.Schema == nil || p.Schema.Value == nil {
		return quickParam{}, false
	}
	q := quickParam{in: p.In, name: p.Name}
	if p.In == openapi3.ParameterInQuery {
		return q, true
	}
	// kin-openapi refuses a header or path parameter of another style even
	// when it is absent.
	s := p.Schema.Value
	if (p.Style != "" && p.Style != openapi3.SerializationSimple) || p.AllowEmptyValue || !plainString(s) {
		return quickParam{}, false
	}
	switch p.In {
	case openapi3.ParameterInHeader:
		q.header = http.CanonicalHeaderKey(p.Name)
		return q, !p.Required
	case openapi3.ParameterInPath:
	default:
		return quickParam{}, false // cookies: none in the spec
	}
	q.min, q.max = int(s.MinLength), -1
	if s.MaxLength != nil {
		q.max = int(*s.MaxLength)
	}
	if s.Pattern != "" {
		// kin-openapi compiles a pattern with regexp after rewriting
		// \uXXXX escapes; one without them it compiles as it is.
		if strings.Contains(s.Pattern, `\u`) {
			return quickParam{}, false
		}
		re, err := regexp.Compile(s.Pattern)
		if err != nil {
			return quickParam{}, false
		}
		q.pattern = re
		q.classes, _ = compileClasses(s.Pattern)
	}
	return q, true
}

// plainString reports whether s constrains a value by nothing but its
// type, string, a length range and a pattern. It lists what may be set
// rather than what may not, so that a keyword kin-openapi checks and this
// test does not know (enum, format, nullable, a newer one) disables it.
func plainString(s *openapi3.Schema) bool {
	if s.Type == nil || len(*s.Type) != 1 || (*s.Type)[0] != openapi3.TypeString {
		return false
	}
	allowed := openapi3.Schema{
		Type: s.Type, MinLength: s.MinLength, MaxLength: s.MaxLength, Pattern: s.Pattern,
		// Annotations: they constrain nothing.
		Extensions: s.Extensions, Origin: s.Origin, Title: s.Title, Description: s.Description,
		Example: s.Example, Examples: s.Examples, ExternalDocs: s.ExternalDocs, Deprecated: s.Deprecated,
		Comment: s.Comment,
	}
	return reflect.DeepEqual(*s, allowed)
}

// accepts reports whether every parameter of the request passes its quick
// test: path values that are valid, optional headers that are absent, and
// query parameters when queryExcluded (the request has no query string
// and none is required: see operation.queryOptional). False means only
// that kin-openapi must judge.
func (qs quickParams) accepts(r *http.Request, rc *chi.Context, queryExcluded bool) bool {
	for i := range qs {
		q := &qs[i]
		switch q.in {
		case openapi3.ParameterInQuery:
			if !queryExcluded {
				return false
			}
		case openapi3.ParameterInHeader:
			if _, sent := r.Header[q.header]; sent {
				return false
			}
		default: // path
			if !q.valid(rc.URLParam(q.name)) {
				return false
			}
		}
	}
	return true
}

// valid reports whether a path value is certainly valid: ASCII, within the
// length range and matching the pattern. An empty value is left to
// kin-openapi (to it, an empty path value is a missing one).
func (q *quickParam) valid(v string) bool {
	if v == "" || len(v) < q.min || (q.max >= 0 && len(v) > q.max) || !isASCII(v) {
		return false
	}
	switch {
	case q.classes != nil:
		return q.classes.match(v)
	case q.pattern != nil:
		return q.pattern.MatchString(v)
	}
	return true
}

// bodyRoute returns route without its parameters, for checking only the
// body of a request whose parameters passed their quick tests.
func bodyRoute(route *routers.Route) *routers.Route {
	item := *route.PathItem
	item.Parameters = nil
	op := *route.Operation
	op.Parameters = nil
	body := *route
	body.PathItem, body.Operation = &item, &op
	return &body
}
