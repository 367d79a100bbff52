package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestWalkthrough(t *testing.T) {
	e := newEnv(t)
	if r := e.putCache("jobs", e.webhookBody("")); r.status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	r := e.do("POST", "/v1/caches/jobs/items", "application/json", `{"id": "item1", "data": {"status": "Not-started"}}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	eventually(t, "item1 Completed", func() bool {
		m := e.do("GET", "/v1/caches/jobs/items/item1", "", "").json(t)
		return m["terminal"] == true
	})
	m := e.do("GET", "/v1/caches/jobs/items/item1", "", "").json(t)
	if m["data"].(map[string]any)["status"] != "Completed" || m["version"].(float64) != 3 || m["syncedAt"] == nil {
		t.Fatalf("item after sync: %v", m)
	}
	if r := e.do("DELETE", "/v1/caches/jobs/items/item1", "", ""); r.status != http.StatusAccepted || r.json(t)["pendingDelete"] != true {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	eventually(t, "item1 gone", func() bool {
		return e.do("GET", "/v1/caches/jobs/items/item1", "", "").status == http.StatusNotFound
	})
}

func TestCacheLifecycle(t *testing.T) {
	e := newEnv(t)
	body := `{"webhook": {"url": "` + e.upstream.URL + `/sync?token=top-secret-q", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"headers": {"Authorization": "Bearer top-secret"}}, "resyncPeriod": "1h", "size": 5, "syncOnCreate": false}`
	if r := e.putCache("jobs", body); r.status != http.StatusCreated {
		t.Fatalf("PUT new: %d %s", r.status, r.body)
	}
	e.do("POST", "/v1/caches/jobs/items", "application/json", `{"id": "a"}`)
	// Replacing the config keeps the items.
	if r := e.putCache("jobs", e.webhookBody(`, "size": 7`)); r.status != http.StatusOK {
		t.Fatalf("PUT replace: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/caches/jobs/items/a", "", ""); r.status != http.StatusOK {
		t.Fatalf("item lost by a config change: %d", r.status)
	}
	e.putCache("jobs", body)
	r := e.do("GET", "/v1/caches/jobs", "", "")
	if strings.Contains(string(r.body), "top-secret") || strings.Contains(string(r.body), "whsec_") {
		t.Fatalf("GET leaks a secret: %s", r.body)
	}
	wh := r.json(t)["webhook"].(map[string]any)
	if wh["secretSet"] != true || wh["headers"].(map[string]any)["Authorization"] != "***" {
		t.Fatalf("webhook view: %v", wh)
	}
	if wh["url"] != e.upstream.URL+"/sync?token=***" {
		t.Fatalf("webhook url shown as %v", wh["url"])
	}
	r = e.do("GET", "/v1/caches", "", "")
	if strings.Contains(string(r.body), "top-secret") || strings.Contains(string(r.body), "whsec_") {
		t.Fatalf("list leaks a secret: %s", r.body)
	}
	list := r.json(t)["caches"].([]any)
	if len(list) != 1 {
		t.Fatalf("list: %v", list)
	}
	if r := e.do("POST", "/v1/caches/jobs/sync", "", ""); r.status != http.StatusAccepted {
		t.Fatalf("sync: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/v1/caches/jobs", "", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	for _, path := range []string{"/v1/caches/jobs", "/v1/caches/jobs/items/a"} {
		if r := e.do("GET", path, "", ""); r.status != http.StatusNotFound || r.json(t)["code"] != "NOT_FOUND" {
			t.Fatalf("GET %s after delete: %d %s", path, r.status, r.body)
		}
	}
	for _, l := range e.logs.All() {
		for _, v := range l.ContextMap() {
			if s, ok := v.(string); ok && (strings.Contains(s, "top-secret") || strings.Contains(s, "MfKQ9r8")) {
				t.Fatalf("a log line carries a secret: %v", l.ContextMap())
			}
		}
	}
}

func TestCreateIsGetOrCreate(t *testing.T) {
	e := newEnv(t)
	e.putCache("jobs", e.webhookBody(`, "syncOnCreate": false`))
	first := e.do("POST", "/v1/caches/jobs/items", "application/json", `{"id": "x", "data": [1, 2], "terminal": true}`)
	again := e.do("POST", "/v1/caches/jobs/items", "application/json", `{"id": "x", "data": "other"}`)
	if first.status != http.StatusCreated || again.status != http.StatusOK {
		t.Fatalf("statuses %d, %d", first.status, again.status)
	}
	if string(first.body) != string(again.body) {
		t.Fatalf("the existing item changed:\n%s\n%s", first.body, again.body)
	}
}

func TestListItemsPages(t *testing.T) {
	e := newEnv(t)
	e.putCache("jobs", e.webhookBody(`, "syncOnCreate": false`))
	for i := range 7 {
		term := "false"
		if i%2 == 0 {
			term = "true"
		}
		e.do("POST", "/v1/caches/jobs/items", "application/json", fmt.Sprintf(`{"id": "i%d", "terminal": %s}`, i, term))
	}
	var ids []string
	path := "/v1/caches/jobs/items?limit=2&terminal=true"
	for {
		m := e.do("GET", path, "", "").json(t)
		for _, it := range m["items"].([]any) {
			ids = append(ids, it.(map[string]any)["id"].(string))
		}
		next, _ := m["nextCursor"].(string)
		if next == "" {
			break
		}
		path = "/v1/caches/jobs/items?limit=2&terminal=true&cursor=" + next
	}
	if strings.Join(ids, ",") != "i0,i2,i4,i6" {
		t.Fatalf("pages: %v", ids)
	}
	if r := e.do("GET", "/v1/caches/jobs/items?cursor=!!", "", ""); r.status != http.StatusBadRequest {
		t.Fatalf("bad cursor: %d", r.status)
	}
}

func TestBadRequestsGetJSONErrors(t *testing.T) {
	e := newEnv(t)
	e.putCache("jobs", e.webhookBody(""))
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		code, mention                   string
	}{
		{"unknown route", "GET", "/nope", "", "", 404, "NOT_FOUND", ""},
		{"wrong method", "PATCH", "/v1/caches/jobs", "", "", 405, "METHOD_NOT_ALLOWED", ""},
		{"malformed JSON", "POST", "/v1/caches/jobs/items", "application/json", `{"id":`, 400, "INVALID", "body"},
		{"wrong type", "POST", "/v1/caches/jobs/items", "application/json", `{"id": 5}`, 400, "INVALID", "id"},
		{"extra field", "POST", "/v1/caches/jobs/items", "application/json", `{"id": "a", "x": 1}`, 400, "INVALID", "x"},
		{"empty body", "POST", "/v1/caches/jobs/items", "application/json", ``, 400, "INVALID", "body"},
		{"dot id", "POST", "/v1/caches/jobs/items", "application/json", `{"id": ".."}`, 400, "INVALID", "id"},
		{"not JSON", "POST", "/v1/caches/jobs/items", "text/plain", `{"id": "a"}`, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"too large", "POST", "/v1/caches/jobs/items", "application/json", `{"id": "a", "data": "` + strings.Repeat("x", 2<<20) + `"}`, 413, "TOO_LARGE", ""},
		{"bad cache name", "PUT", "/v1/caches/Bad_Name", "application/json", e.webhookBody(""), 400, "INVALID", "cache"},
		{"missing resync", "PUT", "/v1/caches/x", "application/json", `{"webhook": {"url": "http://127.0.0.1:1/"}}`, 400, "INVALID", "resyncPeriod"},
		{"bad duration", "PUT", "/v1/caches/x", "application/json", `{"webhook": {"url": "http://127.0.0.1:1/"}, "resyncPeriod": "soon"}`, 400, "INVALID", "resyncPeriod"},
		{"zero resync", "PUT", "/v1/caches/x", "application/json", `{"webhook": {"url": "http://127.0.0.1:1/"}, "resyncPeriod": "0s"}`, 400, "INVALID", "resyncPeriod"},
		{"ftp webhook", "PUT", "/v1/caches/x", "application/json", `{"webhook": {"url": "ftp://127.0.0.1/"}, "resyncPeriod": "1s"}`, 400, "INVALID", "url"},
		{"limit too big", "GET", "/v1/caches/jobs/items?limit=5000", "", "", 400, "INVALID", "limit"},
		{"unknown cache", "POST", "/v1/caches/none/items", "application/json", `{"id": "a"}`, 404, "NOT_FOUND", ""},
		{"unknown item delete", "DELETE", "/v1/caches/jobs/items/none", "", "", 404, "NOT_FOUND", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, c.path, c.ctype, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			m := r.json(t)
			if m["code"] != c.code || !strings.Contains(m["message"].(string), c.mention) {
				t.Fatalf("error %v, want code %s mentioning %q", m, c.code, c.mention)
			}
			if r.header.Get("X-Request-Id") == "" {
				t.Fatal("no X-Request-Id")
			}
		})
	}
	if r := e.do("PATCH", "/v1/caches/jobs", "", ""); r.header.Get("Allow") == "" {
		t.Fatal("405 without an Allow header")
	}
}

func TestMetricsAndOperations(t *testing.T) {
	e := newEnv(t)
	e.putCache("jobs", e.webhookBody(""))
	e.do("POST", "/v1/caches/jobs/items", "application/json", `{"id": "secret-looking-id"}`)
	e.do("GET", "/v1/caches/jobs/items/secret-looking-id", "", "")
	e.do("GET", "/no/such/route", "", "")
	e.do("PATCH", "/v1/caches/jobs", "", "")
	eventually(t, "a sync", func() bool {
		return e.do("GET", "/v1/caches/jobs", "", "").json(t)["stats"].(map[string]any)["syncs"].(float64) > 0
	})
	r := e.do("GET", "/metrics", "", "")
	text := string(r.body)
	for _, want := range []string{
		`autorefresh_http_requests_total{code="200",method="GET",route="/v1/caches/{cache}/items/{id}"} 1`,
		`autorefresh_http_request_duration_seconds_bucket{method="GET",route="/v1/caches/{cache}/items/{id}"`,
		`autorefresh_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`autorefresh_http_requests_total{code="405",method="PATCH",route="unmatched"} 1`,
		`autorefresh_cache_items{cache="jobs"} 1`,
		`autorefresh_sync_batches_total{cache="jobs",outcome="ok"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, "secret-looking-id") {
		t.Fatal("an item id became a metric label")
	}
	for _, p := range []string{"/healthz", "/readyz", "/openapi.yaml", "/docs"} {
		if r := e.do("GET", p, "", ""); r.status != http.StatusOK {
			t.Errorf("GET %s: %d", p, r.status)
		}
	}
	// One access-log line per request, without bodies.
	lines := e.logs.FilterMessage("request").All()
	if len(lines) < 7 {
		t.Fatalf("%d access-log lines", len(lines))
	}
	for _, l := range lines {
		m := l.ContextMap()
		if m["requestId"] == "" || m["route"] == nil || m["status"] == nil {
			t.Fatalf("access-log line lacks fields: %v", m)
		}
	}
}

func TestRequestIDs(t *testing.T) {
	e := newEnv(t)
	get := func(id string) string {
		req, _ := http.NewRequest("GET", e.srv.URL+"/healthz", nil)
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header.Get("X-Request-Id")
	}
	a, b := get(""), get("")
	if a == "" || a == b || strings.Contains(a, "/") {
		t.Fatalf("generated ids %q, %q", a, b)
	}
	if got := get("trace-42.abc_Z"); got != "trace-42.abc_Z" {
		t.Fatalf("a sane client id was not kept: %q", got)
	}
	for _, bad := range []string{strings.Repeat("x", 65), "evil\tid", "a/b"} {
		if got := get(bad); got == bad || got == "" {
			t.Fatalf("client id %q kept or dropped: %q", bad, got)
		}
	}
}
