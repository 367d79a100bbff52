package syncers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/webhook"
)

// exampleService is the seed's example upstream: it owns a job per item and
// moves it Not-started -> Started -> Completed (terminal), one step per
// poll, replying with the job's current state.
type exampleService struct {
	mu    sync.Mutex
	polls map[string]int
}

func (s *exampleService) handle(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req struct {
		Cache string `json:"cache"`
		Items []struct {
			ID   string `json:"id"`
			Data struct {
				Status string `json:"status"`
			} `json:"data"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Cache != "jobs" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	states := []string{"Not-started", "Started", "Completed"}
	type entry struct {
		ID       string         `json:"id"`
		Action   string         `json:"action"`
		Data     map[string]any `json:"data,omitempty"`
		Terminal bool           `json:"terminal,omitempty"`
	}
	var out []entry
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range req.Items {
		state := states[min(s.polls[it.ID], len(states)-1)]
		s.polls[it.ID]++
		if state == it.Data.Status {
			out = append(out, entry{ID: it.ID, Action: "unchanged"})
			continue
		}
		out = append(out, entry{ID: it.ID, Action: "update", Data: map[string]any{"status": state}, Terminal: state == "Completed"})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"items": out})
}

func TestExampleServiceLifecycle(t *testing.T) {
	svc := &exampleService{polls: map[string]int{}}
	up := newUpstream(t, svc.handle)
	h := newHarness(t, up.URL, nil)

	current := rec("item1", `{"status":"Not-started"}`, false, 1)
	want := []struct {
		action   cache.SyncAction
		data     string
		terminal bool
		version  int64
	}{
		{cache.Unchanged, `{"status":"Not-started"}`, false, 1},
		{cache.Update, `{"status":"Started"}`, false, 2},
		{cache.Update, `{"status":"Completed"}`, true, 3},
	}
	for call, w := range want {
		h.clock.Step(time.Minute)
		resps, err := h.sync(t, batchOf(current))
		if err != nil {
			t.Fatalf("call %d: %v", call+1, err)
		}
		if len(resps) != 1 || resps[0].ID != "item1" || resps[0].Action != w.action {
			t.Fatalf("call %d: responses %+v", call+1, resps)
		}
		got := resps[0].Item
		if string(got.Data) != w.data || got.Terminal != w.terminal || got.Version != w.version {
			t.Fatalf("call %d: record %+v, want %+v", call+1, got, w)
		}
		if w.action == cache.Update && !got.UpdatedAt.Equal(h.clock.Now()) {
			t.Fatalf("call %d: UpdatedAt %v, want the fake clock's %v", call+1, got.UpdatedAt, h.clock.Now())
		}
		if !got.CreatedAt.Equal(t0) {
			t.Fatalf("call %d: CreatedAt changed to %v", call+1, got.CreatedAt)
		}
		current = got
	}
	if !current.IsTerminal() {
		t.Fatal("item did not become terminal")
	}
	if n := h.outcomes(OutcomeOK); n != 3 {
		t.Fatalf("ok outcomes = %v, want 3", n)
	}
}

func TestRequestCarriesExactlyTheBatch(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(http.StatusNoContent) })
	h := newHarness(t, up.URL, func(o *Options) {
		o.Webhook.Headers = map[string]string{"Authorization": "Bearer abc", "x-tenant": "t1"}
	})
	b := batchOf(
		rec("a", `{"status": "Started", "n": [1, 2]}`, false, 3),
		rec("b", "", false, 1), // no data yet: sent as null
		rec("a", `{"ignored":"repeat"}`, false, 9),
		failing("c", `"just a string"`, 7, 2),
	)
	resps, err := h.sync(t, b)
	if err != nil || len(resps) != 1 || resps[0].ID != "c" || resps[0].Item.Attempts != 0 {
		t.Fatalf("204 answered %+v, %v; want only c, recovered", resps, err)
	}
	got := up.last(t)
	want := `{"cache":"jobs","items":[` +
		`{"id":"a","data":{"status":"Started","n":[1,2]},"terminal":false,"version":3,"attempts":0},` +
		`{"id":"b","data":null,"terminal":false,"version":1,"attempts":0},` +
		`{"id":"c","data":"just a string","terminal":false,"version":7,"attempts":2}]}`
	if string(got.body) != want {
		t.Fatalf("body\n got %s\nwant %s", got.body, want)
	}
	for name, value := range map[string]string{
		"Content-Type": "application/json", "Authorization": "Bearer abc", "X-Tenant": "t1",
	} {
		if got.header.Get(name) != value {
			t.Errorf("header %s = %q, want %q", name, got.header.Get(name), value)
		}
	}
	for _, name := range []string{webhook.HeaderID, webhook.HeaderTimestamp, webhook.HeaderSignature} {
		if got.header.Get(name) != "" {
			t.Errorf("unsigned request carries %s", name)
		}
	}
	if up.hits.Load() != 1 {
		t.Fatalf("hits = %d", up.hits.Load())
	}
}

func TestUpdateSemantics(t *testing.T) {
	up := newUpstream(t, replyJSON(`{"items": [
		{"id": "keepdata", "action": "update", "terminal": true},
		{"id": "keepterm", "action": "update", "data": {"v": 2}},
		{"id": "nulldata", "action": "update", "data": null, "terminal": null},
		{"id": "nothing", "action": "update"},
		{"id": "untermed", "action": "update", "terminal": false, "data": { "spaced" : true }},
		{"id": "same", "action": "unchanged", "data": {"ignored": true}}
	]}`))
	h := newHarness(t, up.URL, nil)
	b := batchOf(
		rec("keepdata", `{"v":1}`, false, 1),
		rec("keepterm", `{"v":1}`, false, 4),
		rec("nulldata", `{"v":1}`, false, 1),
		rec("nothing", `{"v":1}`, false, 1),
		rec("untermed", `{"v":1}`, false, 1),
		rec("same", `{"v":1}`, false, 2),
		rec("omitted", `{"v":1}`, false, 1),
	)
	resps, err := h.sync(t, b)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]cache.ItemSyncResponseOf[*record.Record]{}
	for _, r := range resps {
		got[r.ID] = r
	}
	check := func(id string, action cache.SyncAction, data string, terminal bool, version int64) {
		t.Helper()
		r, ok := got[id]
		if !ok {
			t.Fatalf("no response for %s", id)
		}
		rr := r.Item
		if r.Action != action || string(rr.Data) != data || rr.Terminal != terminal || rr.Version != version {
			t.Errorf("%s: %v %s terminal=%v v%d, want %v %s terminal=%v v%d",
				id, r.Action, rr.Data, rr.Terminal, rr.Version, action, data, terminal, version)
		}
	}
	check("keepdata", cache.Update, `{"v":1}`, true, 2)
	check("keepterm", cache.Update, `{"v":2}`, false, 5)
	check("nulldata", cache.Update, `null`, false, 2)
	check("nothing", cache.Unchanged, `{"v":1}`, false, 1)
	check("untermed", cache.Update, `{"spaced":true}`, false, 2)
	check("same", cache.Unchanged, `{"v":1}`, false, 2)
	if _, ok := got["omitted"]; ok || len(resps) != 6 {
		t.Fatalf("responses %+v", resps)
	}
}

func TestEmptyBatchSendsNothing(t *testing.T) {
	up := newUpstream(t, replyJSON(`{"items":[]}`))
	h := newHarness(t, up.URL, nil)
	resps, err := h.sync(t, nil)
	if resps != nil || err != nil || up.hits.Load() != 0 {
		t.Fatalf("got %v, %v with %d hits", resps, err, up.hits.Load())
	}
}

func TestUnencodableBatchIsInternalError(t *testing.T) {
	up := newUpstream(t, replyJSON(`{"items":[]}`))
	h := newHarness(t, up.URL, nil)
	resps, err := h.sync(t, cache.BatchOf[*record.Record]{noRecord{}})
	syncError(t, err, ReasonInternal)
	if up.hits.Load() != 0 {
		t.Fatal("request sent")
	}
	if resps != nil {
		t.Fatalf("responses for an item without a record: %+v", resps)
	}
	// The failure is charged to every item that has a record.
	resps, err = h.sync(t, batchOf(rec("x", `{not json`, false, 1), rec("y", `{}`, false, 1)))
	syncError(t, err, ReasonInternal)
	assertCharged(t, resps, err, "x", "y")
}

// noRecord is a batch item without a record.
type noRecord struct{}

func (noRecord) GetID() cache.ItemID     { return "x" }
func (noRecord) GetItem() *record.Record { return nil }

// TestSlowUpstreamDoesNotDelayOthers runs a sync against an upstream that
// hangs while another cache's syncs, to a second upstream, complete.
func TestSlowUpstreamDoesNotDelayOthers(t *testing.T) {
	release := make(chan struct{})
	slow := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	})
	fast := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(http.StatusNoContent) })
	hs := newHarness(t, slow.URL, func(o *Options) { o.Webhook.Timeout = time.Minute })
	hf := newHarness(t, fast.URL, nil)

	slowDone := make(chan error, 8)
	for i := range 8 { // more than any plausible per-host or global limit
		go func() {
			_, err := hs.w.Sync(context.Background(), batchOf(rec(fmt.Sprint("s", i), "", false, 1)))
			slowDone <- err
		}()
	}
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := hf.w.Sync(ctx, batchOf(rec(fmt.Sprint("f", i), "", false, 1)))
		cancel()
		if err != nil {
			t.Fatalf("fast upstream sync %d: %v", i, err)
		}
	}
	close(release)
	for range 8 {
		if err := <-slowDone; err != nil {
			t.Fatalf("slow sync: %v", err)
		}
	}
}
