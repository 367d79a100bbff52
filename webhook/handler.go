package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"
)

// DefaultMaxBodyBytes bounds a request body when Options.MaxBodyBytes is
// zero.
//
// autorefresh itself puts no fixed bound on what it sends: a batch holds up
// to the cache's batchSize items (default 100, at most 10,000) with their
// data, and that data comes from API writes (request bodies of at most 1 MiB)
// and from the upstream's own replies (at most 4 MiB each by default, 64 MiB
// when configured). No bound covers every configuration, so this one is
// sized for the defaults: 100 items of about 320 KiB each, eight times the
// default reply limit, while a request (held once as bytes and once decoded)
// stays within tens of MiB of memory. A batch past it is answered 413, which
// fails that batch visibly (reason status_4xx in the cache's lastError);
// raise MaxBodyBytes or lower the cache's batchSize then.
const DefaultMaxBodyBytes = 32 << 20

// maxItemIDLen is the longest item id the API allows (schema ItemID).
const maxItemIDLen = 256

// Options configure a Handler.
type Options struct {
	// Secrets are the Standard Webhooks secrets ("whsec_" and base64) that
	// requests may be signed with; a request signed with any one of them is
	// accepted. List the old and the new secret while rotating, for as long
	// as autorefresh may still sign with the old one.
	Secrets []string
	// AllowUnsigned accepts requests without checking any signature; it
	// must be set, and Secrets left empty, to run without a secret. It is a
	// separate switch so that a secret that is missing by mistake (an unset
	// environment variable) stops the upstream from starting instead of
	// letting anyone who can reach it send batches. Use it only where
	// something else authenticates autorefresh: a private network, or a
	// middleware that checks the cache's configured headers.
	AllowUnsigned bool
	// Tolerance is how far a request's webhook-timestamp may be from Now,
	// either way; zero means DefaultTolerance (see Verify).
	Tolerance time.Duration
	// MaxBodyBytes bounds a request body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Now is the clock timestamps are checked against; nil means time.Now.
	// Tests inject a fixed time.
	Now func() time.Time
	// OnError, if set, is called for every request answered with an error
	// status, with that status and why, so that the upstream can log it:
	// on 401 err matches ErrVerification, on a 500 from the SyncFunc err is
	// the function's own error. Nil reports nothing.
	OnError func(r *http.Request, status int, err error)
}

// Validate reports whether Handler can run with o: the secrets parse (an
// error matching ErrInvalidSecret, never repeating a secret), there is at
// least one secret or AllowUnsigned but not both, and no limit is negative.
func (o Options) Validate() error {
	switch {
	case len(o.Secrets) == 0 && !o.AllowUnsigned:
		return errors.New("webhook: no secret: set Options.Secrets, or AllowUnsigned to accept unsigned requests")
	case len(o.Secrets) > 0 && o.AllowUnsigned:
		// Signatures would either be checked or not; refuse to guess.
		return errors.New("webhook: Options.AllowUnsigned is set together with Secrets")
	case o.Tolerance < 0 || o.MaxBodyBytes < 0:
		return errors.New("webhook: Options.Tolerance and MaxBodyBytes must not be negative")
	}
	for i, s := range o.Secrets {
		if _, err := ParseSecret(s); err != nil {
			return fmt.Errorf("webhook: Options.Secrets[%d]: %w", i, err)
		}
	}
	return nil
}

// handler is what Handler and ReplyHandler return; its options are filled
// in.
type handler struct {
	fn   ReplyFunc
	opts Options
}

// Handler returns the http.Handler of an upstream: it answers autorefresh's
// webhook calls (the itemSync callback of api/openapi.yaml) with fn. For
// each request it
//
//   - answers 405 to a method other than POST, and 415 to a Content-Type
//     other than application/json;
//   - reads the body up to MaxBodyBytes, answering 413 past it;
//   - checks the Standard Webhooks signature with Verify against each of the
//     Secrets, answering 401 when none matches or the timestamp is more than
//     Tolerance away (unless AllowUnsigned);
//   - decodes the Batch, answering 400 to a body that is not one (not a JSON
//     object, no items, a bad or repeated id: autorefresh never sends those,
//     so a broken sender is noticed rather than guessed at);
//   - calls fn with the request's context, answering 500 when it fails;
//   - writes the Results as {"items": [...]} with Content-Type
//     application/json, or 204 No Content when there are none (see
//     ReplyHandler to add a top-level nextSyncAfter).
//
// Error answers carry a JSON body {"code", "message"} for people reading
// logs (autorefresh ignores it). A 500 says only "internal error": fn's
// error may hold anything, a connection string or a token, and is given to
// OnError instead, never to the caller.
//
// Handler panics if fn is nil or opts.Validate fails, as regexp.MustCompile
// does: a misconfigured upstream should not start. Call Validate first to
// report the error another way.
func Handler(fn SyncFunc, opts Options) http.Handler {
	if fn == nil {
		panic("webhook: Handler with a nil SyncFunc")
	}
	return ReplyHandler(func(ctx context.Context, b Batch) (Reply, error) {
		items, err := fn(ctx, b)
		return Reply{Items: items}, err
	}, opts)
}

// ReplyHandler is Handler for a ReplyFunc, which can set the reply's
// top-level NextSyncAfter. A Reply with no Items and no NextSyncAfter is
// answered 204 No Content; one with a NextSyncAfter is always written out,
// "items" then being [] if there are none.
func ReplyHandler(fn ReplyFunc, opts Options) http.Handler {
	if fn == nil {
		panic("webhook: ReplyHandler with a nil ReplyFunc")
	}
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Secrets = append([]string(nil), opts.Secrets...) // the caller's slice may change later
	return &handler{fn: fn, opts: opts}
}

// ServeHTTP answers one webhook call.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	batch, rerr := h.readBatch(w, r)
	if rerr != nil {
		h.fail(w, r, rerr)
		return
	}
	rep, err := h.fn(r.Context(), batch)
	if err != nil {
		h.fail(w, r, internalError(err))
		return
	}
	if len(rep.Items) == 0 && rep.NextSyncAfter == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if rep.Items == nil {
		rep.Items = []Result{} // "items" is required: null would fail the batch
	}
	body, err := json.Marshal(rep)
	if err != nil {
		// Only a Result whose Data is not valid JSON gets here.
		h.fail(w, r, internalError(fmt.Errorf("webhook: cannot encode the reply: %w", err)))
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// readBatch checks the request line, headers, size and signature, and
// decodes the batch.
func (h *handler) readBatch(w http.ResponseWriter, r *http.Request) (Batch, *requestError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return Batch{}, reject(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "only POST is allowed", nil)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return Batch{}, reject(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE",
			fmt.Sprintf("Content-Type must be application/json, not %q", r.Header.Get("Content-Type")), nil)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return Batch{}, reject(http.StatusRequestEntityTooLarge, "TOO_LARGE",
				fmt.Sprintf("request body is larger than %d bytes", h.opts.MaxBodyBytes), err)
		}
		return Batch{}, reject(http.StatusBadRequest, "INVALID", "cannot read request body", err)
	}
	// The signature covers the raw bytes, so it is checked before decoding.
	if !h.opts.AllowUnsigned {
		if err := h.verify(r.Header, body); err != nil {
			// Verify's reasons name no secret, so the sender may see them.
			return Batch{}, reject(http.StatusUnauthorized, "UNAUTHORIZED", err.Error(), err)
		}
	}
	return decodeBatch(body)
}

// verify accepts a request signed with any of the secrets. Only a signature
// mismatch moves on to the next secret: a missing header or a stale
// timestamp is the same whatever the secret.
func (h *handler) verify(header http.Header, body []byte) error {
	now := h.opts.Now()
	var err error
	for _, secret := range h.opts.Secrets {
		err = Verify(secret, header, body, now, h.opts.Tolerance)
		if !errors.Is(err, ErrNoMatchingSignature) {
			return err
		}
	}
	return err
}

// decodeBatch parses and checks a batch.
func decodeBatch(body []byte) (Batch, *requestError) {
	var b Batch
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&b); err != nil {
		// The decoder's message may quote the body; the sender wrote it, so
		// it is theirs to see.
		return Batch{}, reject(http.StatusBadRequest, "INVALID", "body is not a valid batch: "+err.Error(), err)
	}
	if dec.More() {
		return Batch{}, reject(http.StatusBadRequest, "INVALID", "body has data after the batch", nil)
	}
	if len(b.Items) == 0 {
		return Batch{}, reject(http.StatusBadRequest, "INVALID", "items: must hold at least one item", nil)
	}
	seen := make(map[string]struct{}, len(b.Items))
	for i := range b.Items {
		it := &b.Items[i]
		if !validItemID(it.ID) {
			return Batch{}, reject(http.StatusBadRequest, "INVALID",
				fmt.Sprintf("items[%d].id: must be 1 to %d bytes of A-Z a-z 0-9 . _ ~ -", i, maxItemIDLen), nil)
		}
		if _, dup := seen[it.ID]; dup {
			return Batch{}, reject(http.StatusBadRequest, "INVALID", fmt.Sprintf("items[%d].id: %q appears twice", i, it.ID), nil)
		}
		seen[it.ID] = struct{}{}
		if it.Data == nil {
			it.Data = json.RawMessage("null") // what autorefresh sends for no data
		}
	}
	return b, nil
}

// validItemID reports whether id matches the API's ItemID schema, so that fn
// may use ids as keys, file names or URL parts without escaping.
func validItemID(id string) bool {
	if id == "" || len(id) > maxItemIDLen || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '~', c == '-':
		default:
			return false
		}
	}
	return true
}

// requestError is a refused or failed request: the status and body to
// answer with, and the cause for OnError.
type requestError struct {
	status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	cause   error
}

func (e *requestError) Error() string { return e.Code + ": " + e.Message }
func (e *requestError) Unwrap() error { return e.cause }

func reject(status int, code, message string, cause error) *requestError {
	return &requestError{status: status, Code: code, Message: message, cause: cause}
}

// internalError is a failure of the upstream itself: the caller is told
// only that, and OnError gets cause, which may hold anything.
func internalError(cause error) *requestError {
	return reject(http.StatusInternalServerError, "INTERNAL", "internal error", cause)
}

// fail answers with e's status and {"code", "message"} and tells OnError.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, e *requestError) {
	if h.opts.OnError != nil {
		err := error(e)
		if e.status == http.StatusInternalServerError && e.cause != nil {
			err = e.cause // the function's own error, as documented
		}
		h.opts.OnError(r, e.status, err)
	}
	body, _ := json.Marshal(e) // two strings: cannot fail
	writeJSON(w, e.status, body)
}

// writeJSON answers with status and a JSON body, newline-terminated.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
