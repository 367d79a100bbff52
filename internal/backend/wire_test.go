package backend_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/api"
	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/handlers"
	"github.com/autorefresh/autorefresh/internal/pgtest"
)

// TestPerItemWireBothModes walks the per-item control routes over real HTTP
// (handlers.NewServer on httptest) in each storage mode, checking the wire
// names the README and the spec promise: the bulk create's entries, ETag
// with If-None-Match and If-Match, PATCH, retry's 409 on a completed item,
// pause and resume, the state filter, and the by-state and paused metrics.
// The behaviour behind each route is the conformance suite's; this holds
// the HTTP layer to it in both modes at once.
func TestPerItemWireBothModes(t *testing.T) {
	t.Run("durable", func(t *testing.T) {
		perItemWire(t, func(o *backend.Options) { o.DataDir = t.TempDir() })
	})
	t.Run("postgres", func(t *testing.T) {
		pgtest.SkipIfUnavailable(t)
		db := pgtest.NewDB(t)
		perItemWire(t, func(o *backend.Options) { o.PostgresURL = db })
	})
}

func perItemWire(t *testing.T, set func(*backend.Options)) {
	reg := prometheus.NewRegistry()
	opts := backend.Options{Registerer: reg, Logger: zap.NewNop(), Egress: &egress.Policy{AllowPrivate: true}}
	set(&opts)
	ctx := context.Background()
	b, err := backend.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	spec, err := api.Load()
	if err != nil {
		t.Fatal(err)
	}
	h, err := handlers.NewServer(handlers.Deps{Service: b.Service(), Watch: b.Hub(), Logger: zap.NewNop(),
		Registerer: reg, Gatherer: reg, Spec: spec, SpecYAML: api.Spec()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := wireClient{t: t, base: srv.URL}

	c.do("PUT", "/v1/caches/jobs", nil, `{"webhook":{"url":"`+upstream(t)+`"},"resyncPeriod":"1h","syncOnCreate":false,"retry":{"maxAttempts":3}}`, http.StatusCreated)

	var batch struct {
		Items []struct {
			ID      string          `json:"id"`
			Created *bool           `json:"created"`
			Item    json.RawMessage `json:"item"`
			Error   *struct{ Code string }
		} `json:"items"`
	}
	c.decode(c.do("POST", "/v1/caches/jobs/items/batch", nil,
		`{"items":[{"id":"a","data":{"n":1}},{"id":"b","ttl":"9000h"},{"id":"a"},{"id":"c","terminal":true}]}`, http.StatusOK), &batch)
	if len(batch.Items) != 4 || batch.Items[0].ID != "a" || batch.Items[0].Created == nil || !*batch.Items[0].Created ||
		batch.Items[1].Error == nil || batch.Items[1].Error.Code != "INVALID" ||
		batch.Items[2].Created == nil || *batch.Items[2].Created || batch.Items[3].Created == nil || !*batch.Items[3].Created {
		t.Fatalf("bulk create answered %+v", batch.Items)
	}
	c.do("POST", "/v1/caches/jobs/items/batch", nil, `{"items":[{"id":"d","extra":1}]}`, http.StatusBadRequest)

	resp := c.do("GET", "/v1/caches/jobs/items/a", nil, "", http.StatusOK)
	if etag := resp.Header.Get("ETag"); etag != `"1"` {
		t.Fatalf("ETag %q, want \"1\"", etag)
	}
	c.do("GET", "/v1/caches/jobs/items/a", map[string]string{"If-None-Match": `"1"`}, "", http.StatusNotModified)
	c.do("PATCH", "/v1/caches/jobs/items/a", map[string]string{"If-Match": `"7"`}, `{"data":{"n":2}}`, http.StatusPreconditionFailed)
	var item struct {
		Version  int             `json:"version"`
		Data     json.RawMessage `json:"data"`
		State    string          `json:"state"`
		Terminal bool            `json:"terminal"`
		Attempts *int            `json:"attempts"`
	}
	resp = c.do("PATCH", "/v1/caches/jobs/items/a", map[string]string{"If-Match": `"1"`}, `{"data":{"n":2}}`, http.StatusOK)
	if c.decode(resp, &item); item.Version != 2 || string(item.Data) != `{"n":2}` || item.State != "active" || item.Attempts == nil || resp.Header.Get("ETag") != `"2"` {
		t.Fatalf("PATCH answered %+v, ETag %q", item, resp.Header.Get("ETag"))
	}
	c.do("POST", "/v1/caches/jobs/items/a/retry", nil, "", http.StatusOK) // active: only due now
	if c.decode(c.do("PATCH", "/v1/caches/jobs/items/a", nil, `{"terminal":true}`, http.StatusOK), &item); item.State != "completed" || !item.Terminal {
		t.Fatalf("PATCH terminal answered %+v", item)
	}
	c.do("POST", "/v1/caches/jobs/items/a/retry", nil, "", http.StatusConflict)

	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	c.decode(c.do("GET", "/v1/caches/jobs/items?state=completed", nil, "", http.StatusOK), &list)
	if len(list.Items) != 2 || list.Items[0].ID != "a" || list.Items[1].ID != "c" {
		t.Fatalf("state=completed listed %+v, want a and c", list.Items)
	}
	c.do("GET", "/v1/caches/jobs/items?state=done", nil, "", http.StatusBadRequest)

	var info struct {
		Paused *bool `json:"paused"`
	}
	if c.decode(c.do("POST", "/v1/caches/jobs/pause", nil, "", http.StatusOK), &info); info.Paused == nil || !*info.Paused {
		t.Fatalf("pause answered paused=%v", info.Paused)
	}
	if c.decode(c.do("GET", "/v1/caches/jobs", nil, "", http.StatusOK), &info); info.Paused == nil || !*info.Paused {
		t.Fatalf("the paused cache reads paused=%v", info.Paused)
	}
	metrics := c.body(c.do("GET", "/metrics", nil, "", http.StatusOK))
	for _, want := range []string{
		`autorefresh_cache_paused{cache="jobs"} 1`,
		`autorefresh_cache_items_by_state{cache="jobs",state="completed"} 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if c.decode(c.do("POST", "/v1/caches/jobs/resume", nil, "", http.StatusOK), &info); info.Paused == nil || *info.Paused {
		t.Fatalf("resume answered paused=%v", info.Paused)
	}
}

// wireClient sends requests and checks their status.
type wireClient struct {
	t    *testing.T
	base string
}

func (c wireClient) do(method, path string, header map[string]string, body string, want int) *http.Response {
	c.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	return resp
}

func (c wireClient) decode(resp *http.Response, v any) {
	c.t.Helper()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		c.t.Fatalf("decode: %v", err)
	}
}

func (c wireClient) body(resp *http.Response) string {
	c.t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return string(b)
}
