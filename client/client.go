// Package client is the Go SDK of the autorefresh service: a typed client of
// its REST API (api/openapi.yaml), with retries, paging iterators, a
// Server-Sent Events watcher with resumption, the item long-poll, and
// AutoRefresh, which puts the shape of Flyte's AutoRefresh cache over one
// remote cache.
//
//	c, err := client.New("http://127.0.0.1:8080", client.WithToken(token))
//	it, created, err := c.CreateItem(ctx, "jobs", client.CreateItem{ID: "job1", Data: json.RawMessage(`{"status":"new"}`)})
//	it, err = c.LongPoll(ctx, "jobs", "job1", client.LongPollOptions{Version: it.Version})
//	it, err = c.WaitTerminal(ctx, "jobs", "job1")
//
// Every call takes a context.Context, which bounds the call and its
// retries. Errors of the service are *APIError values, which match the
// sentinels ErrNotFound, ErrConflict, ... with errors.Is.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// MaxResponseBytes bounds the body of an answer the Client reads: a page of
// items is at most 4 MiB, plus one item of up to 1 MiB.
const MaxResponseBytes = 16 << 20

// maxErrorBytes bounds the body of an error answer.
const maxErrorBytes = 64 << 10

// Client calls one autorefresh service. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	hc        *http.Client
	token     string
	userAgent string
	retry     RetryPolicy
	// sleep waits between retries; tests replace it to wait for nothing.
	sleep func(context.Context, time.Duration) error
	now   func() time.Time
}

// Option configures a Client in New.
type Option func(*Client)

// WithToken sends "Authorization: Bearer <token>" with every request, for a
// server that runs with --auth-tokens-file. An empty token sends none.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient makes the Client send its requests with hc (for TLS
// settings, a proxy, or tracing). Give it no overall Timeout if you use
// Watch or LongPoll: contexts bound each call instead.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithRetry replaces DefaultRetryPolicy.
func WithRetry(p RetryPolicy) Option { return func(c *Client) { c.retry = p } }

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a Client of the service at baseURL, such as
// "http://127.0.0.1:8080" (a path prefix, for a service behind a proxy, is
// kept).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("autorefresh: server URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("autorefresh: server URL %q must be http:// or https:// with a host", baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	c := &Client{
		base: u, hc: http.DefaultClient, userAgent: "autorefresh-go-client",
		retry: DefaultRetryPolicy(), sleep: sleepCtx, now: time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	return c, nil
}

// request is one API call, sent as often as the retry policy allows.
type request struct {
	method string
	path   string // under the base URL, each segment escaped
	query  url.Values
	body   any // marshalled to JSON; nil sends no body
	header http.Header
	// idempotent allows a retry after a connection error.
	idempotent bool
	// accept lists the statuses that are not errors (2xx when empty).
	accept []int
}

// path joins escaped segments: path("v1", "caches", name).
func path(segments ...string) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// do sends r and decodes a successful answer's JSON body into out (unless
// out is nil). It returns the answer's status and header.
func (c *Client) do(ctx context.Context, r request, out any) (int, http.Header, error) {
	res, err := c.open(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxResponseBytes+1))
	if err != nil {
		return res.StatusCode, res.Header, fmt.Errorf("autorefresh: %s %s: reading the answer: %w", r.method, r.path, err)
	}
	if len(body) > MaxResponseBytes {
		return res.StatusCode, res.Header, fmt.Errorf("autorefresh: %s %s: the answer is larger than %d bytes", r.method, r.path, MaxResponseBytes)
	}
	if out != nil && len(body) > 0 && res.StatusCode != http.StatusNotModified {
		if err := json.Unmarshal(body, out); err != nil {
			return res.StatusCode, res.Header, fmt.Errorf("autorefresh: %s %s: decoding the answer: %w", r.method, r.path, err)
		}
	}
	return res.StatusCode, res.Header, nil
}

// open sends r, retrying per the policy, and returns the first accepted
// answer with its body unread (the caller closes it), or the last error.
func (c *Client) open(ctx context.Context, r request) (*http.Response, error) {
	var body []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("autorefresh: encoding the request: %w", err)
		}
		body = b
	}
	for attempt := 1; ; attempt++ {
		res, err := c.once(ctx, r, body)
		if err == nil {
			return res, nil
		}
		wait, again := c.retry.retryDelay(attempt, err, r.idempotent)
		if !again || ctx.Err() != nil {
			return nil, err
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			return nil, err
		}
	}
}

// once sends r one time.
func (c *Client) once(ctx context.Context, r request, body []byte) (*http.Response, error) {
	u := *c.base
	u.Path += r.path
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("autorefresh: %w", err)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("autorefresh: %s %s: %w", r.method, r.path, ctxErr)
		}
		return nil, fmt.Errorf("autorefresh: %s %s: %w", r.method, r.path, err)
	}
	if accepted(res.StatusCode, r.accept) {
		return res, nil
	}
	defer res.Body.Close()
	return nil, c.apiError(res)
}

func accepted(status int, accept []int) bool {
	if len(accept) == 0 {
		return status >= 200 && status < 300
	}
	return slices.Contains(accept, status)
}

// apiError reads an error answer.
func (c *Client) apiError(res *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBytes))
	e := &APIError{
		Status:     res.StatusCode,
		RetryAfter: parseRetryAfter(res.Header.Get("Retry-After"), c.now()),
		RequestID:  res.Header.Get("X-Request-Id"),
	}
	var body struct {
		Code    Code   `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &body) == nil && body.Code != "" {
		e.Code, e.Message = body.Code, body.Message
	} else {
		e.Code = codeForStatus(res.StatusCode)
		e.Message = strings.TrimSpace(http.StatusText(res.StatusCode) + " " + truncate(string(b), 200))
	}
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
