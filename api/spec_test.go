package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/autorefresh/autorefresh/api"
)

func load(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := api.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return doc
}

func TestLoadValidates(t *testing.T) {
	doc := load(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "/" {
		t.Errorf("servers must be exactly [{url: /}], got %+v", doc.Servers)
	}
}

func TestSpecReturnsACopy(t *testing.T) {
	a := api.Spec()
	if !bytes.HasPrefix(a, []byte("openapi: 3.0.3")) {
		t.Fatalf("Spec does not start with the openapi version: %q", a[:min(len(a), 40)])
	}
	a[0] = 'X'
	if api.Spec()[0] != 'o' {
		t.Fatal("modifying the result of Spec changed the embedded document")
	}
}

// operation is one operation of the document, found either under paths or
// inside a callback.
type operation struct {
	where    string
	path     string
	callback bool
	op       *openapi3.Operation
}

func operations(doc *openapi3.T) []operation {
	var out []operation
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out = append(out, operation{where: method + " " + path, path: path, op: op})
			for cbName, cb := range op.Callbacks {
				for expr, cbItem := range cb.Value.Map() {
					for cbMethod, cbOp := range cbItem.Operations() {
						out = append(out, operation{
							where:    fmt.Sprintf("%s %s callback %s %s %s", method, path, cbName, cbMethod, expr),
							path:     expr,
							callback: true,
							op:       cbOp,
						})
					}
				}
			}
		}
	}
	return out
}

var camelCase = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

func TestEveryOperationIsComplete(t *testing.T) {
	doc := load(t)
	ops := operations(doc)
	if len(ops) < 15 {
		t.Fatalf("found %d operations; the walk is broken", len(ops))
	}
	seen := map[string]string{}
	for _, o := range ops {
		id := o.op.OperationID
		if !camelCase.MatchString(id) {
			t.Errorf("%s: operationId %q is not camelCase", o.where, id)
		}
		if prev, dup := seen[id]; dup {
			t.Errorf("%s: operationId %q also used by %s", o.where, id, prev)
		}
		seen[id] = o.where
		if len(o.op.Tags) == 0 || o.op.Description == "" {
			t.Errorf("%s: needs tags and a description", o.where)
		}
		if o.op.Responses.Default() == nil {
			t.Errorf("%s: no default response", o.where)
		}
		if o.callback {
			// A callback's statuses are the upstream's to choose.
			continue
		}
		want := []string{"500"}
		if strings.HasPrefix(o.path, "/v1/") {
			want = append(want, "400")
		}
		for _, status := range want {
			if o.op.Responses.Value(status) == nil {
				t.Errorf("%s: no %s response", o.where, status)
			}
		}
	}
}

func TestErrorResponsesUseTheErrorSchema(t *testing.T) {
	doc := load(t)
	errSchema := doc.Components.Schemas["Error"].Value
	for name, resp := range doc.Components.Responses {
		mt := resp.Value.Content.Get("application/json")
		if mt == nil || mt.Schema.Value != errSchema {
			t.Errorf("components/responses/%s is not an application/json Error", name)
		}
	}
}

// example is one example found in the document with the schema it must match.
type example struct {
	where  string
	schema *openapi3.Schema
	value  any
}

// collector walks the document and gathers every example. Schemas are
// visited once each, by pointer, so shared $refs are not walked repeatedly.
type collector struct {
	out     []example
	visited map[*openapi3.Schema]bool
}

func (c *collector) add(where string, s *openapi3.SchemaRef, value any) {
	if value == nil || s == nil || s.Value == nil {
		if value != nil {
			c.out = append(c.out, example{where: where + " (no schema)", value: value})
		}
		return
	}
	c.out = append(c.out, example{where: where, schema: s.Value, value: value})
}

func (c *collector) schema(where string, s *openapi3.SchemaRef) {
	if s == nil || s.Value == nil || c.visited[s.Value] {
		return
	}
	c.visited[s.Value] = true
	v := s.Value
	c.add(where+" example", s, v.Example)
	c.add(where+" default", s, v.Default)
	for name, p := range v.Properties {
		c.schema(where+"."+name, p)
	}
	c.schema(where+"[]", v.Items)
	c.schema(where+"{}", v.AdditionalProperties.Schema)
	c.schema(where+" not", v.Not)
	for i, sub := range slices.Concat(v.AllOf, v.AnyOf, v.OneOf) {
		c.schema(fmt.Sprintf("%s of[%d]", where, i), sub)
	}
}

func (c *collector) content(where string, content openapi3.Content) {
	for mediaType, mt := range content {
		w := where + " " + mediaType
		c.schema(w, mt.Schema)
		c.add(w+" example", mt.Schema, mt.Example)
		for name, ex := range mt.Examples {
			c.add(w+" examples/"+name, mt.Schema, ex.Value.Value)
		}
	}
}

func (c *collector) parameter(where string, p *openapi3.ParameterRef) {
	w := where + " parameter " + p.Value.Name
	c.schema(w, p.Value.Schema)
	c.add(w+" example", p.Value.Schema, p.Value.Example)
	for name, ex := range p.Value.Examples {
		c.add(w+" examples/"+name, p.Value.Schema, ex.Value.Value)
	}
}

func (c *collector) response(where string, r *openapi3.ResponseRef) {
	c.content(where, r.Value.Content)
	for name, h := range r.Value.Headers {
		c.schema(where+" header "+name, h.Value.Schema)
		c.add(where+" header "+name+" example", h.Value.Schema, h.Value.Example)
	}
}

func (c *collector) operation(where string, op *openapi3.Operation) {
	for _, p := range op.Parameters {
		c.parameter(where, p)
	}
	if op.RequestBody != nil {
		c.content(where+" request", op.RequestBody.Value.Content)
	}
	for status, r := range op.Responses.Map() {
		c.response(where+" response "+status, r)
	}
}

func collectExamples(doc *openapi3.T) []example {
	c := &collector{visited: map[*openapi3.Schema]bool{}}
	for name, s := range doc.Components.Schemas {
		c.schema("components/schemas/"+name, s)
	}
	for name, p := range doc.Components.Parameters {
		c.parameter("components/parameters/"+name, p)
	}
	for name, r := range doc.Components.Responses {
		c.response("components/responses/"+name, r)
	}
	for name, h := range doc.Components.Headers {
		c.add("components/headers/"+name, h.Value.Schema, h.Value.Example)
	}
	for path, item := range doc.Paths.Map() {
		for _, p := range item.Parameters {
			c.parameter(path, p)
		}
	}
	for _, o := range operations(doc) {
		c.operation(o.where, o.op)
	}
	return c.out
}

// jsonValue turns a value decoded from YAML into the types encoding/json
// produces, which is what a schema is checked against at run time.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	return out
}

func TestEveryExampleMatchesItsSchema(t *testing.T) {
	// Parse without Load's validation, which checks examples too, so that
	// this test stands on its own walk of the document.
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec())
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	examples := collectExamples(doc)
	if len(examples) < 50 {
		t.Fatalf("found only %d examples; the walk is broken", len(examples))
	}
	t.Logf("checked %d examples", len(examples))
	for _, ex := range examples {
		if ex.schema == nil {
			t.Errorf("%s: example without a schema", ex.where)
			continue
		}
		if err := ex.schema.VisitJSON(jsonValue(t, ex.value), openapi3.MultiErrors()); err != nil {
			t.Errorf("%s: %v", ex.where, err)
		}
	}
}

// TestSchemasRejectBadValues guards against schemas so loose that every
// example would pass them anyway.
func TestSchemasRejectBadValues(t *testing.T) {
	doc := load(t)
	bad := map[string][]any{
		"CacheName": {"", "Jobs", "-jobs", strings.Repeat("a", 64)},
		// "." and ".." match the schema: kin-openapi cannot decode a path
		// parameter whose schema uses `not`, so the server refuses them.
		"ItemID":   {"", "a/b", "a b", strings.Repeat("a", 257)},
		"Duration": {"", "30", "1d", "-1s", "s"},
		"CacheConfig": {
			map[string]any{"resyncPeriod": "30s"},
			map[string]any{"webhook": map[string]any{"url": "http://x"}},
			map[string]any{"webhook": map[string]any{"url": "http://x"}, "resyncPeriod": "30s", "extra": 1},
			map[string]any{"webhook": map[string]any{"url": "http://x"}, "resyncPeriod": "30s", "parallelism": 0},
			map[string]any{"webhook": map[string]any{"url": "http://x"}, "resyncPeriod": "30s", "rateLimit": map[string]any{"qps": 0}},
			map[string]any{"webhook": map[string]any{"url": "ftp://x"}, "resyncPeriod": "30s"},
			map[string]any{"webhook": map[string]any{"url": "http://x", "secret": "nope"}, "resyncPeriod": "30s"},
		},
		"ItemCreate": {
			map[string]any{"data": 1},
			map[string]any{"id": "a", "extra": true},
		},
		"Error":      {map[string]any{"code": "TEAPOT", "message": "x"}},
		"SyncResult": {map[string]any{"id": "a", "action": "create"}},
	}
	for name, values := range bad {
		s := doc.Components.Schemas[name]
		if s == nil {
			t.Fatalf("no schema %s", name)
		}
		for _, v := range values {
			if err := s.Value.VisitJSON(jsonValue(t, v)); err == nil {
				t.Errorf("%s accepted %#v", name, v)
			}
		}
	}
	good := map[string][]any{
		"ItemID":   {"a", "...", "item-1_x.y~z", strings.Repeat("a", 256)},
		"Duration": {"1h30m", "1.5s", "300ms", "10µs", "7ns"},
		"AnyValue": {nil, 1, "x", []any{}, map[string]any{"a": nil}},
	}
	for name, values := range good {
		for _, v := range values {
			if err := doc.Components.Schemas[name].Value.VisitJSON(jsonValue(t, v)); err != nil {
				t.Errorf("%s rejected %#v: %v", name, v, err)
			}
		}
	}
}

func TestRouterMatchesAnyHost(t *testing.T) {
	doc := load(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	req := httptest.NewRequest("GET", "http://other-host:1234/v1/caches/x/items/y", nil)
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatalf("FindRoute: %v", err)
	}
	if got := route.Operation.OperationID; got != "getItem" {
		t.Errorf("operation = %q, want getItem", got)
	}
	if params["cache"] != "x" || params["id"] != "y" {
		t.Errorf("params = %v, want cache=x id=y", params)
	}
}
