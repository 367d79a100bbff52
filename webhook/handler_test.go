package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/webhook"
)

// handlerNow is the receiver's clock in these tests.
var handlerNow = time.Date(2025, 6, 1, 12, 0, 30, 0, time.UTC)

// rejection is what OnError saw.
type rejection struct {
	status int
	err    error
}

// testUpstream is a Handler behind a loopback server that counts the calls
// of its SyncFunc and records what OnError saw.
type testUpstream struct {
	*httptest.Server
	calls atomic.Int64
	mu    sync.Mutex
	errs  []rejection
}

// newTestUpstream serves webhook.Handler(fn, opts) with Now fixed at
// handlerNow; fn nil answers 204.
func newTestUpstream(t *testing.T, fn webhook.SyncFunc, opts webhook.Options) *testUpstream {
	t.Helper()
	u := &testUpstream{}
	if fn == nil {
		fn = func(context.Context, webhook.Batch) ([]webhook.Result, error) { return nil, nil }
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return handlerNow }
	}
	opts.OnError = func(_ *http.Request, status int, err error) {
		u.mu.Lock()
		defer u.mu.Unlock()
		u.errs = append(u.errs, rejection{status, err})
	}
	u.Server = httptest.NewServer(webhook.Handler(func(ctx context.Context, b webhook.Batch) ([]webhook.Result, error) {
		u.calls.Add(1)
		return fn(ctx, b)
	}, opts))
	t.Cleanup(u.Close)
	return u
}

// rejections returns what OnError has seen so far. The server calls OnError
// before it answers, so once a reply is read the call is recorded.
func (u *testUpstream) rejections() []rejection {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]rejection(nil), u.errs...)
}

// answer is a reply as the test client read it.
type answer struct {
	status int
	header http.Header
	body   string
}

// post sends body with Content-Type application/json and the given extra
// headers, and reads the whole reply.
func (u *testUpstream) post(t *testing.T, body string, h http.Header) answer {
	t.Helper()
	return u.do(t, http.MethodPost, body, h)
}

func (u *testUpstream) do(t *testing.T, method, body string, h http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(method, u.URL+"/sync", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := u.Client().Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// signed returns the headers autorefresh sends with body, signed with secret
// at the given time, built with Sign as the syncer builds them.
func signed(t *testing.T, secret string, at time.Time, body string) http.Header {
	t.Helper()
	id := webhook.NewMessageID()
	sig, err := webhook.Sign(secret, id, at, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return header(id, strconv.FormatInt(at.Unix(), 10), sig)
}

const (
	oneItem     = `{"cache":"jobs","items":[{"id":"a","data":{"n":1},"terminal":false,"version":1}]}`
	otherSecret = "whsec_c2Vjb25kLXNlY3JldC1vZi10ZXN0LXNpemU="
)

func TestHandlerRefusesBadSignatures(t *testing.T) {
	u := newTestUpstream(t, nil, webhook.Options{Secrets: []string{vectorSecret}})
	good := signed(t, vectorSecret, handlerNow, oneItem)
	for name, h := range map[string]http.Header{
		"unsigned":     nil,
		"other secret": signed(t, otherSecret, handlerNow, oneItem),
		"other body":   signed(t, vectorSecret, handlerNow, oneItem+" "),
		"no id":        header("", good.Get(webhook.HeaderTimestamp), good.Get(webhook.HeaderSignature)),
	} {
		if a := u.post(t, oneItem, h); a.status != http.StatusUnauthorized || !strings.Contains(a.body, `"UNAUTHORIZED"`) {
			t.Errorf("%s: %d %s; want 401 UNAUTHORIZED", name, a.status, a.body)
		}
	}
	if n := u.calls.Load(); n != 0 {
		t.Errorf("the SyncFunc ran %d times for refused requests", n)
	}
	rs := u.rejections()
	if len(rs) != 4 {
		t.Fatalf("OnError saw %d rejections, want 4", len(rs))
	}
	for _, r := range rs {
		if r.status != http.StatusUnauthorized || !errors.Is(r.err, webhook.ErrVerification) {
			t.Errorf("OnError(%d, %v); want 401 and ErrVerification", r.status, r.err)
		}
	}
	if a := u.post(t, oneItem, good); a.status != http.StatusNoContent {
		t.Errorf("correctly signed: %d %s", a.status, a.body)
	}
}

// While secrets rotate, a request signed with either is accepted.
func TestHandlerAcceptsAnyListedSecret(t *testing.T) {
	u := newTestUpstream(t, nil, webhook.Options{Secrets: []string{otherSecret, vectorSecret}})
	for _, s := range []string{vectorSecret, otherSecret} {
		if a := u.post(t, oneItem, signed(t, s, handlerNow, oneItem)); a.status != http.StatusNoContent {
			t.Errorf("signed with %.12s: %d %s", s, a.status, a.body)
		}
	}
	if n := u.calls.Load(); n != 2 {
		t.Errorf("SyncFunc calls = %d, want 2", n)
	}
}

func TestHandlerTimestampTolerance(t *testing.T) {
	for _, tc := range []struct {
		tolerance, tol time.Duration // as configured, as in force
	}{{0, webhook.DefaultTolerance}, {10 * time.Second, 10 * time.Second}} {
		u := newTestUpstream(t, nil, webhook.Options{Secrets: []string{vectorSecret}, Tolerance: tc.tolerance})
		for _, c := range []struct {
			at   time.Time
			want error
		}{
			{handlerNow.Add(-tc.tol), nil},
			{handlerNow.Add(tc.tol), nil},
			{handlerNow.Add(-tc.tol - time.Second), webhook.ErrTimestampTooOld},
			{handlerNow.Add(tc.tol + time.Second), webhook.ErrTimestampTooNew},
		} {
			before := len(u.rejections())
			a := u.post(t, oneItem, signed(t, vectorSecret, c.at, oneItem))
			switch {
			case c.want == nil && a.status != http.StatusNoContent:
				t.Errorf("tolerance %v, sent %v: %d %s; want 204", tc.tol, c.at.Sub(handlerNow), a.status, a.body)
			case c.want != nil && a.status != http.StatusUnauthorized:
				t.Errorf("tolerance %v, sent %v: %d; want 401", tc.tol, c.at.Sub(handlerNow), a.status)
			case c.want != nil:
				if rs := u.rejections(); len(rs) != before+1 || !errors.Is(rs[before].err, c.want) {
					t.Errorf("tolerance %v, sent %v: OnError saw %v; want %v", tc.tol, c.at.Sub(handlerNow), rs[before:], c.want)
				}
			}
		}
	}
}

// paddedBatch returns a batch of one item whose body is exactly n bytes.
func paddedBatch(n int) string {
	const head, tail = `{"cache":"jobs","items":[{"id":"a","data":"`, `"}]}`
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

func TestHandlerBodyLimit(t *testing.T) {
	u := newTestUpstream(t, nil, webhook.Options{Secrets: []string{vectorSecret}, MaxBodyBytes: 1024})
	if a := u.post(t, paddedBatch(1024), signed(t, vectorSecret, handlerNow, paddedBatch(1024))); a.status != http.StatusNoContent {
		t.Errorf("at the limit: %d %s", a.status, a.body)
	}
	// Refused for its size even when correctly signed: nothing past the
	// limit is read.
	a := u.post(t, paddedBatch(1025), signed(t, vectorSecret, handlerNow, paddedBatch(1025)))
	if a.status != http.StatusRequestEntityTooLarge || !strings.Contains(a.body, `"TOO_LARGE"`) {
		t.Errorf("past the limit: %d %s; want 413 TOO_LARGE", a.status, a.body)
	}

	// Zero means DefaultMaxBodyBytes; the answer names the limit in force.
	// (A body at the default limit is not sent: decoding 32 MiB takes
	// seconds under -race, and the 1024-byte case above covers the edge.)
	d := newTestUpstream(t, nil, webhook.Options{AllowUnsigned: true})
	a = d.post(t, paddedBatch(webhook.DefaultMaxBodyBytes+1), nil)
	if a.status != http.StatusRequestEntityTooLarge || !strings.Contains(a.body, " "+strconv.Itoa(webhook.DefaultMaxBodyBytes)+" bytes") {
		t.Errorf("past the default limit: %d %s", a.status, a.body)
	}
	if n := u.calls.Load() + d.calls.Load(); n != 1 {
		t.Errorf("SyncFunc calls = %d, want 1 (the body at the limit)", n)
	}
}

func TestHandlerMethodAndContentType(t *testing.T) {
	u := newTestUpstream(t, nil, webhook.Options{AllowUnsigned: true})
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		if a := u.do(t, m, oneItem, nil); a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != http.MethodPost {
			t.Errorf("%s: %d, Allow %q; want 405, POST", m, a.status, a.header.Get("Allow"))
		}
	}
	for ct, want := range map[string]int{
		"application/json; charset=utf-8": http.StatusNoContent,
		"Application/JSON":                http.StatusNoContent,
		"text/plain":                      http.StatusUnsupportedMediaType,
		"application/jsonx":               http.StatusUnsupportedMediaType,
	} {
		if a := u.post(t, oneItem, http.Header{"Content-Type": {ct}}); a.status != want {
			t.Errorf("Content-Type %q: %d, want %d", ct, a.status, want)
		}
	}
	if n := u.calls.Load(); n != 2 {
		t.Errorf("SyncFunc calls = %d, want 2", n)
	}
}

func TestHandlerRefusesWhatIsNotABatch(t *testing.T) {
	u := newTestUpstream(t, nil, webhook.Options{AllowUnsigned: true})
	for name, body := range map[string]string{
		"empty":           ``,
		"not JSON":        `cache=jobs`,
		"not an object":   `[1,2]`,
		"truncated":       `{"cache":"jobs","items":[{"id":"a"}`,
		"trailing data":   `{"cache":"jobs","items":[{"id":"a"}]} {}`,
		"no items":        `{"cache":"jobs"}`,
		"empty items":     `{"cache":"jobs","items":[]}`,
		"wrong types":     `{"cache":"jobs","items":[{"id":"a","version":"1"}]}`,
		"id missing":      `{"cache":"jobs","items":[{"data":1}]}`,
		"id with slash":   `{"cache":"jobs","items":[{"id":"a/b"}]}`,
		"id dot-dot":      `{"cache":"jobs","items":[{"id":".."}]}`,
		"id too long":     `{"cache":"jobs","items":[{"id":"` + strings.Repeat("a", 257) + `"}]}`,
		"id twice":        `{"cache":"jobs","items":[{"id":"a"},{"id":"a"}]}`,
		"items not array": `{"cache":"jobs","items":{"id":"a"}}`,
	} {
		if a := u.post(t, body, nil); a.status != http.StatusBadRequest || !strings.Contains(a.body, `"INVALID"`) {
			t.Errorf("%s: %d %s; want 400 INVALID", name, a.status, a.body)
		}
	}
	if n := u.calls.Load(); n != 0 {
		t.Errorf("the SyncFunc ran %d times for refused bodies", n)
	}
}

func TestHandlerDecodesAndReplies(t *testing.T) {
	got := make(chan webhook.Batch, 1)
	u := newTestUpstream(t, func(_ context.Context, b webhook.Batch) ([]webhook.Result, error) {
		got <- b
		return []webhook.Result{
			webhook.Update("a", json.RawMessage(`{"n":2}`), true),
			webhook.Update("b", nil, true),
			webhook.Update("c", json.RawMessage(`null`), false),
			webhook.Unchanged("d"),
		}, nil
	}, webhook.Options{AllowUnsigned: true})
	body := `{"cache":"jobs","extra":1,"items":[{"id":"a","data":{"n":1},"terminal":false,"version":7},` +
		`{"id":"b","data":null,"terminal":false,"version":1},{"id":"c"},{"id":"d","data":[1, 2]}]}`
	a := u.post(t, body, nil)
	const want = `{"items":[{"id":"a","action":"update","data":{"n":2},"terminal":true},` +
		`{"id":"b","action":"update","terminal":true},{"id":"c","action":"update","data":null,"terminal":false},` +
		`{"id":"d","action":"unchanged"}]}` + "\n"
	if a.status != http.StatusOK || a.header.Get("Content-Type") != "application/json" || a.body != want {
		t.Errorf("reply %d %q %s\nwant 200 application/json %s", a.status, a.header.Get("Content-Type"), a.body, want)
	}
	b := <-got
	if b.Cache != "jobs" || len(b.Items) != 4 {
		t.Fatalf("batch %+v", b)
	}
	for i, w := range []webhook.Item{
		{ID: "a", Data: json.RawMessage(`{"n":1}`), Version: 7},
		{ID: "b", Data: json.RawMessage(`null`), Version: 1},
		{ID: "c", Data: json.RawMessage(`null`)}, // data left out reads as null
		{ID: "d", Data: json.RawMessage(`[1, 2]`)},
	} {
		g := b.Items[i]
		if g.ID != w.ID || !bytes.Equal(g.Data, w.Data) || g.Terminal || g.Version != w.Version {
			t.Errorf("item %d = %+v (data %s), want %+v (data %s)", i, g, g.Data, w, w.Data)
		}
	}
}

func TestHandlerFunctionErrors(t *testing.T) {
	secretErr := errors.New("dial postgres://admin:hunter2@db:5432: refused")
	var fail atomic.Bool
	u := newTestUpstream(t, func(context.Context, webhook.Batch) ([]webhook.Result, error) {
		if fail.Load() {
			return nil, secretErr
		}
		return []webhook.Result{webhook.Update("a", json.RawMessage(`{not json`), true)}, nil
	}, webhook.Options{AllowUnsigned: true})

	for _, failing := range []bool{true, false} {
		fail.Store(failing)
		before := len(u.rejections())
		a := u.post(t, oneItem, nil)
		if a.status != http.StatusInternalServerError || strings.Contains(a.body, "hunter2") || strings.Contains(a.body, "not json") ||
			!strings.Contains(a.body, `"internal error"`) {
			t.Errorf("failing=%v: %d %s; want 500 internal error and nothing else", failing, a.status, a.body)
		}
		rs := u.rejections()
		if len(rs) != before+1 || rs[before].status != http.StatusInternalServerError {
			t.Fatalf("failing=%v: OnError saw %v", failing, rs[before:])
		}
		if failing && rs[before].err != secretErr {
			t.Errorf("OnError got %v, want the function's own error", rs[before].err)
		}
		if !failing && !strings.Contains(rs[before].err.Error(), "encode") {
			t.Errorf("OnError got %v, want the encoding error", rs[before].err)
		}
	}
}

// The SyncFunc's context ends when the caller goes away.
func TestHandlerPassesTheRequestContext(t *testing.T) {
	entered, ended := make(chan struct{}), make(chan error, 1)
	u := newTestUpstream(t, func(ctx context.Context, _ webhook.Batch) ([]webhook.Result, error) {
		close(entered)
		select {
		case <-ctx.Done():
			ended <- ctx.Err()
		case <-time.After(10 * time.Second):
			ended <- errors.New("the context did not end")
		}
		return nil, ctx.Err()
	}, webhook.Options{AllowUnsigned: true})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u.URL, strings.NewReader(oneItem))
	req.Header.Set("Content-Type", "application/json")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := u.Client().Do(req); err == nil {
			resp.Body.Close()
			t.Error("the request was answered although the caller cancelled it")
		}
	}()
	<-entered
	cancel()
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Errorf("SyncFunc saw %v, want context.Canceled", err)
	}
	<-done
}

func TestOptionsValidate(t *testing.T) {
	for name, o := range map[string]webhook.Options{
		"no secret":          {},
		"unsigned and keyed": {Secrets: []string{vectorSecret}, AllowUnsigned: true},
		"negative tolerance": {Secrets: []string{vectorSecret}, Tolerance: -time.Second},
		"negative limit":     {AllowUnsigned: true, MaxBodyBytes: -1},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
	const bad = "whsec_not base64 at all!"
	err := webhook.Options{Secrets: []string{vectorSecret, bad}}.Validate()
	if !errors.Is(err, webhook.ErrInvalidSecret) || strings.Contains(err.Error(), "not base64") {
		t.Errorf("bad second secret: %v", err)
	}
	for name, o := range map[string]webhook.Options{"signed": {Secrets: []string{vectorSecret}}, "unsigned": {AllowUnsigned: true}} {
		if err := o.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestHandlerPanicsOnBadSetup(t *testing.T) {
	ok := func(context.Context, webhook.Batch) ([]webhook.Result, error) { return nil, nil }
	for name, call := range map[string]func(){
		"no secret": func() { webhook.Handler(ok, webhook.Options{}) },
		"nil func":  func() { webhook.Handler(nil, webhook.Options{AllowUnsigned: true}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Handler did not panic", name)
				}
			}()
			call()
		}()
	}
}
