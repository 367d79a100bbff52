package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/autorefresh/autorefresh/client"
)

// exampleServer starts a real in-memory server with the example upstream
// and registers the cache "jobs" on it (resync every 50ms, so items
// complete quickly). Stop it with the returned function.
func exampleServer() (*client.Client, func()) {
	s, err := startServer(serverOptions{})
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.New(s.URL)
	if err != nil {
		log.Fatal(err)
	}
	cfg := client.CacheConfig{Webhook: client.WebhookConfig{URL: s.UpstreamURL}, ResyncPeriod: client.Duration(50 * time.Millisecond)}
	if _, _, err := c.PutCache(context.Background(), "jobs", cfg); err != nil {
		log.Fatal(err)
	}
	return c, s.Close
}

// exampleFake starts the fake of issue 15's routes, with the cache "jobs".
func exampleFake() (*client.Client, *fake) {
	f := newFake()
	c, err := client.New(f.srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	return c, f
}

func ExampleNew() {
	c, err := client.New("http://127.0.0.1:8080",
		client.WithToken("a-write-token-from-the-tokens-file"),
		client.WithUserAgent("my-service/1.0"),
		client.WithRetry(client.RetryPolicy{MaxAttempts: 5, BaseDelay: 100 * time.Millisecond, MaxDelay: 10 * time.Second}),
		client.WithHTTPClient(&http.Client{Transport: http.DefaultTransport}),
	)
	fmt.Println(c != nil, err)
	// Output: true <nil>
}

func ExampleWithToken() {
	c, _ := client.New("http://127.0.0.1:8080", client.WithToken("read-token-0123456789"))
	_ = c // every request now carries "Authorization: Bearer read-token-0123456789"
}

func ExampleWithHTTPClient() {
	// No overall Timeout: Watch and LongPoll hold requests open, and every
	// call is bounded by its context instead.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	c, _ := client.New("https://autorefresh.internal", client.WithHTTPClient(hc))
	_ = c
}

func ExampleWithRetry() {
	// Fail fast: one try, no retries.
	c, _ := client.New("http://127.0.0.1:8080", client.WithRetry(client.NoRetry()))
	_ = c
}

func ExampleWithUserAgent() {
	c, _ := client.New("http://127.0.0.1:8080", client.WithUserAgent("billing-worker/2.3"))
	_ = c
}

func ExampleDefaultRetryPolicy() {
	p := client.DefaultRetryPolicy()
	fmt.Println(p.MaxAttempts, p.BaseDelay, p.MaxDelay)
	// Output: 4 200ms 30s
}

func ExampleNoRetry() {
	fmt.Println(client.NoRetry().MaxAttempts)
	// Output: 1
}

func ExampleClient_PutCache() {
	c, stop := exampleServer()
	defer stop()
	no := false
	cache, created, err := c.PutCache(context.Background(), "orders", client.CacheConfig{
		Webhook:      client.WebhookConfig{URL: "http://127.0.0.1:9000/sync", Timeout: client.Duration(5 * time.Second)},
		ResyncPeriod: client.Duration(30 * time.Second),
		SyncOnCreate: &no,
		// Retry: &client.RetryConfig{MaxAttempts: 10} gives items up after
		// 10 failed syncs in a row, on a server that has item states.
	})
	fmt.Println(cache.Name, created, cache.BatchSize, err)
	// Output: orders true 100 <nil>
}

func ExampleClient_GetCache() {
	c, stop := exampleServer()
	defer stop()
	cache, err := c.GetCache(context.Background(), "jobs")
	fmt.Println(cache.Name, cache.ResyncPeriod, cache.Parallelism, err)
	_, err = c.GetCache(context.Background(), "nope")
	fmt.Println(client.IsNotFound(err))
	// Output:
	// jobs 50ms 10 <nil>
	// true
}

func ExampleClient_ListCaches() {
	c, stop := exampleServer()
	defer stop()
	caches, err := c.ListCaches(context.Background())
	for _, cache := range caches {
		fmt.Println(cache.Name, cache.Stats.Size)
	}
	fmt.Println(err)
	// Output:
	// jobs 0
	// <nil>
}

func ExampleClient_DeleteCache() {
	c, stop := exampleServer()
	defer stop()
	fmt.Println(c.DeleteCache(context.Background(), "jobs"))
	fmt.Println(client.IsNotFound(c.DeleteCache(context.Background(), "jobs")))
	// Output:
	// <nil>
	// true
}

func ExampleClient_SyncCache() {
	c, stop := exampleServer()
	defer stop()
	fmt.Println(c.SyncCache(context.Background(), "jobs"))
	// Output: <nil>
}

func ExampleClient_PauseCache() {
	c, f := exampleFake()
	defer f.Close()
	cache, err := c.PauseCache(context.Background(), "jobs")
	fmt.Println(cache.Paused, err)
	// Output: true <nil>
}

func ExampleClient_ResumeCache() {
	c, f := exampleFake()
	defer f.Close()
	cache, err := c.ResumeCache(context.Background(), "jobs")
	fmt.Println(cache.Paused, err)
	// Output: false <nil>
}

func ExampleClient_CreateItem() {
	c, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	it, created, err := c.CreateItem(ctx, "jobs", client.CreateItem{ID: "job1", Data: json.RawMessage(`{"status":"Not-started"}`)})
	fmt.Println(it.ID, it.Version, created, err)
	// Creating again returns the existing item: safe to retry.
	_, created, _ = c.CreateItem(ctx, "jobs", client.CreateItem{ID: "job1"})
	fmt.Println(created)
	// Output:
	// job1 1 true <nil>
	// false
}

func ExampleClient_CreateItems() {
	c, f := exampleFake()
	defer f.Close()
	res, err := c.CreateItems(context.Background(), "jobs", []client.CreateItem{{ID: "a"}, {ID: "b", Terminal: true}, {ID: "."}})
	for _, r := range res {
		if r.Error != nil {
			fmt.Println(r.ID, r.Error.Code)
			continue
		}
		fmt.Println(r.ID, r.Created, r.Item.State)
	}
	fmt.Println(err)
	// Output:
	// a true active
	// b true completed
	// . INVALID
	// <nil>
}

func ExampleClient_GetItem() {
	c, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	_, err := c.GetItem(ctx, "jobs", "job1")
	fmt.Println(client.IsNotFound(err))
	c.CreateItem(ctx, "jobs", client.CreateItem{ID: "job1", Data: json.RawMessage(`{"status":"Not-started"}`)})
	it, err := c.GetItem(ctx, "jobs", "job1")
	fmt.Println(it.ID, err)
	// Output:
	// true
	// job1 <nil>
}

func ExampleClient_GetItemIfChanged() {
	c, f := exampleFake()
	defer f.Close()
	ctx := context.Background()
	it, _, _ := c.CreateItem(ctx, "jobs", client.CreateItem{ID: "a"})
	_, changed, err := c.GetItemIfChanged(ctx, "jobs", "a", it.Version)
	fmt.Println(changed, err)
	// Output: false <nil>
}

func ExampleClient_DeleteItem() {
	c, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c.CreateItem(ctx, "jobs", client.CreateItem{ID: "job1"})
	it, err := c.DeleteItem(ctx, "jobs", "job1")
	fmt.Println(it.PendingDelete, err)
	// Output: true <nil>
}

func ExampleClient_PatchItem() {
	c, f := exampleFake()
	defer f.Close()
	ctx := context.Background()
	it, _, _ := c.CreateItem(ctx, "jobs", client.CreateItem{ID: "a", Data: json.RawMessage(`{"n":1}`)})
	done := true
	it, err := c.PatchItem(ctx, "jobs", "a", client.ItemPatch{Data: json.RawMessage(`{"n":2}`), Terminal: &done}, it.Version)
	fmt.Println(string(it.Data), it.State, err)
	// The version has moved on: a second patch from the old read fails.
	_, err = c.PatchItem(ctx, "jobs", "a", client.ItemPatch{Data: json.RawMessage(`{"n":3}`)}, 1)
	fmt.Println(client.IsPreconditionFailed(err))
	// Output:
	// {"n":2} completed <nil>
	// true
}

func ExampleClient_RetryItem() {
	c, f := exampleFake()
	defer f.Close()
	f.put(fakeItem{ID: "a", Data: json.RawMessage(`null`), Version: 3, Terminal: true, State: "failed", Attempts: 5})
	it, err := c.RetryItem(context.Background(), "jobs", "a", client.Duration(time.Hour))
	fmt.Println(it.State, it.Attempts, it.ExpiresAt != nil, err)
	// Output: active 0 true <nil>
}

func ExampleClient_ListItems() {
	c, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		c.CreateItem(ctx, "jobs", client.CreateItem{ID: id, Terminal: true})
	}
	page, err := c.ListItems(ctx, "jobs", client.ListOptions{Limit: 2})
	fmt.Println(len(page.Items), page.NextCursor != "", err)
	page, err = c.ListItems(ctx, "jobs", client.ListOptions{Limit: 2, Cursor: page.NextCursor})
	fmt.Println(len(page.Items), page.NextCursor != "", err)
	// Output:
	// 2 true <nil>
	// 1 false <nil>
}

func ExampleClient_Items() {
	c, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		c.CreateItem(ctx, "jobs", client.CreateItem{ID: id, Terminal: true})
	}
	for it, err := range c.Items(ctx, "jobs", client.ListOptions{Limit: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(it.ID)
	}
	// Output:
	// a
	// b
	// c
}

func ExampleClient_LongPoll() {
	c, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	it, _, _ := c.CreateItem(ctx, "jobs", client.CreateItem{ID: "job1"})
	// Wait for the first change after version 1 (the first sync).
	for it.Version == 1 {
		var err error
		if it, err = c.LongPoll(ctx, "jobs", "job1", client.LongPollOptions{Version: 1, Timeout: 20 * time.Second}); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(it.Version > 1)
	// Output: true
}

func ExampleClient_WaitTerminal() {
	c, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.CreateItem(ctx, "jobs", client.CreateItem{ID: "job1", Data: json.RawMessage(`{"status":"Not-started"}`)})
	it, err := c.WaitTerminal(ctx, "jobs", "job1")
	fmt.Println(string(it.Data), it.Terminal, err)
	// Output: {"status":"Completed"} true <nil>
}

func ExampleClient_Watch() {
	c, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.CreateItem(ctx, "jobs", client.CreateItem{ID: "job1"})
	// Resuming after an id the server never had starts with a lagged
	// event; a fresh watch would leave LastEventID empty.
	for ev, err := range c.Watch(ctx, "jobs", client.WatchOptions{ItemID: "job1", LastEventID: "1"}) {
		if err != nil {
			log.Fatal(err)
		}
		if ev.Kind == client.EventTerminal {
			fmt.Println(ev.Kind, ev.ItemID, ev.Item.Version)
			break
		}
	}
	// Output: terminal job1 3
}

func ExampleIsNotFound() {
	c, stop := exampleServer()
	defer stop()
	_, err := c.GetItem(context.Background(), "jobs", "missing")
	fmt.Println(client.IsNotFound(err), errors.Is(err, client.ErrNotFound))
	// Output: true true
}

func ExampleIsConflict() {
	c, f := exampleFake()
	defer f.Close()
	c.CreateItem(context.Background(), "jobs", client.CreateItem{ID: "done", Terminal: true})
	_, err := c.RetryItem(context.Background(), "jobs", "done", 0)
	fmt.Println(client.IsConflict(err))
	// Output: true
}

func ExampleIsPreconditionFailed() {
	err := error(&client.APIError{Status: 412, Code: client.CodePreconditionFailed, Message: "stale"})
	fmt.Println(client.IsPreconditionFailed(fmt.Errorf("saving: %w", err)))
	// Output: true
}

func ExampleAPIError() {
	c, stop := exampleServer()
	defer stop()
	_, err := c.GetCache(context.Background(), "nope")
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Status, apiErr.Code, apiErr.Message)
	}
	// Output: 404 NOT_FOUND cache "nope" not found
}

func ExampleAPIError_Is() {
	err := &client.APIError{Status: 503, Code: client.CodeUnavailable, RetryAfter: 5 * time.Second}
	fmt.Println(errors.Is(err, client.ErrUnavailable), errors.Is(err, client.ErrNotFound))
	// Output: true false
}

func ExampleDuration() {
	b, _ := json.Marshal(client.Duration(90 * time.Second))
	var d client.Duration
	err := json.Unmarshal([]byte(`"1h30m"`), &d)
	fmt.Println(string(b), d, err)
	// Output: "1m30s" 1h30m0s <nil>
}

func ExampleItem_IsTerminal() {
	fmt.Println(client.Item{Terminal: true}.IsTerminal())
	// Output: true
}

func ExampleBatchResult() {
	var r client.BatchResult
	_ = json.Unmarshal([]byte(`{"id":"x","error":{"code":"INVALID","message":"id: bad"}}`), &r)
	fmt.Println(r.ID, r.Error.Status, r.Error.Code)
	// Output: x 400 INVALID
}

func ExampleNewAutoRefresh() {
	c, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel() // ends the calls of the cache, as Flyte's Start ends its workers

	cache := client.NewAutoRefresh(c, "jobs", nil)
	if err := cache.Start(ctx); err != nil {
		log.Fatal(err)
	}
	item1, err := cache.GetOrCreate("item1", client.Item{Data: json.RawMessage(`{"status":"Not-started"}`)})
	fmt.Println(item1.ID, item1.IsTerminal(), err)
	// The service refreshes item1 through the cache's webhook.
	if _, err := c.WaitTerminal(ctx, "jobs", "item1"); err != nil {
		log.Fatal(err)
	}
	item, err := cache.Get("item1")
	fmt.Println(string(item.Data), err)
	fmt.Println(cache.DeleteDelayed("item1"))
	// Output:
	// item1 false <nil>
	// {"status":"Completed"} <nil>
	// <nil>
}

func ExampleAutoRefresh_Update() {
	c, f := exampleFake()
	defer f.Close()
	cache := client.NewAutoRefresh(c, "jobs", nil)
	if err := cache.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	it, _ := cache.GetOrCreate("a", client.Item{Data: json.RawMessage(`{"n":1}`)})
	it.Data = json.RawMessage(`{"n":2}`)
	it, err := cache.Update("a", it)
	fmt.Println(string(it.Data), it.Version, err)
	// Output: {"n":2} 2 <nil>
}
