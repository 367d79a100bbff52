package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The body's quick test may only spare kin-openapi work, never change an
// answer: every body below, on every route of the spec that takes one,
// is checked both ways, and must get the same answer.

// bodyValues are JSON values put in place of a member's value.
var bodyValues = []string{
	`null`, `true`, `false`, `0`, `-1.5e3`, `1e400`, `""`, `"x"`, `"item1"`, `"1h"`, `"30s"`, `"soon"`, `"é"`, `"a\nb"`,
	`"a\"b"`, `"\u0061"`, `"a b"`, `"` + strings.Repeat("b", 257) + `"`, `[]`, `[null]`, `[1,"a",{}]`, `{}`, `{"a":null}`,
	`{"a":{"b":[1,2,{"c":"\u00e9"}]},"d":1e400}`, `{"status":"Not-started","attempt":0}`, `{"bad":"\q"}`, `{"a":tru}`,
	`"http://127.0.0.1:9/sync"`, `{"url":"http://127.0.0.1:9/sync"}`, `[{"id":"a"}]`, `{"id":"a"}`,
}

// bodyBases are valid bodies of the spec's operations, to vary.
var bodyBases = []string{
	`{"id":"item1","data":{"status":"Not-started","attempt":0}}`,
	`{"id":"item1","data":null,"terminal":true,"ttl":"1h"}`,
	`{"id":"item1"}`,
	`{"terminal":true}`, `{"data":{"a":1}}`, `{"data":"x","terminal":false}`,
	`{"ttl":"1h"}`, `{}`,
	`{"items":[{"id":"item1"}]}`,
	`{"webhook":{"url":"http://127.0.0.1:9/sync"}}`,
	`{"webhook":{"url":"http://127.0.0.1:9/sync"},"resyncPeriod":"1h","syncOnCreate":false,"size":5000000}`,
}

// bodyCorpus is every base, and each with one member's value replaced by
// each of bodyValues, one member removed, an unknown member added, and
// some malformed endings.
func bodyCorpus() []string {
	out := append([]string{}, bodyBases...)
	for _, base := range bodyBases {
		keys := topKeys(base)
		for _, k := range keys {
			for _, v := range bodyValues {
				out = append(out, replaceMember(base, k, v))
			}
			out = append(out, removeMember(base, k))
		}
		for _, v := range bodyValues {
			out = append(out, strings.TrimSuffix(base, "}")+sep(base)+`"zz":`+v+"}")
		}
		out = append(out, base+" ", " "+base, base+"x", base+"{}", strings.TrimSuffix(base, "}"), "\n"+base+"\n")
	}
	return append(out, bodyValues...)
}

func sep(obj string) string {
	if obj == "{}" {
		return ""
	}
	return ","
}

// topKeys lists the keys of a flat-ish object body by decoding it.
func topKeys(body string) []string {
	var keys []string
	s := jsonScan{b: []byte(body)}
	s.i = 1
	s.space()
	for s.i < len(s.b) && s.b[s.i] == '"' {
		raw, _, _ := s.str()
		keys = append(keys, string(raw[1:len(raw)-1]))
		s.space()
		s.i++
		s.space()
		_ = s.value(1)
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			s.space()
		}
	}
	return keys
}

// replaceMember and removeMember edit the member k of a body made of
// topKeys' members.
func replaceMember(body, k, v string) string { return editMember(body, k, &v) }
func removeMember(body, k string) string     { return editMember(body, k, nil) }

func editMember(body, k string, v *string) string {
	s := jsonScan{b: []byte(body)}
	s.i = 1
	var parts []string
	s.space()
	for s.i < len(s.b) && s.b[s.i] == '"' {
		raw, _, _ := s.str()
		s.space()
		s.i++
		s.space()
		start := s.i
		_ = s.value(1)
		val := body[start:s.i]
		switch key := string(raw[1 : len(raw)-1]); {
		case key != k:
			parts = append(parts, string(raw)+":"+val)
		case v != nil:
			parts = append(parts, string(raw)+":"+*v)
		}
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			s.space()
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestQuickBodyAnswersAsKinOpenAPI(t *testing.T) {
	v := specValidator(t)
	corpus := bodyCorpus()
	quickly, compared := 0, 0
	for key, op := range v.routes {
		if op.route.Operation.RequestBody == nil {
			continue
		}
		if op.body == nil {
			t.Errorf("%s %s: no quick test of the body", key.method, key.pattern)
			continue
		}
		params := map[string]string{}
		for _, n := range pathNames(key.pattern) {
			params[n] = "item1"
		}
		for _, body := range corpus {
			if checkJSON([]byte(body)) != nil {
				continue // refused before the schema check
			}
			if op.body.accepts([]byte(body)) {
				quickly++
			}
			for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/merge-patch+json"} {
				quick := bodyAnswer(t, v, key, op, params, ct, body, true)
				full := bodyAnswer(t, v, key, op, params, ct, body, false)
				compared++
				if quick != full {
					t.Errorf("%s %s %s %s: quick %q, kin-openapi %q", key.method, key.pattern, ct, body, quick, full)
				}
			}
		}
	}
	// Not vacuous: many bodies were taken by the quick test, among them
	// the create that scripts/bench-http sends.
	if quickly < 50 {
		t.Errorf("only %d of %d bodies passed the quick test", quickly, compared)
	}
	create := v.routes[routeKey{http.MethodPost, "/v1/caches/{cache}/items"}]
	if !create.body.accepts([]byte(`{"id":"w1-0-1","data":{"status":"Not-started","attempt":0}}`)) {
		t.Error("the benchmark's create is not taken by the quick test")
	}
}

func bodyAnswer(t *testing.T, v *validator, key routeKey, op operation, params map[string]string, ct, body string, quick bool) string {
	t.Helper()
	r := httptest.NewRequestWithContext(context.Background(), key.method, "/x", strings.NewReader(body))
	r.Header.Set("Content-Type", ct)
	return answer(v, r, key, op, params, quick)
}

// FuzzQuickBody holds the quick test of a create's body to kin-openapi's
// answer: a body it takes must pass kin-openapi.
//
//	go test -run '^$' -fuzz FuzzQuickBody -fuzztime 60s ./internal/handlers/
func FuzzQuickBody(f *testing.F) {
	for _, b := range bodyCorpus() {
		f.Add(b)
	}
	v := specValidator(&testing.T{})
	routes := []routeKey{
		{http.MethodPost, "/v1/caches/{cache}/items"},
		{http.MethodPatch, "/v1/caches/{cache}/items/{id}"},
		{http.MethodPut, "/v1/caches/{cache}"},
		{http.MethodPost, "/v1/caches/{cache}/items/batch"},
	}
	f.Fuzz(func(t *testing.T, body string) {
		if checkJSON([]byte(body)) != nil {
			return
		}
		for _, key := range routes {
			op := v.routes[key]
			if !op.body.accepts([]byte(body)) {
				continue
			}
			params := map[string]string{"cache": "jobs", "id": "item1"}
			if full := bodyAnswer(t, v, key, op, params, "application/json", body, false); full != "" {
				t.Errorf("%s %s %q: the quick test takes it, kin-openapi says %s", key.method, key.pattern, body, full)
			}
		}
	})
}
