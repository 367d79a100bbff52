package client_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/autorefresh/autorefresh/api"
	"github.com/autorefresh/autorefresh/client"
)

// The client's types are hand-written (a generated client would bring a
// runtime dependency and a clumsier surface). These tests hold them to
// api/openapi.yaml so that the two cannot drift apart.

func TestTypesMatchSpecSchemas(t *testing.T) {
	// pending lists, per schema, fields the client speaks that the spec
	// does not describe yet; none today.
	pending := map[string][]string{}
	spec, err := api.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		schema string
		typ    any
	}{
		{"Cache", client.Cache{}},
		{"CacheConfig", client.CacheConfig{}},
		{"WebhookConfig", client.WebhookConfig{}},
		{"WebhookView", client.WebhookView{}},
		{"RateLimitConfig", client.RateLimit{}},
		{"RateLimitView", client.RateLimit{}},
		{"CacheStats", client.CacheStats{}},
		{"Item", client.Item{}},
		{"WatchedItem", client.Item{}},
		{"ItemCreate", client.CreateItem{}},
		{"ItemList", client.ItemPage{}},
	} {
		ref := spec.Components.Schemas[c.schema]
		if ref == nil || ref.Value == nil {
			t.Errorf("the spec has no schema %s", c.schema)
			continue
		}
		fields := jsonFields(reflect.TypeOf(c.typ))
		props := ref.Value.Properties
		// Every property of the spec has a field.
		for name, p := range props {
			f, ok := fields[name]
			if !ok {
				t.Errorf("%s: property %q has no field in client.%T", c.schema, name, c.typ)
				continue
			}
			if want := specType(p.Value); want != "" && !kindFits(want, f) {
				t.Errorf("%s.%s: the spec says %s, client.%T has %s", c.schema, name, want, c.typ, f)
			}
		}
		// Every field is in the spec, or pending, or a field that a
		// sibling schema has (WatchedItem lacks syncedAt and friends).
		for name := range fields {
			if _, ok := props[name]; ok || slices.Contains(pending[c.schema], name) {
				continue
			}
			if c.schema == "WatchedItem" || c.schema == "RateLimitConfig" || c.schema == "RateLimitView" {
				continue
			}
			t.Errorf("client.%T has field %q, which schema %s does not", c.typ, name, c.schema)
		}
	}
}

// jsonFields maps the JSON names of t's fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// specType is a schema's JSON type, through allOf; "" when it has none
// (AnyValue's anyOf).
func specType(s *openapi3.Schema) string {
	if s.Type != nil && len(*s.Type) > 0 {
		return (*s.Type)[0]
	}
	for _, r := range s.AllOf {
		if t := specType(r.Value); t != "" {
			return t
		}
	}
	return ""
}

func kindFits(want string, t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch want {
	case "string":
		return t.Kind() == reflect.String || t == reflect.TypeFor[client.Duration]() || t == reflect.TypeFor[time.Time]()
	case "integer":
		return t.Kind() == reflect.Int || t.Kind() == reflect.Int64
	case "number":
		return t.Kind() == reflect.Float64
	case "boolean":
		return t.Kind() == reflect.Bool
	case "object":
		return t.Kind() == reflect.Struct || t.Kind() == reflect.Map
	case "array":
		return t.Kind() == reflect.Slice
	}
	return false
}

func TestEventKindsMatchSpec(t *testing.T) {
	spec, err := api.Load()
	if err != nil {
		t.Fatal(err)
	}
	media := spec.Paths.Find("/v1/caches/{cache}/events").Get.Responses.Status(200).Value.Content["text/event-stream"]
	data, ok := media.Schema.Value.Extensions["x-event-data"].(map[string]any)
	if !ok {
		t.Fatalf("no x-event-data: %#v", media.Schema.Value.Extensions)
	}
	known := []client.EventKind{client.EventCreated, client.EventUpdated, client.EventTerminal, client.EventFailed,
		client.EventExpired, client.EventDeleted, client.EventEvicted, client.EventLagged}
	for name := range data {
		if !slices.Contains(known, client.EventKind(name)) {
			t.Errorf("event %q of the spec has no EventKind", name)
		}
	}
	for _, k := range known {
		if _, ok := data[string(k)]; !ok && k != client.EventFailed && k != client.EventExpired {
			t.Errorf("EventKind %q is not in the spec", k)
		}
	}
}

func TestCodesMatchSpec(t *testing.T) {
	spec, err := api.Load()
	if err != nil {
		t.Fatal(err)
	}
	known := []client.Code{client.CodeInvalid, client.CodeUnauthorized, client.CodeForbidden, client.CodeNotFound,
		client.CodeMethodNotAllowed, client.CodeConflict, client.CodePreconditionFailed, client.CodeTooLarge,
		client.CodeUnsupportedMediaType, client.CodeRateLimited, client.CodeMisdirectedRequest, client.CodeInternal,
		client.CodeUnavailable, client.CodeCapacity}
	enum := spec.Components.Schemas["Error"].Value.Properties["code"].Value.Enum
	var inSpec []client.Code
	for _, e := range enum {
		inSpec = append(inSpec, client.Code(e.(string)))
		if !slices.Contains(known, client.Code(e.(string))) {
			t.Errorf("code %v of the spec has no client.Code", e)
		}
	}
	for _, k := range known {
		if !slices.Contains(inSpec, k) && k != client.CodePreconditionFailed { // issue 15's
			t.Errorf("client.Code %s is not in the spec", k)
		}
	}
	for code, sentinel := range map[client.Code]error{
		client.CodeNotFound: client.ErrNotFound, client.CodeConflict: client.ErrConflict,
		client.CodePreconditionFailed: client.ErrPreconditionFailed, client.CodeInvalid: client.ErrInvalid,
	} {
		if !errors.Is(&client.APIError{Code: code}, sentinel) || errors.Is(&client.APIError{Code: code}, client.ErrInternal) {
			t.Errorf("%s does not match only its sentinel", code)
		}
	}
}
