package handlers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// jobsWith registers cache jobs (slow enough that no sync runs during a
// test) and creates the items given.
func jobsWith(t *testing.T, e *env, ids ...string) {
	t.Helper()
	if r := e.putCache("jobs", `{"webhook": {"url": "`+e.upstream.URL+`/sync"}, "resyncPeriod": "1h", "syncOnCreate": false}`); r.status != http.StatusCreated {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	for _, id := range ids {
		if r := e.do("POST", "/v1/caches/jobs/items", "application/json", `{"id": "`+id+`", "data": {"n": 1}}`); r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", id, r.status, r.body)
		}
	}
}

func wantError(t *testing.T, what string, r resp, status int, code, mentions string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: %d, want %d: %s", what, r.status, status, r.body)
	}
	m := r.json(t)
	if m["code"] != code || !strings.Contains(m["message"].(string), mentions) {
		t.Fatalf("%s: %s, want code %s mentioning %q", what, r.body, code, mentions)
	}
}

func TestItemResponsesCarryTheirVersionAsETag(t *testing.T) {
	e := newEnv(t)
	jobsWith(t, e)
	r := e.do("POST", "/v1/caches/jobs/items", "application/json", `{"id": "a"}`)
	if r.status != http.StatusCreated || r.header.Get("ETag") != `"1"` {
		t.Fatalf("create: %d ETag %q", r.status, r.header.Get("ETag"))
	}
	if r := e.do("POST", "/v1/caches/jobs/items", "application/json", `{"id": "a"}`); r.header.Get("ETag") != `"1"` {
		t.Fatalf("create again: ETag %q", r.header.Get("ETag"))
	}
	if r := e.do("GET", "/v1/caches/jobs/items/a", "", ""); r.status != http.StatusOK || r.header.Get("ETag") != `"1"` {
		t.Fatalf("get: %d ETag %q", r.status, r.header.Get("ETag"))
	}
	if r := e.do("GET", "/v1/caches/jobs/items/nope", "", ""); r.header.Get("ETag") != "" {
		t.Fatalf("a 404 has an ETag: %q", r.header.Get("ETag"))
	}
	if r := e.do("DELETE", "/v1/caches/jobs/items/a", "", ""); r.status != http.StatusAccepted || r.header.Get("ETag") == "" {
		t.Fatalf("delete: %d ETag %q", r.status, r.header.Get("ETag"))
	}
}

func TestGetWithIfNoneMatch(t *testing.T) {
	e := newEnv(t)
	jobsWith(t, e, "a")
	for _, c := range []struct {
		header string
		status int
	}{
		{`"1"`, http.StatusNotModified},
		{`W/"1"`, http.StatusNotModified}, // weak comparison (RFC 9110 §13.1.2)
		{`*`, http.StatusNotModified},
		{`"7", "1"`, http.StatusNotModified},
		{`"2"`, http.StatusOK},
		{`"abc"`, http.StatusOK},
		{`1`, http.StatusOK}, // not an entity tag: a condition that cannot hold
	} {
		r := e.send("GET", "/v1/caches/jobs/items/a", map[string]string{"If-None-Match": c.header}, "")
		if r.status != c.status {
			t.Errorf("If-None-Match %s: %d, want %d", c.header, r.status, c.status)
		}
		if r.header.Get("ETag") != `"1"` {
			t.Errorf("If-None-Match %s: ETag %q", c.header, r.header.Get("ETag"))
		}
		if c.status == http.StatusNotModified && len(r.body) != 0 {
			t.Errorf("If-None-Match %s: a 304 with a body: %q", c.header, r.body)
		}
	}
	// A long-poll that ends with the item unchanged says so with a 304 too.
	r := e.send("GET", "/v1/caches/jobs/items/a?waitForChange=true&timeout=1ms", map[string]string{"If-None-Match": `"1"`}, "")
	if r.status != http.StatusNotModified {
		t.Fatalf("long-poll: %d %s", r.status, r.body)
	}
}

func TestPatchItem(t *testing.T) {
	controlModes(t, nil, func(t *testing.T, e *env, _ *controlFake) {
		jobsWith(t, e, "a")
		patch := func(header map[string]string, body string) resp {
			t.Helper()
			if header == nil {
				header = map[string]string{}
			}
			header["Content-Type"] = "application/json"
			return e.send("PATCH", "/v1/caches/jobs/items/a", header, body)
		}
		r := patch(nil, `{"data": {"n": 2}}`)
		if r.status != http.StatusOK || r.header.Get("ETag") != `"2"` {
			t.Fatalf("patch: %d ETag %q %s", r.status, r.header.Get("ETag"), r.body)
		}
		if m := r.json(t); m["version"] != 2.0 || m["data"].(map[string]any)["n"] != 2.0 || m["state"] != "active" || m["terminal"] != false {
			t.Fatalf("patched: %s", r.body)
		}
		wantError(t, "stale If-Match", patch(map[string]string{"If-Match": `"1"`}, `{"data": 3}`), http.StatusPreconditionFailed, "PRECONDITION_FAILED", "")
		wantError(t, "weak If-Match", patch(map[string]string{"If-Match": `W/"2"`}, `{"data": 3}`), http.StatusPreconditionFailed, "PRECONDITION_FAILED", "")
		wantError(t, "no tag of ours", patch(map[string]string{"If-Match": `"x", "0"`}, `{"data": 3}`), http.StatusPreconditionFailed, "PRECONDITION_FAILED", "")
		wantError(t, "malformed If-Match", patch(map[string]string{"If-Match": `2`}, `{"data": 3}`), http.StatusBadRequest, "INVALID", "If-Match")
		if r := e.do("GET", "/v1/caches/jobs/items/a", "", ""); r.json(t)["version"] != 2.0 {
			t.Fatalf("a refused PATCH wrote: %s", r.body)
		}
		if r := patch(map[string]string{"If-Match": `"2"`}, `{"data": null}`); r.status != http.StatusOK || r.json(t)["data"] != nil || r.header.Get("ETag") != `"3"` {
			t.Fatalf("If-Match current: %d %s", r.status, r.body)
		}
		if r := patch(map[string]string{"If-Match": `"1", "3"`}, `{"data": 4}`); r.status != http.StatusOK || r.header.Get("ETag") != `"4"` {
			t.Fatalf("If-Match list: %d %s", r.status, r.body)
		}
		r = patch(map[string]string{"If-Match": `*`}, `{"terminal": true}`)
		if m := r.json(t); r.status != http.StatusOK || m["state"] != "completed" || m["terminal"] != true || m["nextSyncAt"] != nil || m["data"] != 4.0 {
			t.Fatalf("If-Match *, terminal: %d %s", r.status, r.body)
		}
		wantError(t, "empty patch", patch(nil, `{}`), http.StatusBadRequest, "INVALID", "")
		wantError(t, "unknown field", patch(nil, `{"data": 1, "state": "active"}`), http.StatusBadRequest, "INVALID", "")
		wantError(t, "null terminal", patch(nil, `{"terminal": null}`), http.StatusBadRequest, "INVALID", "terminal")
		r = e.send("PATCH", "/v1/caches/jobs/items/nope", map[string]string{"Content-Type": "application/json", "If-Match": `"1"`}, `{"data": 1}`)
		wantError(t, "missing item", r, http.StatusNotFound, "NOT_FOUND", "")
		r = e.send("PATCH", "/v1/caches/jobs/items/nope", map[string]string{"Content-Type": "application/json", "If-Match": `"1", "2"`}, `{"data": 1}`)
		wantError(t, "missing item, listed tags", r, http.StatusNotFound, "NOT_FOUND", "")
	})
}

func TestRetryItem(t *testing.T) {
	controlModes(t, nil, func(t *testing.T, e *env, fake *controlFake) {
		jobsWith(t, e, "a", "done")
		if r := e.do("PATCH", "/v1/caches/jobs/items/done", "application/json", `{"terminal": true}`); r.status != http.StatusOK {
			t.Fatalf("complete: %d %s", r.status, r.body)
		}
		wantError(t, "completed", e.do("POST", "/v1/caches/jobs/items/done/retry", "", ""), http.StatusConflict, "CONFLICT", "")
		// An active item is only made due: same version.
		if r := e.do("POST", "/v1/caches/jobs/items/a/retry", "", ""); r.status != http.StatusOK || r.header.Get("ETag") != `"1"` {
			t.Fatalf("retry active: %d %v %s", r.status, r.header, r.body)
		}
		wantError(t, "bad ttl", e.do("POST", "/v1/caches/jobs/items/a/retry", "application/json", `{"ttl": "soon"}`), http.StatusBadRequest, "INVALID", "ttl")
		wantError(t, "long ttl", e.do("POST", "/v1/caches/jobs/items/a/retry", "application/json", `{"ttl": "9000h"}`), http.StatusBadRequest, "INVALID", "ttl")
		wantError(t, "form", e.do("POST", "/v1/caches/jobs/items/a/retry", "text/plain", ""), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "")
		wantError(t, "missing", e.do("POST", "/v1/caches/jobs/items/nope/retry", "", ""), http.StatusNotFound, "NOT_FOUND", "")
		if fake == nil {
			return // a failed item needs an upstream that fails it; the conformance suite has one
		}
		fake.failed(t, "jobs", "a")
		if m := e.do("GET", "/v1/caches/jobs/items/a", "", "").json(t); m["state"] != "failed" || m["attempts"] != 1.0 || m["lastError"] != "upstream said no" {
			t.Fatalf("failed item: %v", m)
		}
		if r := e.do("GET", "/v1/caches/jobs/items?state=failed", "", ""); len(r.json(t)["items"].([]any)) != 0 {
			t.Log("the fake does not list its changes") // listing by state is tested on real items below
		}
		r := e.do("POST", "/v1/caches/jobs/items/a/retry", "application/json", `{"ttl": "1h"}`)
		m := r.json(t)
		if r.status != http.StatusOK || m["state"] != "active" || m["attempts"] != 0.0 || m["lastError"] != nil || m["expiresAt"] == nil || r.header.Get("ETag") != `"3"` {
			t.Fatalf("retry failed: %d %v %s", r.status, r.header, r.body)
		}
	})
}

func TestCreateItemsBatch(t *testing.T) {
	controlModes(t, nil, func(t *testing.T, e *env, _ *controlFake) {
		jobsWith(t, e, "old")
		body := `{"items": [{"id": "new", "data": {"n": 1}, "ttl": "1h"}, {"id": "old", "data": 2}, {"id": "bad", "ttl": "9000h"}, {"id": ".."}, {"id": "done", "terminal": true}]}`
		r := e.do("POST", "/v1/caches/jobs/items/batch", "application/json", body)
		if r.status != http.StatusOK {
			t.Fatalf("batch: %d %s", r.status, r.body)
		}
		var out struct {
			Items []struct {
				ID      string
				Created *bool
				Item    map[string]any
				Error   *struct{ Code, Message string }
			}
		}
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Items) != 5 {
			t.Fatalf("%d entries for 5 items: %s", len(out.Items), r.body)
		}
		for i, id := range []string{"new", "old", "bad", "..", "done"} {
			if out.Items[i].ID != id {
				t.Fatalf("entry %d is %q, want %q: not in request order", i, out.Items[i].ID, id)
			}
		}
		if e0 := out.Items[0]; e0.Created == nil || !*e0.Created || e0.Item["id"] != "new" || e0.Item["expiresAt"] == nil || e0.Error != nil {
			t.Fatalf("created entry: %+v", e0)
		}
		if e1 := out.Items[1]; e1.Created == nil || *e1.Created || e1.Item["data"].(map[string]any)["n"] != 1.0 {
			t.Fatalf("existing entry: %+v", e1)
		}
		if e2 := out.Items[2]; e2.Error == nil || e2.Error.Code != "INVALID" || !strings.Contains(e2.Error.Message, "ttl") || e2.Item != nil {
			t.Fatalf("bad ttl entry: %+v", e2)
		}
		if e3 := out.Items[3]; e3.Error == nil || e3.Error.Code != "INVALID" {
			t.Fatalf("bad id entry: %+v", e3)
		}
		if e4 := out.Items[4]; e4.Item["state"] != "completed" {
			t.Fatalf("terminal entry: %+v", e4)
		}
		if r := e.do("GET", "/v1/caches/jobs/items/new", "", ""); r.status != http.StatusOK {
			t.Fatalf("the batch's item: %d", r.status)
		}

		wantError(t, "no items", e.do("POST", "/v1/caches/jobs/items/batch", "application/json", `{"items": []}`), http.StatusBadRequest, "INVALID", "items")
		many := `{"items": [` + strings.Repeat(`{"id": "x"},`, 1000) + `{"id": "x"}]}`
		wantError(t, "1001 items", e.do("POST", "/v1/caches/jobs/items/batch", "application/json", many), http.StatusBadRequest, "INVALID", "items")
		wantError(t, "unknown field", e.do("POST", "/v1/caches/jobs/items/batch", "application/json", `{"items": [{"id": "x", "color": 1}]}`), http.StatusBadRequest, "INVALID", "")
		wantError(t, "unknown cache", e.do("POST", "/v1/caches/nope/items/batch", "application/json", `{"items": [{"id": "x"}]}`), http.StatusNotFound, "NOT_FOUND", "")
		wantError(t, "unknown cache, no good entry", e.do("POST", "/v1/caches/nope/items/batch", "application/json", `{"items": [{"id": "x", "ttl": "9000h"}]}`), http.StatusNotFound, "NOT_FOUND", "")
	})
}

// The batch takes more than a create's 1 MiB, up to its own 16 MiB; each
// entry's data stays within the create's limit.
func TestCreateItemsBatchBodyLimits(t *testing.T) {
	controlModes(t, nil, func(t *testing.T, e *env, _ *controlFake) {
		jobsWith(t, e)
		data := `"` + strings.Repeat("x", 600<<10) + `"`
		two := `{"items": [{"id": "a", "data": ` + data + `}, {"id": "b", "data": ` + data + `}]}`
		if r := e.do("POST", "/v1/caches/jobs/items/batch", "application/json", two); r.status != http.StatusOK {
			t.Fatalf("1.2 MiB batch: %d %.200s", r.status, r.body)
		}
		big := `{"items": [{"id": "a", "data": "` + strings.Repeat("x", 1<<20) + `"}, {"id": "c", "data": 1}]}`
		r := e.do("POST", "/v1/caches/jobs/items/batch", "application/json", big)
		if r.status != http.StatusOK || !strings.Contains(string(r.body), `"code":"TOO_LARGE"`) || !strings.Contains(string(r.body), `"id":"c","created":true`) {
			t.Fatalf("an entry over 1 MiB: %d %.300s", r.status, r.body)
		}
		huge := `{"items": [{"id": "a", "data": "` + strings.Repeat("x", 16<<20) + `"}]}`
		wantError(t, "over 16 MiB", e.do("POST", "/v1/caches/jobs/items/batch", "application/json", huge), http.StatusRequestEntityTooLarge, "TOO_LARGE", "16777216")
	})
}

// POST .../items/batch is the bulk create and nothing else: the item whose
// id is "batch" is read, patched, retried and deleted at that path.
func TestItemNamedBatch(t *testing.T) {
	controlModes(t, nil, func(t *testing.T, e *env, _ *controlFake) {
		jobsWith(t, e, "batch")
		if r := e.do("GET", "/v1/caches/jobs/items/batch", "", ""); r.status != http.StatusOK || r.json(t)["id"] != "batch" {
			t.Fatalf("get: %d %s", r.status, r.body)
		}
		if r := e.do("PATCH", "/v1/caches/jobs/items/batch", "application/json", `{"data": 5}`); r.status != http.StatusOK || r.json(t)["id"] != "batch" {
			t.Fatalf("patch: %d %s", r.status, r.body)
		}
		if r := e.do("POST", "/v1/caches/jobs/items/batch/retry", "", ""); r.status != http.StatusOK || r.json(t)["id"] != "batch" {
			t.Fatalf("retry: %d %s", r.status, r.body)
		}
		if r := e.do("DELETE", "/v1/caches/jobs/items/batch", "", ""); r.status != http.StatusAccepted || r.json(t)["id"] != "batch" {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		if r := e.do("PUT", "/v1/caches/jobs/items/batch", "application/json", `{}`); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, POST, PATCH, DELETE" {
			t.Fatalf("put: %d Allow %q", r.status, r.header.Get("Allow"))
		}
	})
}

func TestPauseAndResume(t *testing.T) {
	controlModes(t, nil, func(t *testing.T, e *env, _ *controlFake) {
		jobsWith(t, e)
		if m := e.do("GET", "/v1/caches/jobs", "", "").json(t); m["paused"] != false {
			t.Fatalf("a new cache is paused: %v", m["paused"])
		}
		for _, step := range []struct {
			path   string
			paused bool
		}{{"pause", true}, {"pause", true}, {"resume", false}, {"resume", false}} {
			r := e.do("POST", "/v1/caches/jobs/"+step.path, "", "")
			if r.status != http.StatusOK || r.json(t)["paused"] != step.paused || r.json(t)["name"] != "jobs" {
				t.Fatalf("%s: %d %s", step.path, r.status, r.body)
			}
			if m := e.do("GET", "/v1/caches/jobs", "", "").json(t); m["paused"] != step.paused {
				t.Fatalf("after %s: paused %v", step.path, m["paused"])
			}
		}
		wantError(t, "unknown cache", e.do("POST", "/v1/caches/nope/pause", "", ""), http.StatusNotFound, "NOT_FOUND", "")
		wantError(t, "a body", e.do("POST", "/v1/caches/jobs/pause", "text/plain", "x"), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "")
	})
}

// Every new write needs a write token when the server has tokens.
func TestControlsNeedAWriteToken(t *testing.T) {
	controlModes(t, withTokens(false), func(t *testing.T, e *env, _ *controlFake) {
		if r := e.doAs(writer, "PUT", "/v1/caches/jobs", "application/json", e.webhookBody("")); r.status != http.StatusCreated {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
		if r := e.doAs(writer, "POST", "/v1/caches/jobs/items", "application/json", `{"id": "a"}`); r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		for _, c := range []struct{ method, path, body string }{
			{"PATCH", "/v1/caches/jobs/items/a", `{"data": 1}`},
			{"POST", "/v1/caches/jobs/items/a/retry", ""},
			{"POST", "/v1/caches/jobs/items/batch", `{"items": [{"id": "b"}]}`},
			{"POST", "/v1/caches/jobs/pause", ""},
			{"POST", "/v1/caches/jobs/resume", ""},
		} {
			ctype := ""
			if c.body != "" {
				ctype = "application/json"
			}
			wantError(t, c.method+" "+c.path+" without a token", e.doAs("", c.method, c.path, ctype, c.body), http.StatusUnauthorized, "UNAUTHORIZED", "")
			wantError(t, c.method+" "+c.path+" by a reader", e.doAs(reader, c.method, c.path, ctype, c.body), http.StatusForbidden, "FORBIDDEN", "")
			if r := e.doAs(writer, c.method, c.path, ctype, c.body); r.status != http.StatusOK {
				t.Errorf("%s %s by a writer: %d %s", c.method, c.path, r.status, r.body)
			}
		}
	})
}
