package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// recorder answers every request with a fixed item (or cache) and
// records what it was sent, for the commands of issue 15's routes, which
// the server on this branch does not answer yet.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []string // "METHOD path?query If-Match body"
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Method+" "+req.URL.RequestURI()+" "+req.Header.Get("If-Match")+" "+string(body))
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		item := map[string]any{"id": "a", "data": map[string]int{"n": 2}, "terminal": false, "version": 5, "state": "active",
			"createdAt": "2025-06-01T12:00:00Z", "updatedAt": "2025-06-01T12:00:00Z", "syncedAt": nil, "pendingDelete": false}
		switch req.URL.Path {
		case "/v1/caches/jobs/pause", "/v1/caches/jobs/resume":
			_ = json.NewEncoder(w).Encode(map[string]any{"name": "jobs", "paused": req.URL.Path == "/v1/caches/jobs/pause", "resyncPeriod": "30s"})
		case "/v1/caches/jobs/items":
			_ = json.NewEncoder(w).Encode(map[string]any{"items": []any{item}})
		default:
			_ = json.NewEncoder(w).Encode(item)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

func TestIssue15Commands(t *testing.T) {
	r := newRecorder(t)
	env := map[string]string{"AUTOREFRESH_SERVER": r.URL}
	ctl(t, env, "items", "patch", "jobs", "a", "--data", `{"n":2}`, "--terminal", "false", "--if-version", "4").want(t, 0, "a", "5", "active")
	ctl(t, env, "items", "retry", "jobs", "a", "--ttl", "1h").want(t, 0, "active")
	ctl(t, env, "items", "list", "jobs", "--state", "failed").want(t, 0, "STATE")
	ctl(t, env, "caches", "pause", "jobs").want(t, 0, "paused:", "true")
	ctl(t, env, "caches", "resume", "jobs", "-o", "json").want(t, 0, `"paused": false`)
	ctl(t, env, "items", "create", "jobs", "b", "--ttl", "30m").want(t, 0)
	want := []string{
		`PATCH /v1/caches/jobs/items/a "4" {"data":{"n":2},"terminal":false}`,
		`POST /v1/caches/jobs/items/a/retry  {"ttl":"1h0m0s"}`,
		`GET /v1/caches/jobs/items?state=failed  `,
		`POST /v1/caches/jobs/pause  `,
		`POST /v1/caches/jobs/resume  `,
		`POST /v1/caches/jobs/items  {"id":"b","ttl":"30m0s"}`,
	}
	got := r.requests()
	if len(got) != len(want) {
		t.Fatalf("requests %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: %q, want %q", i, got[i], want[i])
		}
	}
}
