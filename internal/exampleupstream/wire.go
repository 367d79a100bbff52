package exampleupstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// MaxBodyBytes is the largest request body the upstream reads. It matches
// the reply limit that autorefresh enforces on upstreams, so a batch that
// autorefresh could build is never refused for its size here.
const MaxBodyBytes = 4 << 20

// maxItemIDLen is the longest item id the API allows.
const maxItemIDLen = 256

// actionUpdate is the reply action that applies data and terminal to an item.
const actionUpdate = "update"

// syncRequest is the batch autorefresh sends (schema SyncRequest). Unknown
// fields are allowed so that the service can add some without breaking
// upstreams.
type syncRequest struct {
	Cache string            `json:"cache"`
	Items []syncRequestItem `json:"items"`
}

type syncRequestItem struct {
	ID       string          `json:"id"`
	Data     json.RawMessage `json:"data"`
	Terminal bool            `json:"terminal"`
	Version  int64           `json:"version"`
}

// syncResponse is the upstream's answer (schema SyncResponse).
type syncResponse struct {
	Items []syncResult `json:"items"`
}

type syncResult struct {
	ID       string   `json:"id"`
	Action   string   `json:"action"`
	Data     itemData `json:"data"`
	Terminal bool     `json:"terminal"`
}

// itemData is the data the upstream gives an item: its status.
type itemData struct {
	Status string `json:"status"`
}

// readBatch checks the request line, headers, signature and body, and
// decodes the batch. Every error it returns is a *requestError.
func (u *Upstream) readBatch(w http.ResponseWriter, r *http.Request) (*syncRequest, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, reject(http.StatusMethodNotAllowed, codeMethodNotAllowed, "only POST is allowed")
	}
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, reject(http.StatusRequestEntityTooLarge, codeTooLarge,
				fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes))
		}
		return nil, reject(http.StatusBadRequest, codeInvalid, "cannot read request body")
	}
	// The signature covers the raw bytes, so it is checked before decoding.
	if u.secret != "" {
		if err := u.verify(r.Header, body); err != nil {
			return nil, err
		}
	}
	return decodeBatch(body)
}

func checkJSONContentType(header string) error {
	mediaType, _, err := mime.ParseMediaType(header)
	if err != nil || mediaType != "application/json" {
		return reject(http.StatusUnsupportedMediaType, codeUnsupportedMediaType,
			fmt.Sprintf("Content-Type must be application/json, not %q", header))
	}
	return nil
}

// decodeBatch parses and checks a batch. A batch that autorefresh would never
// send (no items, a bad or repeated id) is refused rather than guessed at, so
// that a broken client is noticed.
func decodeBatch(body []byte) (*syncRequest, error) {
	var batch syncRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&batch); err != nil {
		return nil, reject(http.StatusBadRequest, codeInvalid, "body is not a valid batch: "+err.Error())
	}
	if dec.More() {
		return nil, reject(http.StatusBadRequest, codeInvalid, "body has data after the batch")
	}
	if len(batch.Items) == 0 {
		return nil, reject(http.StatusBadRequest, codeInvalid, "items: must hold at least one item")
	}
	seen := make(map[string]struct{}, len(batch.Items))
	for i, item := range batch.Items {
		if !validItemID(item.ID) {
			return nil, reject(http.StatusBadRequest, codeInvalid,
				fmt.Sprintf("items[%d].id: must be 1 to %d bytes of A-Z a-z 0-9 . _ ~ -", i, maxItemIDLen))
		}
		if _, dup := seen[item.ID]; dup {
			return nil, reject(http.StatusBadRequest, codeInvalid,
				fmt.Sprintf("items[%d].id: %q appears twice", i, item.ID))
		}
		seen[item.ID] = struct{}{}
	}
	return &batch, nil
}

// validItemID reports whether id matches the API's ItemID schema.
func validItemID(id string) bool {
	if id == "" || len(id) > maxItemIDLen || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '~', c == '-':
		default:
			return false
		}
	}
	return true
}
