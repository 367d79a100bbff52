package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// maxJSONDepth bounds nesting in request bodies. Item data may be any JSON,
// but nothing real is nested this deep, and deep nesting is how a small body
// makes a decoder do a lot of work.
const maxJSONDepth = 64

// checkJSON refuses bodies that JSON decoders disagree on or that cost more
// than they look: bytes that are not UTF-8 (Go would silently replace them),
// an object with the same key twice (Go keeps the last, other parsers the
// first), and nesting deeper than maxJSONDepth. Syntax errors are left to
// the schema validator, which names them.
func checkJSON(body []byte) error {
	if !utf8.Valid(body) {
		return errs.Errorf(errs.Invalid, "body: not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	// One frame per open object or array; objects track their keys.
	type frame struct {
		keys    map[string]struct{}
		wantKey bool
	}
	var stack []frame
	values := 0 // complete top-level values
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // a syntax error: the validator reports it
		}
		if len(stack) == 0 {
			if values == 1 {
				return errs.Errorf(errs.Invalid, "body: more than one JSON value")
			}
			if d, ok := tok.(json.Delim); !ok || (d != '{' && d != '[') {
				values++ // a top-level scalar
			}
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if top >= 0 && stack[top].keys != nil {
					stack[top].wantKey = true // the value of a key is done
				}
				if len(stack) >= maxJSONDepth {
					return errs.Errorf(errs.Invalid, "body: nested deeper than %d levels", maxJSONDepth)
				}
				f := frame{}
				if t == '{' {
					f.keys, f.wantKey = map[string]struct{}{}, true
				}
				stack = append(stack, f)
			default:
				stack = stack[:top]
				if len(stack) == 0 {
					values++
				}
			}
		case string:
			if top >= 0 && stack[top].keys != nil {
				if stack[top].wantKey {
					if _, dup := stack[top].keys[t]; dup {
						return errs.Errorf(errs.Invalid, "body: key %q appears twice in one object", truncate(t, 64))
					}
					stack[top].keys[t] = struct{}{}
					stack[top].wantKey = false
					continue
				}
				stack[top].wantKey = true
			}
		default:
			if top >= 0 && stack[top].keys != nil {
				stack[top].wantKey = true
			}
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
