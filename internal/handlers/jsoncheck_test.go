package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// checkJSONReference is the first checkJSON, built on json.Decoder.Token:
// slow (a third of a create's CPU), but plainly right. The byte scanner
// must reach the same verdict, with the same message, on every valid JSON
// document, and on the invalid ones below.
func checkJSONReference(body []byte) error {
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
			return storable(body)
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

// Bodies that take each path of the scanner, valid and not.
var checkJSONCases = []string{
	``, ` `, `{}`, `[]`, `1`, `"s"`, `null`, `true`, `false`, `-1.5e+10`,
	`{"id":"a","data":{"x":[1,2,{"y":null}]}}`,
	`{"id": "a", "id": "b"}`,
	`{"a":{"b":1,"b":2}}`,
	`[{"a":1},{"a":1}]`,
	`{"a":1,"b":{"a":1}}`,
	`{"\u0061":1,"a":2}`,
	`{"a\"b":1,"a\"b":2}`,
	`{"k":"v\\","k":"w"}`,
	`{} {}`, `1 2`, `[] 3`, `{}x`, `{"a":1,}`, `{"a":}`, `[1,]`, `{"a" 1}`, `{"a":1 "b":2}`,
	`{"a":1,"a":}`, `"unterminated`, `{"a":tru}`, `[`, `]`, `{`, `}`, `,`, `:`,
	"{\"a\":1}\n", "\t[ 1 , 2 ]\r\n",
	strings.Repeat("[", 64) + strings.Repeat("]", 64),
	strings.Repeat("[", 65) + strings.Repeat("]", 65),
	strings.Repeat(`{"a":`, 64) + "1" + strings.Repeat("}", 64),
	strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65),
	`{"` + strings.Repeat("k", 100) + `":1,"` + strings.Repeat("k", 100) + `":2}`,
	"{\"a\xff\":1}",
	`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"a":18}`,
	`{"data":"a\u0000b"}`, `{"k\u0000":1}`, `["\ud800"]`, `{"n":1e1000000}`, `{"n":1e1000000,"n":1}`,
	`{"s":"\\u0000","t":"\ud83d\ude00","n":-1.5e300}`,
}

func TestCheckJSONMatchesReference(t *testing.T) {
	for _, body := range checkJSONCases {
		got, want := errs.MessageOf(checkJSON([]byte(body))), errs.MessageOf(checkJSONReference([]byte(body)))
		if (checkJSON([]byte(body)) == nil) != (checkJSONReference([]byte(body)) == nil) || got != want {
			t.Errorf("%.80q: got %q, the reference says %q", body, got, want)
		}
	}
}

func FuzzCheckJSON(f *testing.F) {
	for _, body := range checkJSONCases {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ref := checkJSON(body), checkJSONReference(body)
		if !json.Valid(body) {
			// Syntax errors are the validator's to report; the checks may
			// stop at different points of a broken document.
			return
		}
		if (got == nil) != (ref == nil) || errs.MessageOf(got) != errs.MessageOf(ref) {
			t.Fatalf("%q: got %v, the reference says %v", body, got, ref)
		}
	})
}
