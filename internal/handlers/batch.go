package handlers

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
)

// MaxBatchBodyBytes bounds the body of POST /v1/caches/{cache}/items/batch
// (when Deps.MaxBodyBytes is below it). A thousand creates of the per-item
// limit each would be a gigabyte to buffer and validate; 16 MiB is room for
// a thousand items of 16 KiB, and a client with larger items sends smaller
// batches. Each entry's data is still held to Deps.MaxBodyBytes, the limit
// of a create of its own.
const MaxBatchBodyBytes = 16 << 20

// batchRoute is the bulk create's route, which has its own body limit.
var batchRoute = routeKey{http.MethodPost, "/v1/caches/{cache}/items/batch"}

// batchEntry is one entry of the bulk create's answer: the item and
// whether it was created, or why it could not be.
type batchEntry struct {
	id      string
	item    *itemView
	created bool
	err     *errorBody
}

// createItems is POST /v1/caches/{cache}/items/batch: CreateItem for 1 to
// autorefresh.MaxBatchCreate items, answered in request order. An entry
// the HTTP layer can tell is bad (its ttl, the size of its data) is
// answered as an error entry without reaching the service, and does not
// fail the others; a body that does not match the spec fails the whole
// request (400), as does an unknown cache (404).
func (s *server) createItems(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "cache")
	items, err := s.batch.decode(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]batchEntry, len(items))
	send := make([]autorefresh.NewItem, 0, len(items))
	sent := make([]int, 0, len(items)) // out's index of each of send
	for i, c := range items {
		out[i].id = c.ID
		var err error
		if int64(len(c.Data)) > s.deps.MaxBodyBytes {
			err = errs.Errorf(errs.TooLarge, "data: larger than %d bytes", s.deps.MaxBodyBytes)
		} else {
			err = checkTTL(c.TTL)
		}
		if err != nil {
			out[i].err = s.entryError(w, err)
			continue
		}
		send = append(send, c.newItem())
		sent = append(sent, i)
	}
	if len(send) == 0 {
		// Nothing for the service to do, but an unknown cache is still
		// a 404, as it is with good entries.
		if _, err := s.svc.Info(r.Context(), name); err != nil {
			s.writeError(w, r, err)
			return
		}
	} else {
		results, err := s.svc.CreateItems(r.Context(), name, send)
		if err == nil && len(results) != len(send) {
			err = errs.Errorf(errs.Internal, "CreateItems answered %d results for %d items", len(results), len(send))
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for j, res := range results {
			e := &out[sent[j]]
			if res.Err != nil {
				e.err = s.entryError(w, res.Err)
				continue
			}
			v := viewItem(res.Item)
			e.item, e.created = &v, res.Created
		}
	}
	s.writeBatch(w, r, out)
}

// entryError is an error as one entry of a batch shows it: like
// writeError's body, with a 500's detail kept for the log.
func (s *server) entryError(w http.ResponseWriter, err error) *errorBody {
	code := errs.CodeOf(err)
	if statusOf(code) == http.StatusInternalServerError {
		s.log.Error("batch entry failed", zap.String("requestId", requestID(w)), zap.Error(err))
		return &errorBody{Code: errs.Internal, Message: "internal error"}
	}
	return &errorBody{Code: code, Message: errs.MessageOf(err)}
}

// appendJSON appends the entry's JSON object to b.
func (e batchEntry) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendString(b, e.id)
	if e.err != nil {
		b = append(b, `,"error":{"code":`...)
		b = appendString(b, string(e.err.Code))
		b = append(b, `,"message":`...)
		b = appendString(b, e.err.Message)
		return append(b, "}}"...), nil
	}
	b = append(b, `,"created":`...)
	b = strconv.AppendBool(b, e.created)
	b = append(b, `,"item":`...)
	b, err := e.item.appendJSON(b)
	if err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

// writeBatch answers with the entries, written as a stream in pageChunk
// pieces so that a batch of large items is not built whole a second time.
// An entry that cannot be encoded (a bug: items are valid JSON) before the
// first piece is a 500; after it, the connection is cut.
func (s *server) writeBatch(w http.ResponseWriter, r *http.Request, entries []batchEntry) {
	buf := s.bodies.get(2 * pageChunk)
	b := append(buf.b, `{"items":[`...)
	started := false
	var err error
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = e.appendJSON(b); err != nil {
			break
		}
		if len(b) >= pageChunk {
			if !started {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				started = true
			}
			_, _ = w.Write(b)
			b = b[:0]
		}
	}
	switch {
	case !started:
		s.writeEncoded(w, r, http.StatusOK, append(b, "]}"...), err)
	case err != nil:
		s.log.Error("batch answer could not be encoded", zap.String("requestId", requestID(w)), zap.Error(err))
		panic(http.ErrAbortHandler)
	default:
		_, _ = w.Write(append(b, "]}\n"...))
	}
	buf.put(b)
}
