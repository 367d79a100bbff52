package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/autorefresh/autorefresh/internal/handlers"
)

// TestBadInputAtEveryDoor sends what careless or hostile clients send. None
// of it may produce a 5xx, and every answer must be one the spec declares
// (do checks that).
func TestBadInputAtEveryDoor(t *testing.T) {
	e := newEnv(t)
	e.putCache("jobs", e.webhookBody(`, "syncOnCreate": false`))
	deep := strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)
	cases := []struct {
		name, method, path, body string
		status                   int
	}{
		{"malformed JSON", "POST", "/v1/caches/jobs/items", `{"id": "a",}`, 400},
		{"wrong type", "PUT", "/v1/caches/jobs", `{"webhook": {"url": 5}, "resyncPeriod": "1s"}`, 400},
		{"extra field", "PUT", "/v1/caches/jobs", `{"webhook": {"url": "http://127.0.0.1:1/"}, "resyncPeriod": "1s", "color": "red"}`, 400},
		{"huge number", "PUT", "/v1/caches/jobs", `{"webhook": {"url": "http://127.0.0.1:1/"}, "resyncPeriod": "1s", "size": 1e400}`, 400},
		{"huge integer", "PUT", "/v1/caches/jobs", `{"webhook": {"url": "http://127.0.0.1:1/"}, "resyncPeriod": "1s", "parallelism": 99999999999999999999999}`, 400},
		{"huge duration", "PUT", "/v1/caches/jobs", `{"webhook": {"url": "http://127.0.0.1:1/"}, "resyncPeriod": "99999999999999999999h"}`, 400},
		{"deep nesting", "POST", "/v1/caches/jobs/items", `{"id": "d", "data": ` + deep + `}`, 400},
		{"ten MiB body", "POST", "/v1/caches/jobs/items", `{"id": "big", "data": "` + strings.Repeat("x", 10<<20) + `"}`, 413},
		{"invalid UTF-8 in id", "POST", "/v1/caches/jobs/items", "{\"id\": \"a\xff\xfe\"}", 400},
		{"invalid UTF-8 in data", "POST", "/v1/caches/jobs/items", "{\"id\": \"u\", \"data\": \"\xc3\x28\"}", 400},
		{"slash in id", "POST", "/v1/caches/jobs/items", `{"id": "a/b"}`, 400},
		{"dot-dot id", "POST", "/v1/caches/jobs/items", `{"id": ".."}`, 400},
		{"encoded slash in id", "POST", "/v1/caches/jobs/items", `{"id": "a%2Fb"}`, 400},
		{"duplicate keys", "POST", "/v1/caches/jobs/items", `{"id": "a", "id": "b"}`, 400},
		{"duplicate nested keys", "PUT", "/v1/caches/jobs", `{"webhook": {"url": "http://127.0.0.1:1/", "url": "http://127.0.0.1:2/"}, "resyncPeriod": "1s"}`, 400},
		{"empty body", "PUT", "/v1/caches/jobs", ``, 400},
		{"null body", "POST", "/v1/caches/jobs/items", `null`, 400},
		{"array body", "POST", "/v1/caches/jobs/items", `[]`, 400},
		{"two values", "POST", "/v1/caches/jobs/items", `{"id": "a"} {"id": "b"}`, 400},
		{"id too long", "POST", "/v1/caches/jobs/items", `{"id": "` + strings.Repeat("a", 257) + `"}`, 400},
		{"path with encoded slash", "GET", "/v1/caches/jobs/items/a%2Fb", "", 400},
		{"path with dot-dot", "GET", "/v1/caches/jobs/items/..%2F..%2Fetc", "", 400},
		{"path with bare dot-dot", "GET", "/v1/caches/jobs/items/../../x", "", 404},
		{"invalid UTF-8 in path", "GET", "/v1/caches/jobs/items/%FF%FE", "", 400},
		{"cache name too long", "GET", "/v1/caches/" + strings.Repeat("a", 64), "", 400},
		{"negative limit", "GET", "/v1/caches/jobs/items?limit=-1", "", 400},
		{"limit not a number", "GET", "/v1/caches/jobs/items?limit=ten", "", 400},
		{"terminal not a bool", "GET", "/v1/caches/jobs/items?terminal=maybe", "", 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctype := ""
			if c.method == "POST" || c.method == "PUT" {
				ctype = "application/json"
			}
			r := e.do(c.method, c.path, ctype, c.body)
			if r.status >= 500 {
				t.Fatalf("%d: %s", r.status, r.body)
			}
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
		})
	}
	// Nothing that was refused got in.
	if r := e.do("GET", "/v1/caches/jobs/items", "", ""); len(r.json(t)["items"].([]any)) != 0 {
		t.Fatalf("refused requests created items: %s", r.body)
	}
	if r := e.do("GET", "/v1/caches/jobs", "", ""); r.json(t)["resyncPeriod"] != "50ms" {
		t.Fatalf("refused requests changed the cache: %s", r.body)
	}
}

// An oversized body gets its 413, and net/http closes the connection after
// it instead of reading the rest of the body: the size limit has to reach
// net/http's own writer through the middleware's wrapper. The body is only
// just too large, because net/http closes anyway when more than 256 KiB
// would be left to read.
func TestTooLargeBodyClosesTheConnection(t *testing.T) {
	e := newEnv(t)
	e.putCache("jobs", e.webhookBody(`, "syncOnCreate": false`))
	body := `{"id": "big", "data": "` + strings.Repeat("x", handlers.DefaultMaxBodyBytes+1024) + `"}`
	resp, err := http.Post(e.srv.URL+"/v1/caches/jobs/items", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
	if !resp.Close {
		t.Error("the server keeps the connection open after an oversized body; it should close it")
	}
}
