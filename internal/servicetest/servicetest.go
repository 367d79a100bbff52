// Package servicetest is the conformance suite of the service that the HTTP
// layer calls (autorefresh.Service): the same cases run against the embedded
// registry and against the PostgreSQL implementation, so that both modes
// keep one meaning. Call Run from a test of each implementation.
package servicetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/exampleupstream"
)

// Service is what the suite drives: the HTTP layer's view of a storage.
type Service = autorefresh.Service

// Limits are the bounds a storage's services are opened with; zero means
// the implementation's default.
type Limits struct {
	MaxCaches int
	MaxItems  int64
}

// Open starts a running service on one storage. stop stops it, waits for
// its goroutines and releases the storage for the next Open. A test calls
// Open again after stop to check what a restart keeps.
type Open func(t *testing.T) (svc Service, stop func())

// Factory makes a fresh, empty storage with the given limits. Its services
// must let webhooks reach 127.0.0.1.
type Factory func(t *testing.T, l Limits) Open

// testCase is one conformance case: it opens what it needs from f.
type testCase struct {
	name string
	run  func(t *testing.T, f Factory)
}

// coreCases are the CRUD, paging, capacity and restart cases.
var coreCases = []testCase{
	{"CreateGet", testCreateGet},
	{"AtomicCreate", testAtomicCreate},
	{"DeleteDelayedKeepsItemUntilCycle", testDeleteDelayedPending},
	{"DeleteDelayedRemovedByCycle", testDeleteDelayedRemoved},
	{"ListPaging", testListPaging},
	{"PutReplaceKeepsItems", testPutReplace},
	{"DeleteCache", testDeleteCache},
	{"Capacity", testCapacity},
	{"SyncUpdatesVersions", testSync},
	{"Restart", testRestart},
	{"Invalid", testInvalid},
}

// Run runs every case against the implementation f makes. The cases live
// in one file per concern (core here, the others in cases_*.go).
func Run(t *testing.T, f Factory) {
	for _, group := range [][]testCase{coreCases, configCases, refreshCases, scheduleCases, syncReplyCases, limitCases, perItemCases, lifecycleCases, controlCases, raceCases} {
		for _, c := range group {
			t.Run(c.name, func(t *testing.T) { c.run(t, f) })
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// noopUpstream answers every batch with 204: nothing changed.
func noopUpstream(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/sync"
}

func cfg(url string, resync time.Duration, syncOnCreate bool) autorefresh.Config {
	return autorefresh.Config{
		Webhook:      autorefresh.Webhook{URL: url, Timeout: autorefresh.Duration(time.Second)},
		ResyncPeriod: autorefresh.Duration(resync),
		SyncOnCreate: &syncOnCreate,
	}
}

func open1(t *testing.T, f Factory, l Limits) (Service, Open) {
	o := f(t, l)
	svc, stop := o(t)
	t.Cleanup(stop)
	return svc, o
}

func mustPut(t *testing.T, s Service, name string, c autorefresh.Config, wantCreated bool) {
	t.Helper()
	created, err := s.Put(ctxT(t), name, c)
	if err != nil {
		t.Fatalf("Put %s: %v", name, err)
	}
	if created != wantCreated {
		t.Fatalf("Put %s: created = %v, want %v", name, created, wantCreated)
	}
}

func mustCreate(t *testing.T, s Service, name, id, data string, terminal bool) autorefresh.Item {
	t.Helper()
	it, created, err := s.CreateItem(ctxT(t), name, autorefresh.NewItem{ID: id, Data: json.RawMessage(data), Terminal: terminal})
	if err != nil {
		t.Fatalf("CreateItem %s/%s: %v", name, id, err)
	}
	if !created {
		t.Fatalf("CreateItem %s/%s: not created", name, id)
	}
	return it
}

func wantCode(t *testing.T, what string, err error, code errs.Code) {
	t.Helper()
	if got := errs.CodeOf(err); got != code {
		t.Fatalf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

// jsonEqual compares JSON documents by value: a store may normalize
// whitespace and key order (PostgreSQL's jsonb does).
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// sameItem compares two views of one item.
func sameItem(t *testing.T, what string, got, want autorefresh.Item) {
	t.Helper()
	g, w := got.Record, want.Record
	switch {
	case g == nil || w == nil:
		t.Fatalf("%s: nil record", what)
	case g.ID != w.ID, g.Terminal != w.Terminal, g.Version != w.Version,
		!g.CreatedAt.Equal(w.CreatedAt), !g.UpdatedAt.Equal(w.UpdatedAt),
		got.PendingDelete != want.PendingDelete, (got.SyncedAt == nil) != (want.SyncedAt == nil):
		t.Fatalf("%s: got %+v (synced %v, pending %v), want %+v (synced %v, pending %v)",
			what, *g, got.SyncedAt, got.PendingDelete, *w, want.SyncedAt, want.PendingDelete)
	case !jsonEqual(g.Data, w.Data):
		t.Fatalf("%s: data %s, want %s", what, g.Data, w.Data)
	}
}

// waitSettled waits until no sync of the cache is under way. An item whose
// new version is already readable may still be in flight for a moment
// (until its sync is done with), and a Sync asked for meanwhile skips it,
// as it skips every item being synced: a case that asks for the next sync
// of an item it just saw updated waits for this first.
func waitSettled(t *testing.T, s Service, name string) {
	t.Helper()
	waitFor(t, "no sync of "+name+" under way", 10*time.Second, func() bool {
		in, err := s.Info(ctxT(t), name)
		return err == nil && in.Stats.InFlight == 0
	})
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testCreateGet(t *testing.T, f Factory) {
	s, _ := open1(t, f, Limits{})
	ctx := ctxT(t)
	mustPut(t, s, "jobs", cfg(noopUpstream(t), time.Hour, false), true)

	before := time.Now().Add(-time.Second)
	it := mustCreate(t, s, "jobs", "a", `{"n": 1, "s": "x"}`, false)
	if it.ID != "a" || it.Version != 1 || it.Terminal || it.PendingDelete || it.SyncedAt != nil {
		t.Fatalf("created item: %+v synced %v", *it.Record, it.SyncedAt)
	}
	if !jsonEqual(it.Data, []byte(`{"s":"x","n":1}`)) {
		t.Fatalf("data: %s", it.Data)
	}
	if it.CreatedAt.Before(before) || !it.CreatedAt.Equal(it.UpdatedAt) {
		t.Fatalf("times: created %v updated %v", it.CreatedAt, it.UpdatedAt)
	}
	got, err := s.GetItem(ctx, "jobs", "a")
	if err != nil {
		t.Fatal(err)
	}
	sameItem(t, "GetItem", got, it)

	// GetOrCreate: the existing item comes back unchanged.
	again, created, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "a", Data: json.RawMessage(`{"n": 2}`), Terminal: true})
	if err != nil || created {
		t.Fatalf("second create: created %v, %v", created, err)
	}
	sameItem(t, "second create", again, it)

	// No data is JSON null; terminal items are kept.
	nd := mustCreate(t, s, "jobs", "nodata", ``, true)
	if !jsonEqual(nd.Data, []byte("null")) || !nd.Terminal {
		t.Fatalf("item without data: %+v", *nd.Record)
	}

	_, err = s.GetItem(ctx, "jobs", "missing")
	wantCode(t, "GetItem of a missing item", err, errs.NotFound)
	_, err = s.GetItem(ctx, "nocache", "a")
	wantCode(t, "GetItem in a missing cache", err, errs.NotFound)
	_, _, err = s.CreateItem(ctx, "nocache", autorefresh.NewItem{ID: "a", Data: nil, Terminal: false})
	wantCode(t, "CreateItem in a missing cache", err, errs.NotFound)
	_, err = s.DeleteItem(ctx, "jobs", "missing")
	wantCode(t, "DeleteItem of a missing item", err, errs.NotFound)
	for _, id := range []string{"", ".", "..", "a/b", "a b", string(make([]byte, 257))} {
		_, _, err = s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: id, Data: nil, Terminal: false})
		wantCode(t, fmt.Sprintf("CreateItem with id %q", id), err, errs.Invalid)
	}

	in, err := s.Info(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if in.Name != "jobs" || in.Stats.Size != 2 {
		t.Fatalf("Info: name %q size %d", in.Name, in.Stats.Size)
	}
}

func testAtomicCreate(t *testing.T, f Factory) {
	s, _ := open1(t, f, Limits{})
	mustPut(t, s, "jobs", cfg(noopUpstream(t), time.Hour, false), true)
	const n = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		items   []autorefresh.Item
		errList []error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			it, c, err := s.CreateItem(context.Background(), "jobs", autorefresh.NewItem{ID: "same", Data: json.RawMessage(fmt.Sprintf(`{"writer": %d}`, i)), Terminal: false})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errList = append(errList, err)
				return
			}
			if c {
				created++
			}
			items = append(items, it)
		}()
	}
	close(start)
	wg.Wait()
	if len(errList) > 0 {
		t.Fatalf("concurrent creates failed: %v", errList)
	}
	if created != 1 {
		t.Fatalf("%d of %d concurrent creates of one id created it, want exactly 1", created, n)
	}
	for _, it := range items[1:] {
		if !jsonEqual(it.Data, items[0].Data) || it.Version != 1 {
			t.Fatalf("creates saw different items: %s vs %s", it.Data, items[0].Data)
		}
	}
}

func testDeleteDelayedPending(t *testing.T, f Factory) {
	s, _ := open1(t, f, Limits{})
	ctx := ctxT(t)
	// An hour between cycles: the deletion stays pending for the test.
	mustPut(t, s, "jobs", cfg(noopUpstream(t), time.Hour, false), true)
	it := mustCreate(t, s, "jobs", "a", `{"n": 1}`, false)
	del, err := s.DeleteItem(ctx, "jobs", "a")
	if err != nil {
		t.Fatal(err)
	}
	want := it
	want.PendingDelete = true
	sameItem(t, "DeleteItem's item", del, want)
	got, err := s.GetItem(ctx, "jobs", "a")
	if err != nil {
		t.Fatalf("GetItem of a pending delete: %v", err)
	}
	sameItem(t, "GetItem of a pending delete", got, want)
	// GetOrCreate returns the marked item; it does not bring it back.
	again, created, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "a", Data: json.RawMessage(`{"n": 2}`), Terminal: false})
	if err != nil || created {
		t.Fatalf("create of a pending delete: created %v, %v", created, err)
	}
	sameItem(t, "create of a pending delete", again, want)
	// Deleting again is fine.
	if _, err := s.DeleteItem(ctx, "jobs", "a"); err != nil {
		t.Fatalf("second DeleteItem: %v", err)
	}
}

func testDeleteDelayedRemoved(t *testing.T, f Factory) {
	s, _ := open1(t, f, Limits{})
	ctx := ctxT(t)
	mustPut(t, s, "jobs", cfg(noopUpstream(t), 50*time.Millisecond, false), true)
	mustCreate(t, s, "jobs", "a", `{}`, false)
	mustCreate(t, s, "jobs", "done", `{}`, true)
	mustCreate(t, s, "jobs", "keep", `{}`, false)
	for _, id := range []string{"a", "done"} {
		del, err := s.DeleteItem(ctx, "jobs", id)
		if err != nil {
			t.Fatal(err)
		}
		if !del.PendingDelete {
			t.Fatalf("DeleteItem %s: not pending", id)
		}
	}
	for _, id := range []string{"a", "done"} {
		waitFor(t, "the cycle to remove "+id, 10*time.Second, func() bool {
			_, err := s.GetItem(ctx, "jobs", id)
			return errs.CodeOf(err) == errs.NotFound
		})
	}
	if _, err := s.GetItem(ctx, "jobs", "keep"); err != nil {
		t.Fatalf("an item not deleted went too: %v", err)
	}
	// Once removed, the id is free again.
	if it := mustCreate(t, s, "jobs", "a", `{"again": true}`, false); it.Version != 1 || it.PendingDelete {
		t.Fatalf("recreated: %+v", it)
	}
	waitFor(t, "the deletion counted", 10*time.Second, func() bool {
		in, err := s.Info(ctx, "jobs")
		return err == nil && in.Stats.Deletions == 2
	})
}

func testListPaging(t *testing.T, f Factory) {
	s, _ := open1(t, f, Limits{})
	ctx := ctxT(t)
	mustPut(t, s, "jobs", cfg(noopUpstream(t), time.Hour, false), true)
	var all, terminal []string
	for i := range 25 {
		id := fmt.Sprintf("item-%02d", i)
		term := i%3 == 0
		mustCreate(t, s, "jobs", id, fmt.Sprintf(`{"i": %d}`, i), term)
		all = append(all, id)
		if term {
			terminal = append(terminal, id)
		}
	}
	// Ids that sort differently under a linguistic collation than bytewise.
	for _, id := range []string{"B", "a", "_x", "~z", "Item-1"} {
		mustCreate(t, s, "jobs", id, `null`, false)
		all = append(all, id)
	}
	sort.Strings(all)
	page := func(cursor string, limit int, term *bool) ([]string, string) {
		t.Helper()
		items, next, err := s.ListItems(ctx, "jobs", cursor, limit, autorefresh.Filter{Terminal: term})
		if err != nil {
			t.Fatalf("ListItems(%q, %d): %v", cursor, limit, err)
		}
		ids := make([]string, len(items))
		for i, it := range items {
			ids[i] = it.ID
			if term != nil && it.Terminal != *term {
				t.Fatalf("terminal filter %v let %s (terminal %v) through", *term, it.ID, it.Terminal)
			}
		}
		return ids, next
	}
	collect := func(limit int, term *bool) []string {
		var out []string
		cursor := ""
		for range 100 {
			ids, next := page(cursor, limit, term)
			if len(ids) > limit {
				t.Fatalf("page of %d for limit %d", len(ids), limit)
			}
			out = append(out, ids...)
			if next == "" {
				return out
			}
			cursor = next
		}
		t.Fatal("paging does not end")
		return nil
	}
	if got := collect(10, nil); !reflect.DeepEqual(got, all) {
		t.Fatalf("pages of 10:\n got %v\nwant %v", got, all)
	}
	first, next := page("", 10, nil)
	if len(first) != 10 || next == "" {
		t.Fatalf("first page: %d items, next %q", len(first), next)
	}
	if got, next := page("", len(all), nil); len(got) != len(all) || next != "" {
		t.Fatalf("one full page: %d items, next %q", len(got), next)
	}
	yes, no := true, false
	if got := collect(3, &yes); !reflect.DeepEqual(got, terminal) {
		t.Fatalf("terminal pages:\n got %v\nwant %v", got, terminal)
	}
	var nonTerminal []string
	for _, id := range all {
		if !contains(terminal, id) {
			nonTerminal = append(nonTerminal, id)
		}
	}
	if got := collect(7, &no); !reflect.DeepEqual(got, nonTerminal) {
		t.Fatalf("non-terminal pages:\n got %v\nwant %v", got, nonTerminal)
	}
	for _, limit := range []int{0, -1, autorefresh.MaxListLimit + 1} {
		_, _, err := s.ListItems(ctx, "jobs", "", limit, autorefresh.Filter{})
		wantCode(t, fmt.Sprintf("limit %d", limit), err, errs.Invalid)
	}
	_, _, err := s.ListItems(ctx, "jobs", "!!not-a-cursor", 10, autorefresh.Filter{})
	wantCode(t, "a bad cursor", err, errs.Invalid)
	_, _, err = s.ListItems(ctx, "nocache", "", 10, autorefresh.Filter{})
	wantCode(t, "a missing cache", err, errs.NotFound)
	mustPut(t, s, "empty", cfg(noopUpstream(t), time.Hour, false), true)
	if items, next, err := s.ListItems(ctx, "empty", "", 10, autorefresh.Filter{}); err != nil || len(items) != 0 || next != "" {
		t.Fatalf("empty cache: %d items, next %q, %v", len(items), next, err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func testPutReplace(t *testing.T, f Factory) {
	s, _ := open1(t, f, Limits{})
	ctx := ctxT(t)
	url := noopUpstream(t)
	c := cfg(url, time.Hour, false)
	c.Webhook.Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	c.Webhook.Headers = map[string]string{"X-Token": "abc123"}
	mustPut(t, s, "jobs", c, true)
	a := mustCreate(t, s, "jobs", "a", `{"n": 1}`, false)
	mustCreate(t, s, "jobs", "b", `{"n": 2}`, true)

	c2 := cfg(url, 2*time.Hour, false)
	c2.Size = 500
	c2.BatchSize = 7
	mustPut(t, s, "jobs", c2, false)
	in, err := s.Info(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(in.Config.ResyncPeriod) != 2*time.Hour || in.Config.Size != 500 || in.Config.BatchSize != 7 {
		t.Fatalf("config not replaced: %+v", in.Config)
	}
	if in.SecretSet || in.Config.Webhook.Secret != "" || len(in.Config.Webhook.Headers) != 0 {
		t.Fatalf("a PUT replaces the whole config, secret and headers too: %+v", in.Config.Webhook)
	}
	if in.Config.Parallelism != autorefresh.DefaultParallelism || in.Config.RateLimit == nil ||
		in.Config.RateLimit.QPS != autorefresh.DefaultQPS || in.Config.SyncOnCreate == nil || *in.Config.SyncOnCreate {
		t.Fatalf("defaults: %+v", in.Config)
	}
	got, err := s.GetItem(ctx, "jobs", "a")
	if err != nil {
		t.Fatalf("item lost by a config change: %v", err)
	}
	sameItem(t, "item after a config change", got, a)
	if in.Stats.Size != 2 {
		t.Fatalf("size after a config change: %d", in.Stats.Size)
	}

	// Secrets and header values never come back.
	mustPut(t, s, "jobs", c, false)
	in, err = s.Info(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if !in.SecretSet || in.Config.Webhook.Secret != "" || in.Config.Webhook.Headers["X-Token"] != autorefresh.RedactedValue {
		t.Fatalf("redaction: secretSet %v, webhook %+v", in.SecretSet, in.Config.Webhook)
	}

	mustPut(t, s, "alpha", cfg(url, time.Hour, false), true)
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "alpha" || list[1].Name != "jobs" {
		t.Fatalf("List: %+v", list)
	}
	if list[1].Config.Webhook.Secret != "" || list[1].Config.Webhook.Headers["X-Token"] != autorefresh.RedactedValue {
		t.Fatalf("List leaks the webhook: %+v", list[1].Config.Webhook)
	}
}

func testDeleteCache(t *testing.T, f Factory) {
	s, _ := open1(t, f, Limits{})
	ctx := ctxT(t)
	url := noopUpstream(t)
	mustPut(t, s, "jobs", cfg(url, time.Hour, false), true)
	mustCreate(t, s, "jobs", "a", `{}`, false)
	if err := s.Delete(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Info(ctx, "jobs")
	wantCode(t, "Info of a deleted cache", err, errs.NotFound)
	_, err = s.GetItem(ctx, "jobs", "a")
	wantCode(t, "GetItem in a deleted cache", err, errs.NotFound)
	wantCode(t, "second Delete", s.Delete(ctx, "jobs"), errs.NotFound)
	wantCode(t, "Sync of a deleted cache", s.Sync(ctx, "jobs"), errs.NotFound)
	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("List after delete: %v, %v", list, err)
	}
	// Registered again, it starts empty.
	mustPut(t, s, "jobs", cfg(url, time.Hour, false), true)
	_, err = s.GetItem(ctx, "jobs", "a")
	wantCode(t, "an item of the cache's previous life", err, errs.NotFound)
	mustCreate(t, s, "jobs", "a", `{}`, false)
}

func testCapacity(t *testing.T, f Factory) {
	s, _ := open1(t, f, Limits{MaxCaches: 2, MaxItems: 3})
	ctx := ctxT(t)
	url := noopUpstream(t)
	mustPut(t, s, "a", cfg(url, time.Hour, false), true)
	mustPut(t, s, "b", cfg(url, time.Hour, false), true)
	_, err := s.Put(ctx, "c", cfg(url, time.Hour, false))
	wantCode(t, "a cache past MaxCaches", err, errs.Capacity)
	// Replacing an existing cache's config is not a new cache.
	mustPut(t, s, "b", cfg(url, 2*time.Hour, false), false)

	mustCreate(t, s, "a", "1", `{}`, false)
	mustCreate(t, s, "a", "2", `{}`, false)
	mustCreate(t, s, "b", "1", `{}`, false)
	_, _, err = s.CreateItem(ctx, "b", autorefresh.NewItem{ID: "2", Data: nil, Terminal: false})
	wantCode(t, "an item past MaxItems", err, errs.Capacity)
	// An existing item is still returned.
	if _, created, err := s.CreateItem(ctx, "a", autorefresh.NewItem{ID: "1", Data: nil, Terminal: false}); err != nil || created {
		t.Fatalf("GetOrCreate of an existing item at capacity: created %v, %v", created, err)
	}
	// Deleting a cache frees its room.
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "c", cfg(url, time.Hour, false), true)
	waitFor(t, "room for an item after a delete", 10*time.Second, func() bool {
		_, created, err := s.CreateItem(ctx, "b", autorefresh.NewItem{ID: "2", Data: nil, Terminal: false})
		return err == nil && created
	})
}

// exampleUpstream serves the example upstream (Not-started, Started,
// Completed) on loopback and returns it with its base URL.
func exampleUpstream(t *testing.T) (*exampleupstream.Upstream, string) {
	up, err := exampleupstream.New(exampleupstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	return up, srv.URL
}

func testSync(t *testing.T, f Factory) {
	_, srvURL := exampleUpstream(t)
	s, _ := open1(t, f, Limits{})
	ctx := ctxT(t)
	// syncOnCreate: the first sync comes at once; the next an hour later,
	// unless asked for.
	mustPut(t, s, "jobs", cfg(srvURL+"/sync", time.Hour, true), true)
	it := mustCreate(t, s, "jobs", "a", `{"status": "Not-started"}`, false)
	var got autorefresh.Item
	var err error
	waitFor(t, "the sync on create", 10*time.Second, func() bool {
		got, err = s.GetItem(ctx, "jobs", "a")
		return err == nil && got.Version == 2
	})
	waitSettled(t, s, "jobs")
	if got.SyncedAt == nil || got.Terminal || !jsonEqual(got.Data, []byte(`{"status": "Started"}`)) ||
		!got.CreatedAt.Equal(it.CreatedAt) || got.UpdatedAt.Before(it.UpdatedAt) {
		t.Fatalf("after the first sync: %+v synced %v", *got.Record, got.SyncedAt)
	}
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sync asked for", 10*time.Second, func() bool {
		got, err = s.GetItem(ctx, "jobs", "a")
		return err == nil && got.Version == 3
	})
	if !got.Terminal || !jsonEqual(got.Data, []byte(`{"status": "Completed"}`)) {
		t.Fatalf("after the second sync: %+v", *got.Record)
	}
	// That terminal items are not sent again is TerminalItemsNeverSent.
	waitFor(t, "the sync counted", 10*time.Second, func() bool {
		in, err := s.Info(ctx, "jobs")
		return err == nil && in.Stats.Syncs >= 2 && !in.Stats.LastSyncAt.IsZero()
	})
}

func testRestart(t *testing.T, f Factory) {
	o := f(t, Limits{})
	s, stop := o(t)
	ctx := ctxT(t)
	url := noopUpstream(t)
	c := cfg(url, time.Hour, false)
	c.Webhook.Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	c.Webhook.Headers = map[string]string{"X-Token": "abc123"}
	c.Size = 50
	mustPut(t, s, "jobs", c, true)
	mustPut(t, s, "other", cfg(url, 2*time.Hour, false), true)
	items := map[string]autorefresh.Item{}
	for _, x := range []struct {
		id, data string
		term     bool
	}{{"a", `{"n": 1}`, false}, {"b", `null`, false}, {"done", `{"s": "ok"}`, true}} {
		items[x.id] = mustCreate(t, s, "jobs", x.id, x.data, x.term)
	}
	del, err := s.DeleteItem(ctx, "jobs", "b")
	if err != nil {
		t.Fatal(err)
	}
	items["b"] = del
	infoBefore, err := s.Info(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	stop()

	s, stop = o(t)
	t.Cleanup(stop)
	infoAfter, err := s.Info(ctx, "jobs")
	if err != nil {
		t.Fatalf("cache lost by the restart: %v", err)
	}
	if !reflect.DeepEqual(infoAfter.Config, infoBefore.Config) || !infoAfter.SecretSet {
		t.Fatalf("config after the restart:\n got %+v\nwant %+v", infoAfter.Config, infoBefore.Config)
	}
	if _, err := s.Info(ctx, "other"); err != nil {
		t.Fatalf("second cache lost: %v", err)
	}
	for id, want := range items {
		got, err := s.GetItem(ctx, "jobs", id)
		if err != nil {
			t.Fatalf("item %s lost by the restart: %v", id, err)
		}
		sameItem(t, "item "+id+" after the restart", got, want)
	}
	// The restarted service works: creates, and knows what exists.
	mustCreate(t, s, "jobs", "new", `{}`, false)
	if _, created, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "a", Data: nil, Terminal: false}); err != nil || created {
		t.Fatalf("an item from before the restart was created again: %v, %v", created, err)
	}
}

func testInvalid(t *testing.T, f Factory) {
	s, _ := open1(t, f, Limits{})
	ctx := ctxT(t)
	url := noopUpstream(t)
	bad := []struct {
		name string
		c    autorefresh.Config
	}{
		{"Bad_Name", cfg(url, time.Hour, false)},
		{"jobs", autorefresh.Config{Webhook: autorefresh.Webhook{URL: url}}}, // no resyncPeriod
		{"jobs", cfg("ftp://127.0.0.1/x", time.Hour, false)},
		{"jobs", cfg("http://10.1.2.3/x", time.Hour, false)}, // private, not allowed
		{"jobs", func() autorefresh.Config { c := cfg(url, time.Hour, false); c.BatchSize = -1; return c }()},
	}
	for i, b := range bad {
		_, err := s.Put(ctx, b.name, b.c)
		wantCode(t, fmt.Sprintf("bad config %d", i), err, errs.Invalid)
	}
	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("a refused config was registered: %v, %v", list, err)
	}
}
