package record

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckData(t *testing.T) {
	for _, c := range []struct {
		data string
		want error
	}{
		{`{"a": "plain", "n": [1, -2.5, 3e10, 0.001]}`, nil},
		{`"a\u0000b"`, ErrNulInString},
		{`{"k\u0000": 1}`, ErrNulInString},
		{`"\\u0000"`, nil}, // an escaped backslash, then the text u0000
		{`"\ud83d\ude00 \u00e9 \n"`, nil},
		{`"\ud800"`, ErrLoneSurrogate},
		{`"\udc00"`, ErrLoneSurrogate},
		{`"\ud800x"`, ErrLoneSurrogate},
		{`"\ud800\n"`, ErrLoneSurrogate},
		{`"\ud800\u0041"`, ErrLoneSurrogate},
		{`"\ud800\ud800\udc00"`, ErrLoneSurrogate},
		{`[1e131071, 9.9e131071, 0.1e131072, -1e131071]`, nil},
		{`1e131072`, ErrNumberOutOfRange},
		{`10e131071`, ErrNumberOutOfRange},
		{`{"n": 1e1000000}`, ErrNumberOutOfRange},
		{`1e-16383`, nil},
		{`1.5e-16383`, ErrNumberOutOfRange},
		{`0e-16384`, ErrNumberOutOfRange},
		{`0.` + strings.Repeat("0", 16383), nil},
		{`0.` + strings.Repeat("0", 16384), ErrNumberOutOfRange},
		{`1` + strings.Repeat("0", 131071), nil},
		{`1` + strings.Repeat("0", 131072), ErrNumberOutOfRange},
		{`0e1073741822`, nil},
		{`0e1073741823`, ErrNumberOutOfRange},
		{`0E+99999999999999999999`, ErrNumberOutOfRange},
		{`0e0000000000000000000000000005`, nil},
		{`"1e999999 is text"`, nil},
	} {
		if got := CheckData([]byte(c.data)); !errors.Is(got, c.want) {
			d := c.data
			if len(d) > 40 {
				d = d[:40] + "..."
			}
			t.Errorf("CheckData(%s) = %v, want %v", d, got, c.want)
		}
	}
}
