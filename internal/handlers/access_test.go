package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/autorefresh/autorefresh/internal/auth"
	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/handlers"
)

const (
	writer = "writer-token-0123456789"
	reader = "reader-token-0123456789"
)

func withTokens(protectMetrics bool) func(*handlers.Deps) {
	return func(d *handlers.Deps) {
		toks, err := auth.Parse([]byte("write " + writer + " ci\nread " + reader + " dashboard\n"))
		if err != nil {
			panic(err)
		}
		d.Tokens, d.ProtectMetrics = toks, protectMetrics
	}
}

func TestTokensAndRoles(t *testing.T) {
	e := newEnvWith(t, nil, withTokens(true))
	body := e.webhookBody("")
	cases := []struct {
		name, token, method, path, body string
		status                          int
		code                            string
	}{
		{"no token", "", "GET", "/v1/caches", "", 401, "UNAUTHORIZED"},
		{"unknown token", "nope-nope-nope-nope", "GET", "/v1/caches", "", 401, "UNAUTHORIZED"},
		{"reader writes", reader, "PUT", "/v1/caches/jobs", body, 403, "FORBIDDEN"},
		{"writer writes", writer, "PUT", "/v1/caches/jobs", body, 201, ""},
		{"reader reads", reader, "GET", "/v1/caches/jobs", "", 200, ""},
		{"reader creates", reader, "POST", "/v1/caches/jobs/items", `{"id": "a"}`, 403, "FORBIDDEN"},
		{"writer creates", writer, "POST", "/v1/caches/jobs/items", `{"id": "a"}`, 201, ""},
		{"reader deletes", reader, "DELETE", "/v1/caches/jobs/items/a", "", 403, "FORBIDDEN"},
		{"metrics without token", "", "GET", "/metrics", "", 401, "UNAUTHORIZED"},
		{"metrics with reader", reader, "GET", "/metrics", "", 200, ""},
		{"health stays open", "", "GET", "/healthz", "", 200, ""},
		{"readiness stays open", "", "GET", "/readyz", "", 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctype := ""
			if c.body != "" {
				ctype = "application/json"
			}
			r := e.doAs(c.token, c.method, c.path, ctype, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if c.code != "" && r.json(t)["code"] != c.code {
				t.Fatalf("body %s, want code %s", r.body, c.code)
			}
			if c.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatal("401 without WWW-Authenticate: Bearer")
			}
		})
	}
	// The access log names the token's holder, never the token.
	found := false
	for _, l := range e.logs.FilterMessage("request").All() {
		m := l.ContextMap()
		if m["client"] == "ci" {
			found = true
		}
		for _, v := range m {
			if s, ok := v.(string); ok && strings.Contains(s, "token-0123") {
				t.Fatalf("a token in the access log: %v", m)
			}
		}
	}
	if !found {
		t.Fatal("no access-log line names the client")
	}
}

func TestMetricsOpenUnlessProtected(t *testing.T) {
	e := newEnvWith(t, nil, withTokens(false))
	if r := e.do("GET", "/metrics", "", ""); r.status != http.StatusOK {
		t.Fatalf("/metrics: %d", r.status)
	}
}

func TestRateLimitPerClient(t *testing.T) {
	e := newEnvWith(t, nil, func(d *handlers.Deps) { d.RateLimit = 5 })
	limited := 0
	for range 20 {
		r := e.do("GET", "/v1/caches", "", "")
		if r.status == http.StatusTooManyRequests {
			limited++
			if r.json(t)["code"] != "RATE_LIMITED" || r.header.Get("Retry-After") == "" {
				t.Fatalf("429 without the error form or Retry-After: %v %s", r.header, r.body)
			}
		}
	}
	// 20 requests in well under the window against a limit of 5 per second;
	// at most a window boundary lets another 5 through.
	if limited < 10 {
		t.Fatalf("%d of 20 requests limited at 5 req/s", limited)
	}
	// Health checks are not limited.
	if r := e.do("GET", "/healthz", "", ""); r.status != http.StatusOK {
		t.Fatalf("healthz: %d", r.status)
	}
}

func TestItemCapacity(t *testing.T) {
	e := newEnvWith(t, func(o *backend.Options) { o.MaxItems = 2; o.MaxCaches = 1 }, nil)
	e.putCache("jobs", e.webhookBody(`, "syncOnCreate": false`))
	if r := e.putCache("other", e.webhookBody("")); r.status != 507 || r.json(t)["code"] != "CAPACITY" {
		t.Fatalf("a cache past --max-caches: %d %s", r.status, r.body)
	}
	for _, id := range []string{"a", "b"} {
		if r := e.do("POST", "/v1/caches/jobs/items", "application/json", `{"id": "`+id+`"}`); r.status != 201 {
			t.Fatalf("create %s: %d", id, r.status)
		}
	}
	r := e.do("POST", "/v1/caches/jobs/items", "application/json", `{"id": "c"}`)
	if r.status != 507 || r.json(t)["code"] != "CAPACITY" {
		t.Fatalf("create past --max-items: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/caches/jobs/items/c", "", ""); r.status != 404 {
		t.Fatal("a refused create left an item behind")
	}
}
