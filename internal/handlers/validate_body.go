package handlers

import (
	"encoding/json"
	"reflect"

	"github.com/getkin/kin-openapi/openapi3"
)

// kin-openapi checks a body by decoding it into maps and walking the schema
// over them: about half of the CPU of an in-memory create, in the handler
// benchmark. Like the parameters' quick tests (validate_quick.go), a body
// gets a quick test that only ever says "certainly valid", compiled from
// the spec: objects with listed properties, plain strings, booleans,
// objects that take anything, allOf and anyOf of those. Any other keyword
// makes its schema accept nothing here, and any body the test does not
// certainly accept goes through kin-openapi as before, which answers it.

// bodyKind is what a quickBody node accepts.
type bodyKind int

const (
	// bodyNever accepts nothing: a schema the quick test does not know.
	bodyNever bodyKind = iota
	// bodyString is a plain string schema (see plainString).
	bodyString
	// bodyBool is type boolean.
	bodyBool
	// bodyAnyObject is an object schema that takes any members (no
	// properties, additional ones allowed without a schema); nullable, it
	// takes null too.
	bodyAnyObject
	// bodyObject is an object with listed properties.
	bodyObject
	// bodyAllOf and bodyAnyOf are a schema of nothing but allOf or anyOf.
	bodyAllOf
	bodyAnyOf
)

// quickBody is a schema as the body's quick test reads it.
type quickBody struct {
	kind bodyKind
	// bodyString
	str quickParam
	// bodyAnyObject: null is accepted.
	nullable bool
	// bodyObject
	props    map[string]*quickBody
	required []string
	extra    bool // members beyond props are allowed, unchecked
	// bodyAllOf, bodyAnyOf
	subs []*quickBody
}

// newQuickBody compiles the body schema of an operation for its
// application/json content, or returns nil when it has none.
func newQuickBody(rb *openapi3.RequestBodyRef) *quickBody {
	if rb == nil || rb.Value == nil {
		return nil
	}
	mt := rb.Value.Content["application/json"]
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return nil
	}
	return compileBody(mt.Schema.Value, 0)
}

// compileBody reads s; depth bounds a recursive schema.
func compileBody(s *openapi3.Schema, depth int) *quickBody {
	never := &quickBody{kind: bodyNever}
	if depth > 8 {
		return never
	}
	// Only the listed keywords may be set; annotations are kept, as
	// plainString keeps them, so that they do not count.
	allowed := openapi3.Schema{
		Extensions: s.Extensions, Origin: s.Origin, Title: s.Title, Description: s.Description,
		Example: s.Example, Examples: s.Examples, ExternalDocs: s.ExternalDocs, Deprecated: s.Deprecated,
		Comment: s.Comment,
	}
	switch {
	case s.Type == nil && len(s.AllOf) > 0, s.Type == nil && len(s.AnyOf) > 0:
		allowed.AllOf, allowed.AnyOf = s.AllOf, s.AnyOf
		if !reflect.DeepEqual(*s, allowed) || len(s.AllOf) > 0 && len(s.AnyOf) > 0 {
			return never
		}
		q := &quickBody{kind: bodyAllOf}
		refs := s.AllOf
		if len(s.AnyOf) > 0 {
			q.kind, refs = bodyAnyOf, s.AnyOf
		}
		for _, ref := range refs {
			if ref.Value == nil {
				return never
			}
			q.subs = append(q.subs, compileBody(ref.Value, depth+1))
		}
		return q
	case s.Type == nil || len(*s.Type) != 1:
		return never
	}
	switch (*s.Type)[0] {
	case openapi3.TypeString:
		q, ok := newQuickParam(&openapi3.Parameter{In: openapi3.ParameterInPath, Schema: openapi3.NewSchemaRef("", s)})
		if !ok {
			return never
		}
		return &quickBody{kind: bodyString, str: q}
	case openapi3.TypeBoolean:
		// A default is only written into a request when kin-openapi is
		// asked to (the validator never asks: SkipSettingDefaults).
		allowed.Type, allowed.Default = s.Type, s.Default
		if !reflect.DeepEqual(*s, allowed) {
			return never
		}
		return &quickBody{kind: bodyBool}
	case openapi3.TypeObject:
		allowed.Type, allowed.Nullable, allowed.Properties, allowed.Required = s.Type, s.Nullable, s.Properties, s.Required
		allowed.AdditionalProperties = s.AdditionalProperties
		if !reflect.DeepEqual(*s, allowed) || s.AdditionalProperties.Schema != nil {
			return never
		}
		extra := s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has
		if len(s.Properties) == 0 && len(s.Required) == 0 && extra {
			return &quickBody{kind: bodyAnyObject, nullable: s.Nullable}
		}
		if s.Nullable {
			return never
		}
		q := &quickBody{kind: bodyObject, props: map[string]*quickBody{}, required: s.Required, extra: extra}
		for name, ref := range s.Properties {
			if ref.Value == nil {
				return never
			}
			q.props[name] = compileBody(ref.Value, depth+1)
		}
		return q
	}
	return never
}

// accepts reports whether body, as kin-openapi would decode it, certainly
// passes the schema. body has passed checkJSON (valid UTF-8, no key twice,
// bounded nesting) but may still be malformed, which json.Valid settles
// first: the scan below then only reads well-formed JSON.
func (q *quickBody) accepts(body []byte) bool {
	if !json.Valid(body) {
		return false
	}
	s := jsonScan{b: body}
	s.space()
	if !q.value(&s) {
		return false
	}
	s.space()
	return s.i == len(s.b)
}

// value reports whether the value at s certainly passes q, and steps over
// it when it does.
func (q *quickBody) value(s *jsonScan) bool {
	if s.i == len(s.b) {
		return false
	}
	c := s.b[s.i]
	switch q.kind {
	case bodyString:
		if c != '"' {
			return false
		}
		raw, escaped, err := s.str()
		return err == nil && !escaped && q.str.valid(string(raw[1:len(raw)-1]))
	case bodyBool:
		return s.literal("true") || s.literal("false")
	case bodyAnyObject:
		if c == 'n' {
			return q.nullable && s.literal("null")
		}
		return c == '{' && s.value(1) == nil
	case bodyObject:
		return c == '{' && q.object(s)
	case bodyAllOf:
		start := s.i
		for _, sub := range q.subs {
			s.i = start
			if !sub.value(s) {
				return false
			}
		}
		return len(q.subs) > 0
	case bodyAnyOf:
		start := s.i
		for _, sub := range q.subs {
			s.i = start
			if sub.value(s) {
				return true
			}
		}
	}
	return false
}

// object checks an object's members against the listed properties.
func (q *quickBody) object(s *jsonScan) bool {
	seen := 0 // required properties present
	s.i++     // {
	s.space()
	for s.i < len(s.b) && s.b[s.i] != '}' {
		raw, escaped, err := s.str()
		if err != nil || escaped {
			return false
		}
		key := string(raw[1 : len(raw)-1])
		s.space()
		s.i++ // :
		s.space()
		if prop, ok := q.props[key]; ok {
			if !prop.value(s) {
				return false
			}
		} else if !q.extra || s.value(1) != nil {
			return false
		}
		for _, r := range q.required {
			if r == key {
				seen++
			}
		}
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			s.space()
		}
	}
	s.i++ // }
	return seen == len(q.required)
}

// literal steps over word if it is next.
func (s *jsonScan) literal(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}
