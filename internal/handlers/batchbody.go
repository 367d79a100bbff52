package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
)

// The bulk create's body is not checked by kin-openapi, but by batchRule,
// which is built from the same schemas of api/openapi.yaml (ItemBatch,
// ItemCreate, ItemID, Duration) and checks the same things. kin-openapi
// decodes a body into interface{} values and walks the schema over each
// one; for a thousand entries that was about half the server's CPU per
// created item, and the handler then decoded the body a second time. Here
// the body is decoded once, into types, and each entry's fields are checked
// against the rules read from the spec. TestBatchRuleAgreesWithSpec and
// FuzzBatchRuleAgreesWithSpec hold the two checks to the same verdicts, and
// compileBatchRule refuses a spec whose shape it does not know, so the two
// cannot drift apart unnoticed.

// batchRule is the bulk create's body schema, compiled.
type batchRule struct {
	minItems, maxItems int
	id, ttl            stringRule
}

// stringRule is a string schema: a pattern and bounds on its length in
// characters, as JSON Schema counts them.
type stringRule struct {
	pattern  *regexp.Regexp
	min, max int
	// classes is pattern as the quick parameter tests' byte table, when it
	// has that shape (the ItemID pattern does): it matches ASCII values
	// without regexp, which was a tenth of a bulk create's CPU.
	classes classPattern
}

// rawCreate is an entry of the body as sent. Raw values tell a field left
// out (nil) from one sent as null, which encoding/json would otherwise
// accept silently for a bool or a string.
type rawCreate struct {
	ID       json.RawMessage `json:"id"`
	Data     json.RawMessage `json:"data"`
	Terminal json.RawMessage `json:"terminal"`
	TTL      json.RawMessage `json:"ttl"`
}

// compileBatchRule reads the rule from doc. It fails when the schemas are
// not of the shape batchRule checks: a field added to ItemCreate, say,
// must be added here too, and startup says so rather than letting it
// through unchecked.
func compileBatchRule(doc *openapi3.T) (batchRule, error) {
	var r batchRule
	schema := func(name string) (*openapi3.Schema, error) {
		ref, ok := doc.Components.Schemas[name]
		if !ok || ref.Value == nil {
			return nil, fmt.Errorf("batch rule: the spec has no schema %s", name)
		}
		return ref.Value, nil
	}
	batch, err := schema("ItemBatch")
	if err != nil {
		return r, err
	}
	items := batch.Properties["items"]
	if !closedObject(batch, "items") || items == nil || items.Value.Items == nil ||
		items.Value.Items.Ref != "#/components/schemas/ItemCreate" || items.Value.MaxItems == nil {
		return r, fmt.Errorf("batch rule: ItemBatch is not {items: [ItemCreate], 1..n} as the rule expects")
	}
	r.minItems, r.maxItems = int(items.Value.MinItems), int(*items.Value.MaxItems)

	create, err := schema("ItemCreate")
	if err != nil {
		return r, err
	}
	if !closedObject(create, "id", "data", "terminal", "ttl") || !slices.Equal(create.Required, []string{"id"}) ||
		create.Properties["id"].Ref != "#/components/schemas/ItemID" ||
		create.Properties["data"].Ref != "#/components/schemas/AnyValue" ||
		!create.Properties["terminal"].Value.Type.Is(openapi3.TypeBoolean) || create.Properties["terminal"].Value.Nullable ||
		len(create.Properties["ttl"].Value.AllOf) != 1 || create.Properties["ttl"].Value.AllOf[0].Ref != "#/components/schemas/Duration" {
		return r, fmt.Errorf("batch rule: ItemCreate is not {id: ItemID, data: AnyValue, terminal: boolean, ttl: Duration} as the rule expects")
	}
	if r.id, err = compileString(schema("ItemID")); err != nil {
		return r, err
	}
	r.ttl, err = compileString(schema("Duration"))
	return r, err
}

// closedObject reports whether s is an object with exactly these
// properties and no others allowed.
func closedObject(s *openapi3.Schema, props ...string) bool {
	if !s.Type.Is(openapi3.TypeObject) || s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has || len(s.Properties) != len(props) {
		return false
	}
	for _, p := range props {
		if s.Properties[p] == nil || s.Properties[p].Value == nil {
			return false
		}
	}
	return true
}

func compileString(s *openapi3.Schema, err error) (stringRule, error) {
	if err != nil {
		return stringRule{}, err
	}
	if !s.Type.Is(openapi3.TypeString) || s.Nullable || s.Pattern == "" || s.MaxLength == nil || s.Format != "" || len(s.Enum) > 0 {
		return stringRule{}, fmt.Errorf("batch rule: a string schema with a pattern and a maxLength is expected")
	}
	re, err := regexp.Compile(s.Pattern)
	if err != nil {
		return stringRule{}, fmt.Errorf("batch rule: pattern %q: %w", s.Pattern, err)
	}
	r := stringRule{pattern: re, min: int(s.MinLength), max: int(*s.MaxLength)}
	if classes, ok := compileClasses(s.Pattern); ok {
		r.classes = classes
	}
	return r, nil
}

// decode reads the body of r, which the validator has already size-limited
// and checked for UTF-8, duplicate keys and depth, and checks it against
// the rule. Its errors are 400s that name the field, as the validator's do.
func (rule batchRule) decode(r *http.Request) ([]itemCreate, error) {
	var body struct {
		Items *[]rawCreate `json:"items"`
	}
	if err := decode(r, &body); err != nil {
		return nil, err
	}
	if body.Items == nil {
		return nil, errs.Errorf(errs.Invalid, "body.items: property \"items\" is missing or null")
	}
	raw := *body.Items
	if len(raw) < rule.minItems || len(raw) > rule.maxItems {
		return nil, errs.Errorf(errs.Invalid, "body.items: must hold %d to %d items", rule.minItems, rule.maxItems)
	}
	out := make([]itemCreate, len(raw))
	for i, e := range raw {
		if err := rule.entry(e, &out[i]); err != nil {
			return nil, errs.Errorf(errs.Invalid, "body.items.%d.%s", i, err)
		}
	}
	return out, nil
}

// entry checks one entry and fills c from it.
func (rule batchRule) entry(e rawCreate, c *itemCreate) error {
	if e.ID == nil {
		return fmt.Errorf("id: property \"id\" is missing")
	}
	id, err := rule.id.check(e.ID)
	if err != nil {
		return fmt.Errorf("id: %w", err)
	}
	c.ID, c.Data = id, e.Data
	switch {
	case e.Terminal == nil, bytes.Equal(e.Terminal, []byte("false")):
	case bytes.Equal(e.Terminal, []byte("true")):
		c.Terminal = true
	default:
		return fmt.Errorf("terminal: value must be a boolean")
	}
	if e.TTL != nil {
		ttl, err := rule.ttl.check(e.TTL)
		if err != nil {
			return fmt.Errorf("ttl: %w", err)
		}
		if err := c.TTL.UnmarshalText([]byte(ttl)); err != nil {
			return fmt.Errorf("ttl: %s", err)
		}
	}
	return nil
}

// check reads a JSON string and checks it against the rule.
func (s stringRule) check(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("value must be a string")
	}
	v, err := unquote(raw)
	if err != nil {
		return "", fmt.Errorf("value must be a string")
	}
	n := utf8.RuneCountInString(v)
	switch {
	case n < s.min:
		return "", fmt.Errorf("minimum string length is %d", s.min)
	case n > s.max:
		return "", fmt.Errorf("maximum string length is %d", s.max)
	case !s.matches(v):
		return "", fmt.Errorf("string doesn't match the regular expression %s", strconv.Quote(s.pattern.String()))
	}
	return v, nil
}

// matches reports whether v matches the pattern: by the byte table for an
// ASCII value when there is one (it matches only ASCII), else by regexp.
func (s stringRule) matches(v string) bool {
	if s.classes != nil && isASCII(v) {
		return s.classes.match(v)
	}
	return s.pattern.MatchString(v)
}

func isASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// unquote decodes a JSON string, without a decoder's allocations for the
// common case of a string with no escapes.
func unquote(raw json.RawMessage) (string, error) {
	if len(raw) >= 2 && raw[len(raw)-1] == '"' && bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 && bytes.IndexByte(raw[1:len(raw)-1], '"') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	var v string
	err := json.Unmarshal(raw, &v)
	return v, err
}

// MaxBatchCreate is checked against the spec at startup, so that the
// handler's own bound and the schema's cannot differ.
func (rule batchRule) agreesWithService() error {
	if rule.minItems != 1 || rule.maxItems != autorefresh.MaxBatchCreate {
		return fmt.Errorf("batch rule: the spec allows %d to %d items, the service 1 to %d", rule.minItems, rule.maxItems, autorefresh.MaxBatchCreate)
	}
	return nil
}
