package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/autorefresh/autorefresh/api"
	"github.com/autorefresh/autorefresh/internal/errs"
)

// batchBodies are bodies on both sides of each rule batchRule checks, as
// the seeds of FuzzBatchRuleAgreesWithSpec and the cases of
// TestBatchRuleAgreesWithSpec.
var batchBodies = []string{
	`{"items":[{"id":"a"}]}`,
	`{"items":[{"id":"a","data":{"x":[1,null]},"terminal":true,"ttl":"1h30m"}]}`,
	`{"items":[{"id":"a","data":null},{"id":"b","data":"s"},{"id":"c","data":[1]},{"id":"d","data":1.5},{"id":"e","data":false}]}`,
	`{"items":[{"id":"a.b_c~d-e","terminal":false,"ttl":"500ms"}]}`,
	`{"items":[{"id":"a","ttl":"1.5µs"},{"id":"b","ttl":"2μs"},{"id":"c","ttl":"3us"},{"id":"d","ttl":"4ns"}]}`,
	`{"items":[{"id":"\u0061"}]}`, // an escape that decodes to a valid id
	`{"items":[]}`,
	`{"items":null}`,
	`{}`,
	`{"items":[{"id":"a"}],"more":1}`,
	`{"items":{"id":"a"}}`,
	`{"items":[1]}`,
	`{"items":[null]}`,
	`{"items":["a"]}`,
	`{"items":[[]]}`,
	`{"items":[{}]}`,
	`{"items":[{"id":null}]}`,
	`{"items":[{"id":7}]}`,
	`{"items":[{"id":""}]}`,
	`{"items":[{"id":"a b"}]}`,
	`{"items":[{"id":"a/b"}]}`,
	`{"items":[{"id":"é"}]}`,
	`{"items":[{"id":"a\n"}]}`,
	`{"items":[{"id":"` + strings.Repeat("a", 256) + `"}]}`,
	`{"items":[{"id":"` + strings.Repeat("a", 257) + `"}]}`,
	`{"items":[{"id":"a","extra":1}]}`,
	`{"items":[{"id":"a","terminal":null}]}`,
	`{"items":[{"id":"a","terminal":"true"}]}`,
	`{"items":[{"id":"a","terminal":1}]}`,
	`{"items":[{"id":"a","ttl":null}]}`,
	`{"items":[{"id":"a","ttl":30}]}`,
	`{"items":[{"id":"a","ttl":""}]}`,
	`{"items":[{"id":"a","ttl":"30"}]}`,
	`{"items":[{"id":"a","ttl":"-30s"}]}`,
	`{"items":[{"id":"a","ttl":"1d"}]}`,
	`{"items":[{"id":"a","ttl":"` + strings.Repeat("1s", 33) + `"}]}`,
	`{"items":[{"id":"a"},{"id":"b","terminal":"no"}]}`,
	`[]`,
	`null`,
	`"items"`,
}

// specVerdict is what kin-openapi's schema check says of body: whether it
// is a valid ItemBatch.
func specVerdict(t testing.TB, doc *openapi3.T, body []byte) bool {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // as kin-openapi's JSON body decoder
	if err := dec.Decode(&v); err != nil || dec.More() {
		return false
	}
	return doc.Components.Schemas["ItemBatch"].Value.VisitJSON(v) == nil
}

// ruleVerdict is what batchRule says of body, and its error.
func ruleVerdict(rule batchRule, body []byte) (bool, error) {
	r := httptest.NewRequest(http.MethodPost, "/v1/caches/c/items/batch", bytes.NewReader(body))
	_, err := rule.decode(r)
	return err == nil, err
}

func loadBatchRule(t testing.TB) (*openapi3.T, batchRule) {
	t.Helper()
	doc, err := api.Load()
	if err != nil {
		t.Fatal(err)
	}
	rule, err := compileBatchRule(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := rule.agreesWithService(); err != nil {
		t.Fatal(err)
	}
	return doc, rule
}

func TestBatchRuleAgreesWithSpec(t *testing.T) {
	doc, rule := loadBatchRule(t)
	valid := 0
	for _, body := range append(batchBodies, bigBatch(1000), bigBatch(1001)) {
		if checkJSON([]byte(body)) != nil {
			t.Fatalf("case %.60s: refused before the schema check; it tests nothing here", body)
		}
		want := specVerdict(t, doc, []byte(body))
		got, err := ruleVerdict(rule, []byte(body))
		if got != want {
			t.Errorf("body %.80s: the spec says valid=%v, the rule valid=%v (%v)", body, want, got, err)
		}
		if !got && (err == nil || !strings.HasPrefix(errs.MessageOf(err), "body")) {
			t.Errorf("body %.80s: error %v does not name where in the body", body, err)
		}
		if got {
			valid++
		}
	}
	if valid < 5 {
		t.Errorf("only %d valid cases: the test would pass a rule that refuses everything", valid)
	}
}

// TestBatchRuleFillsEntries checks that what the rule lets through is read
// as the single create's body would be.
func TestBatchRuleFillsEntries(t *testing.T) {
	_, rule := loadBatchRule(t)
	body := `{"items":[{"id":"a","data":{"k":1},"terminal":true,"ttl":"90s"},{"id":"b"},{"id":"c","data":null}]}`
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	got, err := rule.decode(r)
	if err != nil {
		t.Fatal(err)
	}
	var want struct{ Items []itemCreate }
	if err := json.Unmarshal([]byte(body), &want); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d entries", len(got))
	}
	for i := range got {
		g, w := got[i], want.Items[i]
		if g.ID != w.ID || !bytes.Equal(g.Data, w.Data) || g.Terminal != w.Terminal || g.TTL != w.TTL {
			t.Errorf("entry %d: %+v, want %+v", i, g, w)
		}
	}
}

// TestBatchRuleRefusesAnUnknownSpecShape: a field added to ItemCreate
// must be taught to the rule, not let through unchecked.
func TestBatchRuleRefusesAnUnknownSpecShape(t *testing.T) {
	doc, _ := loadBatchRule(t)
	create := doc.Components.Schemas["ItemCreate"].Value
	create.Properties["priority"] = openapi3.NewIntegerSchema().NewRef()
	defer delete(create.Properties, "priority")
	if _, err := compileBatchRule(doc); err == nil {
		t.Error("a spec whose ItemCreate has a field the rule does not know was accepted")
	}
}

// FuzzBatchRuleAgreesWithSpec: for any body that passes checkJSON, the rule
// and kin-openapi's schema check give the same verdict.
//
//	go test -run '^$' -fuzz FuzzBatchRuleAgreesWithSpec -fuzztime 1m ./internal/handlers/
func FuzzBatchRuleAgreesWithSpec(f *testing.F) {
	doc, rule := loadBatchRule(f)
	for _, b := range batchBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if checkJSON(body) != nil {
			return
		}
		want := specVerdict(t, doc, body)
		if got, err := ruleVerdict(rule, body); got != want {
			t.Errorf("body %q: the spec says valid=%v, the rule valid=%v (%v)", body, want, got, err)
		}
	})
}

func bigBatch(n int) string {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":"i`)
		b.WriteString(strings.Repeat("x", i%5))
		b.WriteString(`"}`)
	}
	b.WriteString(`]}`)
	return b.String()
}
