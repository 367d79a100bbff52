package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/client"
)

// The parts of the client that the server on this branch answers, against
// the real server.

func newReal(t *testing.T, o serverOptions) *realServer {
	t.Helper()
	s, err := startServer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testCtx is a context that ends with the test, bounded so that a hang
// fails instead of waiting for the test binary's timeout.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func putJobs(t *testing.T, c *client.Client, s *realServer, name string) {
	t.Helper()
	_, created, err := c.PutCache(testCtx(t), name, client.CacheConfig{
		Webhook: client.WebhookConfig{URL: s.UpstreamURL}, ResyncPeriod: client.Duration(50 * time.Millisecond),
	})
	if err != nil || !created {
		t.Fatalf("PutCache: created %v, err %v", created, err)
	}
}

func TestCachesRealServer(t *testing.T) {
	s := newReal(t, serverOptions{})
	c := newClient(t, s.URL)
	ctx := testCtx(t)

	no := false
	cfg := client.CacheConfig{
		Webhook:      client.WebhookConfig{URL: s.UpstreamURL, Headers: map[string]string{"Authorization": "Bearer x"}},
		ResyncPeriod: client.Duration(time.Minute), Size: 10, SyncOnCreate: &no,
	}
	got, created, err := c.PutCache(ctx, "jobs", cfg)
	if err != nil || !created {
		t.Fatalf("PutCache: created %v, err %v", created, err)
	}
	if got.Name != "jobs" || got.Size != 10 || got.SyncOnCreate || got.BatchSize != 100 || got.Webhook.Headers["Authorization"] != "***" {
		t.Errorf("PutCache returned %+v", got)
	}
	if _, created, err := c.PutCache(ctx, "jobs", cfg); err != nil || created {
		t.Errorf("second PutCache: created %v, err %v; want a replacement", created, err)
	}
	if got, err := c.GetCache(ctx, "jobs"); err != nil || time.Duration(got.ResyncPeriod) != time.Minute || got.Stats.LastSyncAt != nil {
		t.Errorf("GetCache: %+v, %v", got, err)
	}
	if _, _, err := c.PutCache(ctx, "other", cfg); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListCaches(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "jobs" || list[1].Name != "other" {
		t.Errorf("ListCaches: %+v, %v", list, err)
	}
	if err := c.SyncCache(ctx, "jobs"); err != nil {
		t.Errorf("SyncCache: %v", err)
	}
	if err := c.DeleteCache(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetCache(ctx, "jobs")
	var apiErr *client.APIError
	if !client.IsNotFound(err) || !errors.As(err, &apiErr) || apiErr.Status != 404 || apiErr.RequestID == "" {
		t.Errorf("GetCache of a deleted cache: %v (%#v)", err, apiErr)
	}

	_, _, err = c.PutCache(ctx, "bad", client.CacheConfig{Webhook: client.WebhookConfig{URL: "ftp://x"}, ResyncPeriod: client.Duration(time.Second)})
	if !errors.Is(err, client.ErrInvalid) {
		t.Errorf("PutCache with an ftp URL: %v, want INVALID", err)
	}
}

func TestItemsRealServer(t *testing.T) {
	s := newReal(t, serverOptions{})
	c := newClient(t, s.URL)
	ctx := testCtx(t)
	putJobs(t, c, s, "jobs")

	it, created, err := c.CreateItem(ctx, "jobs", client.CreateItem{ID: "job1", Data: json.RawMessage(`{"status":"Not-started"}`)})
	if err != nil || !created || it.Version != 1 || it.ID != "job1" {
		t.Fatalf("CreateItem: %+v, %v, %v", it, created, err)
	}
	again, created, err := c.CreateItem(ctx, "jobs", client.CreateItem{ID: "job1", Data: json.RawMessage(`"ignored"`)})
	if err != nil || created || string(again.Data) == `"ignored"` {
		t.Errorf("second CreateItem: %+v, created %v, %v; want the existing item", again, created, err)
	}

	// The example upstream completes the item in two syncs.
	done, err := c.WaitTerminal(ctx, "jobs", "job1")
	if err != nil || !done.Terminal || done.Version != 3 || done.SyncedAt == nil {
		t.Fatalf("WaitTerminal: %+v, %v", done, err)
	}
	var data struct{ Status string }
	if err := json.Unmarshal(done.Data, &data); err != nil || data.Status != "Completed" {
		t.Errorf("data %s", done.Data)
	}
	// Unchanged since version 3: this server has no ETags, the client
	// compares versions.
	if _, changed, err := c.GetItemIfChanged(ctx, "jobs", "job1", done.Version); err != nil || changed {
		t.Errorf("GetItemIfChanged at the current version: changed %v, %v", changed, err)
	}
	if got, changed, err := c.GetItemIfChanged(ctx, "jobs", "job1", 1); err != nil || !changed || got.Version != 3 {
		t.Errorf("GetItemIfChanged at version 1: %+v, changed %v, %v", got, changed, err)
	}

	del, err := c.DeleteItem(ctx, "jobs", "job1")
	if err != nil || !del.PendingDelete {
		t.Fatalf("DeleteItem: %+v, %v", del, err)
	}
	if err := c.SyncCache(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	// The long-poll ends when the sync cycle removes the item.
	_, err = c.LongPoll(ctx, "jobs", "job1", client.LongPollOptions{Version: del.Version, Timeout: 20 * time.Second})
	if !client.IsNotFound(err) {
		t.Errorf("LongPoll on a removed item: %v, want NOT_FOUND", err)
	}
	if _, err := c.GetItem(ctx, "jobs", "job1"); !client.IsNotFound(err) {
		t.Errorf("GetItem after removal: %v", err)
	}
	if _, err := c.GetItem(ctx, "nope", "job1"); !client.IsNotFound(err) {
		t.Errorf("GetItem in a missing cache: %v", err)
	}
}

func TestLongPollRealServer(t *testing.T) {
	s := newReal(t, serverOptions{})
	c := newClient(t, s.URL)
	ctx := testCtx(t)
	no := false
	if _, _, err := c.PutCache(ctx, "jobs", client.CacheConfig{Webhook: client.WebhookConfig{URL: s.UpstreamURL}, ResyncPeriod: client.Duration(time.Hour), SyncOnCreate: &no}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateItem(ctx, "jobs", client.CreateItem{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	// Nothing syncs for an hour: the poll times out with the item as is.
	it, err := c.LongPoll(ctx, "jobs", "a", client.LongPollOptions{Version: 1, Timeout: 10 * time.Millisecond})
	if err != nil || it.Version != 1 {
		t.Fatalf("timed-out LongPoll: %+v, %v", it, err)
	}
	// A sync in the middle of the poll ends it with the new version.
	polled := make(chan client.Item, 1)
	go func() {
		it, err := c.LongPoll(ctx, "jobs", "a", client.LongPollOptions{Version: 1, Timeout: 20 * time.Second})
		if err != nil {
			t.Error(err)
		}
		polled <- it
	}()
	if err := c.SyncCache(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	// The poll may have started after the sync: it then answers at once.
	if it := <-polled; it.Version < 2 {
		t.Errorf("LongPoll answered version %d", it.Version)
	}
}

func TestItemsIteratorRealServer(t *testing.T) {
	s := newReal(t, serverOptions{})
	c := newClient(t, s.URL)
	ctx := testCtx(t)
	no := false
	if _, _, err := c.PutCache(ctx, "jobs", client.CacheConfig{Webhook: client.WebhookConfig{URL: s.UpstreamURL}, ResyncPeriod: client.Duration(time.Hour), SyncOnCreate: &no}); err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		if _, _, err := c.CreateItem(ctx, "jobs", client.CreateItem{ID: fmt.Sprintf("item%02d", i), Terminal: i%5 == 0}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for it, err := range c.Items(ctx, "jobs", client.ListOptions{Limit: 7}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, it.ID)
	}
	if len(ids) != 25 || ids[0] != "item00" || ids[24] != "item24" {
		t.Errorf("Items walked %v", ids)
	}
	yes := true
	n := 0
	for it, err := range c.Items(ctx, "jobs", client.ListOptions{Limit: 2, Terminal: &yes}) {
		if err != nil || !it.Terminal {
			t.Fatalf("%+v, %v", it, err)
		}
		n++
	}
	if n != 5 {
		t.Errorf("%d terminal items, want 5", n)
	}
	// Breaking out stops the walk.
	n = 0
	for range c.Items(ctx, "jobs", client.ListOptions{Limit: 3}) {
		if n++; n == 4 {
			break
		}
	}
	page, err := c.ListItems(ctx, "jobs", client.ListOptions{Limit: 30})
	if err != nil || len(page.Items) != 25 || page.NextCursor != "" {
		t.Errorf("one big page: %d items, cursor %q, %v", len(page.Items), page.NextCursor, err)
	}
	for _, err := range c.Items(ctx, "missing", client.ListOptions{}) {
		if !client.IsNotFound(err) {
			t.Errorf("Items of a missing cache: %v", err)
		}
	}
}

func TestWatchRealServer(t *testing.T) {
	s := newReal(t, serverOptions{})
	c := newClient(t, s.URL)
	ctx := testCtx(t)
	no := false
	if _, _, err := c.PutCache(ctx, "jobs", client.CacheConfig{Webhook: client.WebhookConfig{URL: s.UpstreamURL}, ResyncPeriod: client.Duration(time.Hour), SyncOnCreate: &no}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateItem(ctx, "jobs", client.CreateItem{ID: "job1"}); err != nil {
		t.Fatal(err)
	}

	// Resuming after an id the server never had starts with lagged: it
	// also says the subscription is in place, so the sync that follows
	// is seen. Each sync moves the item one step.
	var kinds []client.EventKind
	var updatedID string
	for ev, err := range c.Watch(ctx, "jobs", client.WatchOptions{ItemID: "job1", LastEventID: "1"}) {
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, ev.Kind)
		if ev.Kind == client.EventLagged {
			if ev.Message == "" || ev.ID != "" {
				t.Errorf("lagged event %+v", ev)
			}
			if err := c.SyncCache(ctx, "jobs"); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if ev.Item == nil || ev.ItemID != "job1" || ev.Item.ID != "job1" || ev.ID == "" {
			t.Fatalf("event %+v", ev)
		}
		updatedID = ev.ID
		break
	}
	if fmt.Sprint(kinds) != "[lagged updated]" {
		t.Fatalf("events %v, want [lagged updated]", kinds)
	}

	// What happens while nobody watches is replayed to a watch that
	// resumes after the last event it saw.
	if err := c.SyncCache(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitTerminal(ctx, "jobs", "job1"); err != nil {
		t.Fatal(err)
	}
	for ev, err := range c.Watch(ctx, "jobs", client.WatchOptions{LastEventID: updatedID}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind != client.EventTerminal || !ev.Item.Terminal || ev.Item.Version != 3 {
			t.Errorf("replayed %+v, want the terminal event", ev)
		}
		break
	}

	// Deleting the cache ends the stream, and the reconnection's 404 ends
	// the watch.
	var last error
	for ev, err := range c.Watch(ctx, "jobs", client.WatchOptions{LastEventID: "1", ReconnectDelay: time.Millisecond}) {
		if ev.Kind == client.EventLagged {
			if err := c.DeleteCache(ctx, "jobs"); err != nil {
				t.Fatal(err)
			}
		}
		last = err
	}
	if !client.IsNotFound(last) {
		t.Errorf("the watch of a deleted cache ended with %v, want NOT_FOUND", last)
	}
}

func TestAutoRefreshRealServer(t *testing.T) {
	s := newReal(t, serverOptions{})
	c := newClient(t, s.URL)
	ctx, cancel := context.WithCancel(testCtx(t))
	cfg := &client.CacheConfig{Webhook: client.WebhookConfig{URL: s.UpstreamURL}, ResyncPeriod: client.Duration(50 * time.Millisecond)}
	ar := client.NewAutoRefresh(c, "jobs", cfg)
	if err := ar.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetCache(ctx, "jobs"); err != nil {
		t.Fatalf("Start did not register the cache: %v", err)
	}
	it, err := ar.GetOrCreate("item1", client.Item{Data: json.RawMessage(`{"status":"Not-started"}`)})
	if err != nil || it.ID != "item1" {
		t.Fatalf("GetOrCreate: %+v, %v", it, err)
	}
	if _, err := c.WaitTerminal(ctx, "jobs", "item1"); err != nil {
		t.Fatal(err)
	}
	got, err := ar.Get("item1")
	if err != nil || !got.IsTerminal() || string(got.Data) != `{"status":"Completed"}` {
		t.Fatalf("Get: %+v, %v", got, err)
	}
	if _, err := ar.Get("item2"); !client.IsNotFound(err) {
		t.Errorf("Get of a missing item: %v", err)
	}
	if err := ar.DeleteDelayed("item1"); err != nil {
		t.Fatal(err)
	}
	if got, err := ar.Get("item1"); err != nil || !got.PendingDelete {
		t.Errorf("Get after DeleteDelayed: %+v, %v", got, err)
	}
	// The context given to Start bounds every call.
	cancel()
	if _, err := ar.Get("item1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get after the context ended: %v", err)
	}
}

func TestTokensRealServer(t *testing.T) {
	const reader, writer = "read-token-0123456789", "write-token-0123456789"
	s := newReal(t, serverOptions{tokens: "read " + reader + "\nwrite " + writer + "\n"})
	ctx := testCtx(t)
	cfg := client.CacheConfig{Webhook: client.WebhookConfig{URL: s.UpstreamURL}, ResyncPeriod: client.Duration(time.Hour)}
	if _, err := newClient(t, s.URL).ListCaches(ctx); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("no token: %v", err)
	}
	if _, _, err := newClient(t, s.URL, client.WithToken(reader)).PutCache(ctx, "jobs", cfg); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("read token writing: %v", err)
	}
	if _, _, err := newClient(t, s.URL, client.WithToken(writer), client.WithUserAgent("test/1")).PutCache(ctx, "jobs", cfg); err != nil {
		t.Errorf("write token: %v", err)
	}
	if _, err := newClient(t, s.URL, client.WithToken(reader)).GetCache(ctx, "jobs"); err != nil {
		t.Errorf("read token reading: %v", err)
	}
}
