package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/client"
)

// refusing answers the first n requests with status (and Retry-After, if
// set), then 200 with a cache.
func refusing(n int32, status int, retryAfter string) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(handler(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			writeErr(w, status, map[int]string{429: "RATE_LIMITED", 503: "UNAVAILABLE", 500: "INTERNAL"}[status], "not now")
			return
		}
		writeJSON(w, 200, map[string]any{"name": "jobs", "id": "a", "version": 1})
	}))
	return srv, &calls
}

func TestRetryOn429And503(t *testing.T) {
	for _, status := range []int{429, 503} {
		srv, calls := refusing(2, status, "")
		var sleeps client.Sleeps
		c := newClient(t, srv.URL, client.WithSleeps(&sleeps), client.WithRetry(client.RetryPolicy{MaxAttempts: 5, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}))
		// A PATCH is not idempotent, but a 429 or 503 means nothing was
		// done: it is retried too.
		if _, err := c.PatchItem(testCtx(t), "jobs", "a", client.ItemPatch{}, 0); err != nil {
			t.Errorf("%d: %v", status, err)
		}
		d := sleeps.Delays()
		if calls.Load() != 3 || len(d) != 2 {
			t.Errorf("%d: %d calls, waits %v", status, calls.Load(), d)
		}
		// Exponential with ±20% jitter.
		if len(d) == 2 && (d[0] < 80*time.Millisecond || d[0] > 120*time.Millisecond || d[1] < 160*time.Millisecond || d[1] > 240*time.Millisecond) {
			t.Errorf("%d: waits %v, want about 100ms then 200ms", status, d)
		}
		srv.Close()
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	srv, _ := refusing(1, 503, "3")
	defer srv.Close()
	var sleeps client.Sleeps
	c := newClient(t, srv.URL, client.WithSleeps(&sleeps))
	if _, err := c.GetCache(testCtx(t), "jobs"); err != nil {
		t.Fatal(err)
	}
	if d := sleeps.Delays(); len(d) != 1 || d[0] != 3*time.Second {
		t.Errorf("waits %v, want the Retry-After of 3s", d)
	}
}

func TestRetryAfterBeyondMaxDelayGivesUp(t *testing.T) {
	srv, calls := refusing(1, 429, "3600")
	defer srv.Close()
	var sleeps client.Sleeps
	c := newClient(t, srv.URL, client.WithSleeps(&sleeps))
	_, err := c.GetCache(testCtx(t), "jobs")
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.RetryAfter != time.Hour || !errors.Is(err, client.ErrRateLimited) || calls.Load() != 1 {
		t.Errorf("err %v after %d calls", err, calls.Load())
	}
}

func TestRetryIsBounded(t *testing.T) {
	srv, calls := refusing(100, 503, "")
	defer srv.Close()
	var sleeps client.Sleeps
	c := newClient(t, srv.URL, client.WithSleeps(&sleeps), client.WithRetry(client.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Second}))
	if _, err := c.GetCache(testCtx(t), "jobs"); !errors.Is(err, client.ErrUnavailable) || calls.Load() != 3 {
		t.Errorf("err %v after %d calls, want UNAVAILABLE after 3", err, calls.Load())
	}
	calls.Store(0)
	c = newClient(t, srv.URL, client.WithSleeps(&sleeps), client.WithRetry(client.NoRetry()))
	if _, err := c.GetCache(testCtx(t), "jobs"); err == nil || calls.Load() != 1 {
		t.Errorf("NoRetry: %v after %d calls", err, calls.Load())
	}
}

func TestNoRetryOnOtherErrors(t *testing.T) {
	srv, calls := refusing(1, 500, "")
	defer srv.Close()
	c := newClient(t, srv.URL, client.WithSleeps(&client.Sleeps{}))
	if _, err := c.GetCache(testCtx(t), "jobs"); !errors.Is(err, client.ErrInternal) || calls.Load() != 1 {
		t.Errorf("err %v after %d calls", err, calls.Load())
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	srv, calls := refusing(100, 503, "")
	defer srv.Close()
	ctx, cancel := context.WithCancel(testCtx(t))
	var sleeps client.Sleeps
	// The first wait ends the context: no further call is made.
	c := newClient(t, srv.URL, client.WithSleeps(&sleeps), client.WithHTTPClient(&http.Client{Transport: cancelAfter(cancel)}))
	_, err := c.GetCache(ctx, "jobs")
	if !errors.Is(err, client.ErrUnavailable) || calls.Load() != 1 {
		t.Errorf("err %v after %d calls", err, calls.Load())
	}
}

// cancelAfter is a transport that ends the context after each answer.
type cancelAfter context.CancelFunc

func (f cancelAfter) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(r)
	f()
	return res, err
}

// TestConnectionErrorsRetryIdempotentOnly sends to a port where nothing
// listens: a create (get-or-create) and a GET are retried, a PATCH and a
// retry are not.
func TestConnectionErrorsRetryIdempotentOnly(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	ctx := testCtx(t)
	policy := client.WithRetry(client.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Second})
	for name, call := range map[string]func(*client.Client) error{
		"get": func(c *client.Client) error { _, err := c.GetItem(ctx, "jobs", "a"); return err },
		"create": func(c *client.Client) error {
			_, _, err := c.CreateItem(ctx, "jobs", client.CreateItem{ID: "a"})
			return err
		},
		"put":    func(c *client.Client) error { _, _, err := c.PutCache(ctx, "jobs", client.CacheConfig{}); return err },
		"delete": func(c *client.Client) error { _, err := c.DeleteItem(ctx, "jobs", "a"); return err },
		"patch": func(c *client.Client) error {
			_, err := c.PatchItem(ctx, "jobs", "a", client.ItemPatch{}, 1)
			return err
		},
		"retry": func(c *client.Client) error { _, err := c.RetryItem(ctx, "jobs", "a", 0); return err },
	} {
		var sleeps client.Sleeps
		c := newClient(t, url, client.WithSleeps(&sleeps), policy)
		if err := call(c); err == nil {
			t.Fatalf("%s: no error from a closed port", name)
		}
		want := 2
		if name == "patch" || name == "retry" {
			want = 0
		}
		if n := len(sleeps.Delays()); n != want {
			t.Errorf("%s: %d retries, want %d", name, n, want)
		}
	}
}

func TestErrorBodyNotInTheServiceForm(t *testing.T) {
	srv := httptest.NewServer(handler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>bad gateway</html>"))
	}))
	defer srv.Close()
	_, err := newClient(t, srv.URL).GetCache(testCtx(t), "jobs")
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 502 || apiErr.Code != client.CodeInternal {
		t.Errorf("%v", err)
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://x", "http://", "://"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q) accepted it", u)
		}
	}
	// A path prefix is kept.
	srv := httptest.NewServer(handler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/prefix/v1/caches" || r.Header.Get("User-Agent") != "autorefresh-go-client" {
			writeErr(w, 404, "NOT_FOUND", r.URL.Path)
			return
		}
		writeJSON(w, 200, map[string]any{"caches": []any{}})
	}))
	defer srv.Close()
	if _, err := newClient(t, srv.URL+"/prefix/").ListCaches(testCtx(t)); err != nil {
		t.Error(err)
	}
}
