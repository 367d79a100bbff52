package handlers

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/record"
)

// encodingJSON is what the handlers wrote before itemjson.go: the reference.
func encodingJSON(t testing.TB, v any) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return buf.String()
}

func handWritten(t testing.TB, v interface{ appendJSON([]byte) ([]byte, error) }) string {
	t.Helper()
	b, err := v.appendJSON(nil)
	if err != nil {
		t.Fatalf("appendJSON: %v", err)
	}
	return string(append(b, '\n'))
}

// The data shapes that take each path of appendRaw and appendString.
var itemJSONData = []string{
	`null`, `0`, `-1.5e10`, `true`, `"plain"`, `{}`, `[]`,
	`{"status":"Started","attempt":3,"tags":["a","b"],"nested":{"x":null}}`,
	// whitespace to compact, inside and outside strings
	"{ \"a\" : [ 1 , 2 ] ,\n\t\"b\" : \"x y\" }\r\n",
	// HTML characters, which encoding/json escapes, in and out of strings
	`{"html":"<script>&amp;</script>"}`,
	// escapes inside strings, including an escaped quote and backslash
	`{"q":"say \"hi\" \\ \u00e9 \n"}`,
	// U+2028 and U+2029 raw, and another rune starting with 0xE2 (€)
	"{\"ls\":\"a\u2028b\u2029c\",\"euro\":\"\u20ac\"}",
	// non-ASCII text that needs no escaping
	`{"name":"Zoë 日本"}`,
}

// lastErrors are upstream texts an item's lastError may hold: plain, and
// with everything that needs escaping.
var lastErrors = []string{
	"webhook answered 502 Bad Gateway",
	`upstream says "no" <b>&</b>` + "\n\t\x00\x1f\u2028\u2029 \\ é",
	"invalid UTF-8 \xff\xfe",
	"",
}

func TestItemJSONMatchesEncodingJSON(t *testing.T) {
	created := time.Date(2026, 11, 25, 22, 30, 1, 123456789, time.UTC)
	synced := created.Add(1500 * time.Millisecond)
	roundSecond := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	inZone := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("X", 5*3600+30*60))
	ids := []string{"item1", "a.b_c~d-E", strings.Repeat("z", 256), `odd "id" <&> é` + "\x01\u2028"}
	for _, data := range itemJSONData {
		for _, id := range ids {
			for _, v := range []itemView{
				{ID: id, Data: json.RawMessage(data), CreatedAt: created, UpdatedAt: created, State: record.StateActive},
				{ID: id, Data: json.RawMessage(data), Terminal: true, Version: math.MaxInt64, CreatedAt: roundSecond,
					UpdatedAt: inZone, SyncedAt: &synced, PendingDelete: true, State: record.StateCompleted},
				{ID: id, Data: json.RawMessage(data), Terminal: true, Version: 7, CreatedAt: created, UpdatedAt: created,
					State: record.StateFailed, Attempts: math.MaxInt32, LastError: &lastErrors[len(id)%len(lastErrors)],
					NextSyncAt: &synced, ExpiresAt: &inZone},
				{ID: id, Data: json.RawMessage(data), Version: 2, CreatedAt: created, UpdatedAt: created,
					State: record.StateExpired, Attempts: 1, LastError: &lastErrors[0], ExpiresAt: &roundSecond},
			} {
				if got, want := handWritten(t, v), encodingJSON(t, v); got != want {
					t.Errorf("id %q data %q:\n got %s\nwant %s", id, data, got, want)
				}
			}
		}
	}
}

func TestItemJSONEmptyDataIsNull(t *testing.T) {
	v := itemView{ID: "a", CreatedAt: time.Unix(0, 0).UTC(), UpdatedAt: time.Unix(0, 0).UTC()}
	got := handWritten(t, v)
	if !strings.Contains(got, `"data":null,`) {
		t.Fatalf("empty data written as %s", got)
	}
	var back map[string]any
	if err := json.Unmarshal([]byte(got), &back); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
}

func TestItemListJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 0, 0, 0, 1, time.UTC)
	next := "eyJjIjoiaXRlbTIifQ"
	odd := "cursor<&>"
	for _, l := range []itemList{
		{Items: []itemView{}},
		{Items: []itemView{{ID: "a", Data: json.RawMessage(`1`), CreatedAt: at, UpdatedAt: at}}, NextCursor: &next},
		{Items: []itemView{
			{ID: "a", Data: json.RawMessage(`{"x": 1}`), CreatedAt: at, UpdatedAt: at},
			{ID: "b", Data: json.RawMessage(`"<b>"`), CreatedAt: at, UpdatedAt: at, SyncedAt: &at},
		}, NextCursor: &odd},
	} {
		if got, want := handWritten(t, l), encodingJSON(t, l); got != want {
			t.Errorf("list:\n got %s\nwant %s", got, want)
		}
	}
}

// Data that is not JSON, or a year RFC 3339 cannot write, is refused rather
// than written as a broken body; encoding/json refuses both too.
func TestItemJSONRefusesWhatEncodingJSONRefuses(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, v := range map[string]itemView{
		"bad data":   {ID: "a", Data: json.RawMessage(`{"a": }`), CreatedAt: at, UpdatedAt: at},
		"year 10000": {ID: "a", Data: json.RawMessage(`1`), CreatedAt: at.AddDate(8000, 0, 0), UpdatedAt: at},
		"year -1":    {ID: "a", Data: json.RawMessage(`1`), CreatedAt: at, UpdatedAt: at, SyncedAt: new(at.AddDate(-2028, 0, 0))},
		"nextSyncAt": {ID: "a", Data: json.RawMessage(`1`), CreatedAt: at, UpdatedAt: at, NextSyncAt: new(at.AddDate(8000, 0, 0))},
		"expiresAt":  {ID: "a", Data: json.RawMessage(`1`), CreatedAt: at, UpdatedAt: at, ExpiresAt: new(at.AddDate(-2028, 0, 0))},
	} {
		if _, err := v.appendJSON(nil); err == nil {
			t.Errorf("%s: appendJSON accepted it", name)
		}
		if err := json.NewEncoder(&bytes.Buffer{}).Encode(v); err == nil {
			t.Errorf("%s: encoding/json accepts it, so appendJSON should too", name)
		}
	}
}

// FuzzItemJSON holds the hand-written encoder to encoding/json for any valid
// JSON data and any id.
func FuzzItemJSON(f *testing.F) {
	for i, d := range itemJSONData {
		f.Add("item1", []byte(d), int64(1), int64(0), lastErrors[i%len(lastErrors)], uint8(i), int32(i))
	}
	f.Add("<&>\u2028\xff", []byte(`"\u2028"`), int64(-5), int64(1<<40), "<\xff>", uint8(200), int32(-1))
	f.Fuzz(func(t *testing.T, id string, data []byte, version, nanos int64, lastError string, state uint8, attempts int32) {
		if !json.Valid(data) {
			t.Skip() // the service never stores it
		}
		at := time.Unix(0, nanos).UTC()
		v := itemView{ID: id, Data: data, Version: version, CreatedAt: at, UpdatedAt: at, SyncedAt: &at,
			State: record.State(state), Attempts: attempts, LastError: &lastError, NextSyncAt: &at}
		if state%2 == 0 {
			v.LastError, v.NextSyncAt, v.ExpiresAt = nil, nil, &at
		}
		if got, want := handWritten(t, v), encodingJSON(t, v); got != want {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}
