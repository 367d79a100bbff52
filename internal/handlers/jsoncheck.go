package handlers

import (
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
)

// maxJSONDepth bounds nesting in request bodies. Item data may be any JSON,
// but nothing real is nested this deep, and deep nesting is how a small body
// makes a decoder do a lot of work.
const maxJSONDepth = 64

// checkJSON refuses bodies that JSON decoders disagree on or that cost more
// than they look: bytes that are not UTF-8 (Go would silently replace them),
// an object with the same key twice (Go keeps the last, other parsers the
// first), and nesting deeper than maxJSONDepth. Then it refuses values that
// not every storage mode can keep (storable). Syntax errors are left to the
// schema validator, which names them.
func checkJSON(body []byte) error {
	if !utf8.Valid(body) {
		return errs.Errorf(errs.Invalid, "body: not valid UTF-8")
	}
	s := jsonScan{b: body}
	s.space()
	if s.i == len(s.b) {
		return nil
	}
	if err := s.value(1); err != nil {
		return s.verdict(err)
	}
	s.space()
	if s.i == len(s.b) {
		return storable(body)
	}
	// Something follows the first value. If another value starts there the
	// body holds two; anything else is a syntax error, for the validator.
	switch c := s.b[s.i]; {
	case c == '{' || c == '[' || c == '"' || c == '-' || c >= '0' && c <= '9' || c == 't' || c == 'f' || c == 'n':
		return errs.Errorf(errs.Invalid, "body: more than one JSON value")
	}
	return nil
}

// storable applies record.CheckData, the rule both storage modes share for
// item data (and for sync replies), to a whole body: PostgreSQL's jsonb
// cannot hold \u0000 or an unpaired surrogate, nor numbers beyond numeric's
// range, and the embedded mode refuses them too, so that both modes answer
// alike. Config bodies are held to it as well, as they are stored the same
// way.
func storable(body []byte) error {
	if err := record.CheckData(body); err != nil {
		return errs.Errorf(errs.Invalid, "body: %s", err)
	}
	return nil
}

// errSyntax stops a scan at malformed JSON, which checkJSON leaves to the
// schema validator: it names the problem better.
var errSyntax = errors.New("syntax")

// jsonScan walks a JSON document once, without building it, for checkJSON.
// It is a recursive descent bounded by maxJSONDepth.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) verdict(err error) error {
	if errors.Is(err, errSyntax) {
		return nil
	}
	return err
}

func (s *jsonScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans one value at nesting depth (1 for the top level).
func (s *jsonScan) value(depth int) error {
	if s.i == len(s.b) {
		return errSyntax
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(depth)
	case c == '[':
		return s.array(depth)
	case c == '"':
		_, _, err := s.str()
		return err
	default:
		return s.scalar()
	}
}

// open steps into an object or array at depth and reports whether it is
// empty (closed at once by closing, which it then steps over too).
func (s *jsonScan) open(depth int, closing byte) (empty bool, err error) {
	if depth > maxJSONDepth {
		return false, errs.Errorf(errs.Invalid, "body: nested deeper than %d levels", maxJSONDepth)
	}
	s.i++ // the bracket
	s.space()
	if s.i < len(s.b) && s.b[s.i] == closing {
		s.i++
		return true, nil
	}
	return false, nil
}

// more steps over what follows a member or element: a comma (more follow)
// or the closing bracket (none do).
func (s *jsonScan) more(closing byte) (bool, error) {
	s.space()
	if s.i == len(s.b) {
		return false, errSyntax
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		s.space()
		return true, nil
	case closing:
		s.i++
		return false, nil
	}
	return false, errSyntax
}

func (s *jsonScan) object(depth int) error {
	if empty, err := s.open(depth, '}'); empty || err != nil {
		return err
	}
	var keys objectKeys
	for {
		if s.i == len(s.b) || s.b[s.i] != '"' {
			return errSyntax
		}
		raw, escaped, err := s.str()
		if err != nil {
			return err
		}
		key, err := keyText(raw, escaped)
		if err != nil {
			return err
		}
		if keys.seen(key) {
			return errs.Errorf(errs.Invalid, "body: key %q appears twice in one object", truncate(key, 64))
		}
		s.space()
		if s.i == len(s.b) || s.b[s.i] != ':' {
			return errSyntax
		}
		s.i++
		s.space()
		if err := s.value(depth + 1); err != nil {
			return err
		}
		if more, err := s.more('}'); !more || err != nil {
			return err
		}
	}
}

func (s *jsonScan) array(depth int) error {
	if empty, err := s.open(depth, ']'); empty || err != nil {
		return err
	}
	for {
		if err := s.value(depth + 1); err != nil {
			return err
		}
		if more, err := s.more(']'); !more || err != nil {
			return err
		}
	}
}

// str scans a string and returns it with its quotes, and whether it has
// escapes.
func (s *jsonScan) str() (raw []byte, escaped bool, err error) {
	start := s.i
	for s.i++; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '\\':
			escaped = true
			s.i++ // the escaped byte cannot end the string
		case c == '"':
			s.i++
			return s.b[start:s.i], escaped, nil
		case c < 0x20:
			return nil, false, errSyntax
		}
	}
	return nil, false, errSyntax
}

// scalar skips a number or a literal; the validator checks its spelling.
func (s *jsonScan) scalar() error {
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		s.i++
	}
	if s.i == start || !json.Valid(s.b[start:s.i]) {
		return errSyntax
	}
	return nil
}

// keyText is a key as a decoder sees it: "\u0061" and "a" are the same key.
func keyText(raw []byte, escaped bool) (string, error) {
	if !escaped {
		return string(raw[1 : len(raw)-1]), nil
	}
	var k string
	if err := json.Unmarshal(raw, &k); err != nil {
		return "", errSyntax
	}
	return k, nil
}

// objectKeys is the set of keys of one object: a slice while it is small,
// which is most objects and allocates least, and a map beyond.
type objectKeys struct {
	list []string
	set  map[string]struct{}
}

func (k *objectKeys) seen(key string) bool {
	if k.set != nil {
		if _, dup := k.set[key]; dup {
			return true
		}
		k.set[key] = struct{}{}
		return false
	}
	for _, have := range k.list {
		if have == key {
			return true
		}
	}
	if len(k.list) < 16 {
		k.list = append(k.list, key)
		return false
	}
	k.set = make(map[string]struct{}, 2*len(k.list))
	for _, have := range k.list {
		k.set[have] = struct{}{}
	}
	k.set[key] = struct{}{}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
