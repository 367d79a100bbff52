package client_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fake is an httptest server that answers issue 15's routes as the brief
// of the SDK specifies them, for the parts of the client that the real
// server on this branch does not answer yet: PATCH with If-Match, retry,
// the batch create, pause and resume, ETags, item states and the state
// filter. It holds one cache, "jobs", and its items, and answers every
// other path 404 in the service's error form.
type fake struct {
	srv *httptest.Server

	mu     sync.Mutex
	paused bool
	items  map[string]*fakeItem
}

// fakeItem is an item in the fake, in the wire shape.
type fakeItem struct {
	ID            string          `json:"id"`
	Data          json.RawMessage `json:"data"`
	Terminal      bool            `json:"terminal"`
	Version       int64           `json:"version"`
	CreatedAt     time.Time       `json:"createdAt"`
	UpdatedAt     time.Time       `json:"updatedAt"`
	SyncedAt      *time.Time      `json:"syncedAt"`
	PendingDelete bool            `json:"pendingDelete"`
	State         string          `json:"state"`
	Attempts      int             `json:"attempts"`
	LastError     *string         `json:"lastError"`
	NextSyncAt    *time.Time      `json:"nextSyncAt"`
	ExpiresAt     *time.Time      `json:"expiresAt"`
}

// fakeNow is the fake's clock, which never moves.
func fakeNow() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }

func newFake() *fake {
	f := &fake{items: map[string]*fakeItem{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

func (f *fake) Close() { f.srv.Close() }

// put stores an item as is.
func (f *fake) put(it fakeItem) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items[it.ID] = &it
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"code": code, "message": msg})
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/caches/jobs")
	if !ok {
		writeErr(w, 404, "NOT_FOUND", "no route for "+r.URL.Path)
		return
	}
	switch {
	case r.Method == "GET" && rest == "", r.Method == "POST" && (rest == "/pause" || rest == "/resume"):
		if rest != "" {
			f.paused = rest == "/pause"
		}
		writeJSON(w, 200, map[string]any{
			"name": "jobs", "paused": f.paused, "resyncPeriod": "30s", "retry": map[string]any{"maxAttempts": 5, "maxBackoff": "5m"},
			"itemTTL": "1h", "webhook": map[string]any{"url": "http://127.0.0.1:9/sync", "secretSet": false, "timeout": "10s", "headers": map[string]string{}},
		})
	case r.Method == "POST" && rest == "/items/batch":
		f.batch(w, r)
	case r.Method == "POST" && rest == "/items":
		var in struct {
			ID       string          `json:"id"`
			Data     json.RawMessage `json:"data"`
			Terminal bool            `json:"terminal"`
			TTL      string          `json:"ttl"`
		}
		if err := decodeStrict(r, &in); err != nil {
			writeErr(w, 400, "INVALID", err.Error())
			return
		}
		it, created := f.create(in.ID, in.Data, in.Terminal)
		writeJSON(w, map[bool]int{true: 201, false: 200}[created], it)
	case r.Method == "GET" && rest == "/items":
		f.list(w, r)
	case strings.HasPrefix(rest, "/items/"):
		f.item(w, r, strings.TrimPrefix(rest, "/items/"))
	default:
		writeErr(w, 404, "NOT_FOUND", "no route for "+r.URL.Path)
	}
}

func decodeStrict(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("Content-Type must be application/json, not %q", ct)
	}
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func (f *fake) create(id string, data json.RawMessage, terminal bool) (*fakeItem, bool) {
	if it, ok := f.items[id]; ok {
		return it, false
	}
	if data == nil {
		data = json.RawMessage("null")
	}
	it := &fakeItem{ID: id, Data: data, Terminal: terminal, Version: 1, CreatedAt: fakeNow(), UpdatedAt: fakeNow(), State: "active"}
	if terminal {
		it.State = "completed"
	}
	f.items[id] = it
	return it, true
}

func (f *fake) batch(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Items []struct {
			ID       string          `json:"id"`
			Data     json.RawMessage `json:"data"`
			Terminal bool            `json:"terminal"`
		} `json:"items"`
	}
	if err := decodeStrict(r, &in); err != nil || len(in.Items) == 0 || len(in.Items) > 1000 {
		writeErr(w, 400, "INVALID", "items: 1 to 1000")
		return
	}
	var out []map[string]any
	for _, c := range in.Items {
		if c.ID == "" || c.ID == "." {
			out = append(out, map[string]any{"id": c.ID, "error": map[string]string{"code": "INVALID", "message": "id: bad"}})
			continue
		}
		it, created := f.create(c.ID, c.Data, c.Terminal)
		out = append(out, map[string]any{"id": c.ID, "created": created, "item": it})
	}
	writeJSON(w, 200, map[string]any{"items": out})
}

func (f *fake) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	var ids []string
	for id, it := range f.items {
		if s := q.Get("state"); s != "" && it.State != s {
			continue
		}
		if t := q.Get("terminal"); t != "" && strconv.FormatBool(it.Terminal) != t {
			continue
		}
		if id > q.Get("cursor") {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	page := map[string]any{"items": []*fakeItem{}, "nextCursor": nil}
	if len(ids) > limit {
		ids = ids[:limit]
		page["nextCursor"] = ids[limit-1]
	}
	var items []*fakeItem
	for _, id := range ids {
		items = append(items, f.items[id])
	}
	if items != nil {
		page["items"] = items
	}
	writeJSON(w, 200, page)
}

func (f *fake) item(w http.ResponseWriter, r *http.Request, rest string) {
	id, verb, _ := strings.Cut(rest, "/")
	it, ok := f.items[id]
	if !ok {
		writeErr(w, 404, "NOT_FOUND", fmt.Sprintf("cache \"jobs\" has no item %q", id))
		return
	}
	tag := `"` + strconv.FormatInt(it.Version, 10) + `"`
	switch {
	case r.Method == "GET" && verb == "":
		w.Header().Set("ETag", tag)
		if r.Header.Get("If-None-Match") == tag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		writeJSON(w, 200, it)
	case r.Method == "DELETE" && verb == "":
		it.PendingDelete = true
		writeJSON(w, 202, it)
	case r.Method == "PATCH" && verb == "":
		if m := r.Header.Get("If-Match"); m != "" && m != tag {
			writeErr(w, 412, "PRECONDITION_FAILED", "item "+id+" is at version "+tag+", not "+m)
			return
		}
		var p struct {
			Data     json.RawMessage `json:"data"`
			Terminal *bool           `json:"terminal"`
		}
		if err := decodeStrict(r, &p); err != nil {
			writeErr(w, 400, "INVALID", err.Error())
			return
		}
		if p.Data != nil {
			it.Data = p.Data
		}
		if p.Terminal != nil {
			it.Terminal = *p.Terminal
			if it.Terminal {
				it.State = "completed"
			}
		}
		it.Version++
		writeJSON(w, 200, it)
	case r.Method == "POST" && verb == "retry":
		if it.State == "completed" {
			writeErr(w, 409, "CONFLICT", "item "+id+" is completed")
			return
		}
		var p struct {
			TTL string `json:"ttl"`
		}
		if err := decodeStrict(r, &p); err != nil {
			writeErr(w, 400, "INVALID", err.Error())
			return
		}
		it.State, it.Terminal, it.Attempts, it.LastError = "active", false, 0, nil
		if p.TTL != "" {
			d, _ := time.ParseDuration(p.TTL)
			t := fakeNow().Add(d)
			it.ExpiresAt = &t
		}
		it.Version++
		writeJSON(w, 200, it)
	default:
		writeErr(w, 405, "METHOD_NOT_ALLOWED", "method "+r.Method+" is not allowed here")
	}
}
