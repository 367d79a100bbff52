package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
)

// Items are what clients read most (a GET per poll of a job), so their JSON
// is written here by hand rather than by encoding/json, whose reflection and
// whose re-scan of every json.RawMessage cost about a fifth of a GET's CPU.
// The output is byte for byte what json.NewEncoder(w).Encode(itemView)
// writes, HTML escaping included; itemjson_test.go and FuzzItemJSON hold the
// two side by side.

// itemJSONSize is an item's JSON without its id, data and last error, with
// room to spare: keys, punctuation, five timestamps, the state, the
// attempts and the final newline take about 350 bytes.
const itemJSONSize = 512

// errBadItemJSON reports an item whose data or timestamps cannot be written
// as JSON. The service only stores valid JSON, so this means a bug.
var errBadItemJSON = errors.New("item cannot be encoded as JSON")

// appendJSON appends v's JSON object to b.
func (v itemView) appendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"id":`...)
	b = appendString(b, v.ID)
	b = append(b, `,"data":`...)
	if b, err = appendRaw(b, v.Data); err != nil {
		return b, err
	}
	b = append(b, `,"terminal":`...)
	b = strconv.AppendBool(b, v.Terminal)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, v.Version, 10)
	b = append(b, `,"createdAt":`...)
	if b, err = appendTime(b, v.CreatedAt); err != nil {
		return b, err
	}
	b = append(b, `,"updatedAt":`...)
	if b, err = appendTime(b, v.UpdatedAt); err != nil {
		return b, err
	}
	b = append(b, `,"syncedAt":`...)
	if b, err = appendOptionalTime(b, v.SyncedAt); err != nil {
		return b, err
	}
	b = append(b, `,"pendingDelete":`...)
	b = strconv.AppendBool(b, v.PendingDelete)
	b = append(b, `,"state":`...)
	b = appendString(b, v.State.String())
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(v.Attempts), 10)
	b = append(b, `,"lastError":`...)
	if v.LastError == nil {
		b = append(b, "null"...)
	} else {
		// Upstream text: appendString hands anything that needs escaping
		// (quotes, control and HTML characters, invalid UTF-8) to
		// encoding/json.
		b = appendString(b, *v.LastError)
	}
	b = append(b, `,"nextSyncAt":`...)
	if b, err = appendOptionalTime(b, v.NextSyncAt); err != nil {
		return b, err
	}
	b = append(b, `,"expiresAt":`...)
	if b, err = appendOptionalTime(b, v.ExpiresAt); err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

// appendOptionalTime appends *t, or null for nil.
func appendOptionalTime(b []byte, t *time.Time) ([]byte, error) {
	if t == nil {
		return append(b, "null"...), nil
	}
	return appendTime(b, *t)
}

// appendJSON appends the list's JSON object to b, ended before it would
// pass autorefresh.MaxPageBytes (see writeItems): the items that do not fit
// are left out and nextCursor is set to go on after the last one written.
func (l itemList) appendJSON(b []byte) ([]byte, error) {
	return l.encode(b, nil)
}

// encode appends the page to b, cutting it as appendJSON says. If flush is
// set, it is handed each piece once b holds pageChunk bytes or more, and b
// starts again: the body is then written as a stream, never built whole.
// flush is never called for a page that fails, so a failure before the
// first piece can still be answered with an error.
func (l itemList) encode(b []byte, flush func([]byte)) ([]byte, error) {
	start, flushed := len(b), 0
	next := l.NextCursor
	b = append(b, `{"items":[`...)
	for i, it := range l.Items {
		mark := len(b)
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = it.appendJSON(b); err != nil {
			return b, err
		}
		if i > 0 && flushed+len(b)-start+pageTrailer > autorefresh.MaxPageBytes {
			cursor := autorefresh.Cursor(l.Items[i-1].ID)
			b, next = b[:mark], &cursor
			break
		}
		if flush != nil && len(b) >= pageChunk {
			flush(b)
			flushed += len(b) - start
			b, start = b[:0], 0
		}
	}
	b = append(b, `],"nextCursor":`...)
	if next == nil {
		b = append(b, "null"...)
	} else {
		b = appendString(b, *next)
	}
	return append(b, '}'), nil
}

// pageChunk is the piece a page is written in.
const pageChunk = 64 << 10

// writeItem answers with one item, tagged with its version (see etag.go).
func (s *server) writeItem(w http.ResponseWriter, r *http.Request, status int, it autorefresh.Item) {
	w.Header().Set("ETag", etag(it.Version))
	v := viewItem(it)
	buf := s.bodies.get(itemJSONSize + len(v.ID) + len(v.Data) + len(it.LastError))
	body, err := v.appendJSON(buf.b)
	s.writeEncoded(w, r, status, body, err)
	buf.put(body)
}

// pageTrailer is room for the end of a page: `],"nextCursor":` and the
// longest cursor (of a 256-byte id), quoted, then `}` and the newline.
const pageTrailer = 512

// writeItems answers with a page of items. The services cut pages by
// autorefresh.ItemBytes, an estimate; itemList.appendJSON cuts again by the
// bytes it writes, since escaping can make data longer than it is stored:
// the body ends before it would pass autorefresh.MaxPageBytes (a first item
// larger than that still comes, alone), and nextCursor then goes on after
// the last item written. So the body is built in a buffer of at most that
// size and one item.
func (s *server) writeItems(w http.ResponseWriter, r *http.Request, page []autorefresh.Item, next string) {
	out := itemList{Items: make([]itemView, len(page))}
	size := 64 + len(next)
	for i, it := range page {
		out.Items[i] = viewItem(it)
		size += itemJSONSize + len(it.ID) + len(out.Items[i].Data) + len(it.LastError)
	}
	if next != "" {
		out.NextCursor = &next
	}
	buf := s.bodies.get(min(size, 2*pageChunk))
	started := false
	body, err := out.encode(buf.b, func(piece []byte) {
		if !started {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		_, _ = w.Write(piece)
	})
	switch {
	case !started:
		s.writeEncoded(w, r, http.StatusOK, body, err)
	case err != nil:
		// Stored items are valid JSON, so this is a bug; the status is
		// sent, so the one honest answer left is a cut-off body.
		s.log.Error("list page could not be encoded", zap.String("requestId", requestID(w)), zap.Error(err))
		panic(http.ErrAbortHandler)
	default:
		_, _ = w.Write(append(body, '\n'))
	}
	buf.put(body)
}

// writeEncoded writes a body built by an appendJSON, ended by a newline as
// json.Encoder ends it, or a 500 if it could not be built. Nothing has been
// written before, so a failure still gets a proper error response.
func (s *server) writeEncoded(w http.ResponseWriter, r *http.Request, status int, body []byte, err error) {
	if err != nil {
		w.Header().Del("ETag") // an error is not the item
		s.writeError(w, r, errs.Wrap(errs.Internal, err, "encode response"))
		return
	}
	// The server's one slice, as nosniff in cmd/server shares its own:
	// Header.Set would allocate one per response.
	w.Header()["Content-Type"] = s.jsonType[:1:1]
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n')) // net/http copies it: the buffer may go back to the pool
}

// appendString appends s as a JSON string. Ids and cursors are URL-safe, so
// the loop nearly always finds nothing to escape; anything else goes to
// encoding/json, which knows every rule (HTML characters, invalid UTF-8,
// U+2028 and U+2029).
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(s) // a string always encodes
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendRaw appends stored JSON as encoding/json writes a json.RawMessage:
// compacted, with <, >, &, U+2028 and U+2029 escaped. Stored data is valid
// JSON and usually already in that form, which one pass over the bytes
// confirms; only other data pays for json.Compact and json.HTMLEscape.
func appendRaw(b []byte, data json.RawMessage) ([]byte, error) {
	if len(data) == 0 {
		return append(b, "null"...), nil
	}
	if plainCompact(data) {
		return append(b, data...), nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return b, errBadItemJSON
	}
	var escaped bytes.Buffer
	json.HTMLEscape(&escaped, compact.Bytes())
	return append(b, escaped.Bytes()...), nil
}

// plainCompact reports whether valid JSON data has no whitespace outside
// strings and no character that encoding/json would escape for HTML. It
// errs towards false: 0xE2 starts U+2028 and U+2029 but also other runes.
func plainCompact(data []byte) bool {
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case c == '<' || c == '>' || c == '&' || c == 0xE2:
			return false
		case inString:
			if c == '\\' {
				i++ // the escaped byte cannot end the string
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return true
}

// appendTime appends t as time.Time's MarshalJSON does. The service keeps
// times in UTC; any other zone goes to MarshalJSON itself, whose checks of
// the offset are not worth copying.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	if t.Location() != time.UTC {
		m, err := t.MarshalJSON()
		if err != nil {
			return b, errBadItemJSON
		}
		return append(b, m...), nil
	}
	if y := t.Year(); y < 0 || y > 9999 {
		return b, errBadItemJSON // as MarshalJSON refuses it
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}
