package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/exampleupstream"
)

// client is a small JSON client for the tests that drive run.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func newClient(t *testing.T, addr string) *client {
	c := &client{t: t, base: "http://" + addr, http: &http.Client{Timeout: 10 * time.Second}}
	t.Cleanup(c.http.CloseIdleConnections)
	return c
}

// do sends a request and decodes a JSON object reply.
func (c *client) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(res.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Fatalf("%s %s: %d %q", method, path, res.StatusCode, b)
		}
	}
	return res.StatusCode, m
}

func (c *client) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stopRun cancels a run and checks that it returns nil.
func stopRun(t *testing.T, cancel context.CancelFunc, s *server) {
	t.Helper()
	cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return")
	}
}

func TestRestartKeepsCachesItemsPendingDeletesAndSecrets(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	// The upstream refuses unsigned or badly signed calls, so a sync after
	// the restart proves the secret came back and still signs.
	up, err := exampleupstream.New(exampleupstream.Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	dir := t.TempDir()
	args := []string{"--allow-webhook-cidrs", "127.0.0.0/8"}

	ctx, cancel := context.WithCancel(context.Background())
	s := startRun(t, ctx, dir, args...)
	c := newClient(t, s.addr)
	body := `{"webhook": {"url": "` + upstream.URL + `/sync", "secret": "` + secret + `", "headers": {"X-Token": "abc123"}},
		"resyncPeriod": "1h", "size": 50, "syncOnCreate": false}`
	if st, m := c.do("PUT", "/v1/caches/jobs", body); st != http.StatusCreated {
		t.Fatalf("PUT: %d %v", st, m)
	}
	for _, it := range []string{`{"id": "a", "data": {"n": 1}}`, `{"id": "b"}`, `{"id": "done", "terminal": true}`} {
		if st, m := c.do("POST", "/v1/caches/jobs/items", it); st != http.StatusCreated {
			t.Fatalf("create: %d %v", st, m)
		}
	}
	if st, _ := c.do("DELETE", "/v1/caches/jobs/items/b", ""); st != http.StatusAccepted {
		t.Fatalf("delete: %d", st)
	}
	stopRun(t, cancel, s)

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	s = startRun(t, ctx, dir, args...)
	c = newClient(t, s.addr)
	st, m := c.do("GET", "/v1/caches/jobs", "")
	if st != http.StatusOK {
		t.Fatalf("cache lost by the restart: %d", st)
	}
	wh := m["webhook"].(map[string]any)
	if wh["secretSet"] != true || wh["headers"].(map[string]any)["X-Token"] != "***" || m["size"].(float64) != 50 {
		t.Fatalf("config after restart: %v", m)
	}
	if _, a := c.do("GET", "/v1/caches/jobs/items/a", ""); a["version"].(float64) != 1 || a["data"].(map[string]any)["n"].(float64) != 1 {
		t.Fatalf("item a after restart: %v", a)
	}
	if _, d := c.do("GET", "/v1/caches/jobs/items/done", ""); d["terminal"] != true {
		t.Fatalf("terminal item after restart: %v", d)
	}
	if _, b := c.do("GET", "/v1/caches/jobs/items/b", ""); b["pendingDelete"] != true {
		t.Fatalf("pending delete lost: %v", b)
	}
	// One cycle: it carries out the deletion and syncs a through the signed
	// webhook.
	c.do("POST", "/v1/caches/jobs/sync", "")
	c.waitFor("b deleted and a synced", func() bool {
		stB, _ := c.do("GET", "/v1/caches/jobs/items/b", "")
		_, a := c.do("GET", "/v1/caches/jobs/items/a", "")
		return stB == http.StatusNotFound && a["version"].(float64) == 2
	})
	if _, m := c.do("GET", "/v1/caches/jobs", ""); m["stats"].(map[string]any)["syncErrors"].(float64) != 0 {
		t.Fatalf("signed syncs failed after the restart: %v", m["stats"])
	}
	// Deleting the cache is durable too.
	if st, _ := c.do("DELETE", "/v1/caches/jobs", ""); st != http.StatusNoContent {
		t.Fatalf("delete cache: %d", st)
	}
	stopRun(t, cancel, s)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	s = startRun(t, ctx, dir, args...)
	c = newClient(t, s.addr)
	if st, _ := c.do("GET", "/v1/caches/jobs", ""); st != http.StatusNotFound {
		t.Fatalf("a deleted cache came back: %d", st)
	}
	stopRun(t, cancel, s)
}
