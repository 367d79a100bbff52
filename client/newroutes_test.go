package client_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/client"
)

// Issue 15's routes and fields, against the fake that follows their spec.

func TestPatchItemIfMatch(t *testing.T) {
	f := newFake()
	defer f.Close()
	c := newClient(t, f.srv.URL)
	ctx := testCtx(t)
	it, _, err := c.CreateItem(ctx, "jobs", client.CreateItem{ID: "a", Data: json.RawMessage(`1`)})
	if err != nil || it.State != client.StateActive {
		t.Fatalf("%+v, %v", it, err)
	}
	yes := true
	got, err := c.PatchItem(ctx, "jobs", "a", client.ItemPatch{Data: json.RawMessage(`2`), Terminal: &yes}, it.Version)
	if err != nil || string(got.Data) != "2" || !got.Terminal || got.State != client.StateCompleted || got.Version != 2 {
		t.Fatalf("PatchItem: %+v, %v", got, err)
	}
	// A stale version is refused.
	_, err = c.PatchItem(ctx, "jobs", "a", client.ItemPatch{Data: json.RawMessage(`3`)}, it.Version)
	var apiErr *client.APIError
	if !client.IsPreconditionFailed(err) || !errors.As(err, &apiErr) || apiErr.Status != http.StatusPreconditionFailed {
		t.Errorf("PatchItem at a stale version: %v", err)
	}
	// No version, no If-Match: applied whatever the version.
	if got, err := c.PatchItem(ctx, "jobs", "a", client.ItemPatch{Data: json.RawMessage(`4`)}, 0); err != nil || string(got.Data) != "4" {
		t.Errorf("unconditional PatchItem: %+v, %v", got, err)
	}
}

func TestGetItemIfChangedETag(t *testing.T) {
	f := newFake()
	defer f.Close()
	c := newClient(t, f.srv.URL)
	ctx := testCtx(t)
	if _, _, err := c.CreateItem(ctx, "jobs", client.CreateItem{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, changed, err := c.GetItemIfChanged(ctx, "jobs", "a", 1); err != nil || changed {
		t.Errorf("304: changed %v, %v", changed, err)
	}
	if _, err := c.PatchItem(ctx, "jobs", "a", client.ItemPatch{Data: json.RawMessage(`"x"`)}, 1); err != nil {
		t.Fatal(err)
	}
	if it, changed, err := c.GetItemIfChanged(ctx, "jobs", "a", 1); err != nil || !changed || it.Version != 2 {
		t.Errorf("after a change: %+v, changed %v, %v", it, changed, err)
	}
}

func TestRetryItem(t *testing.T) {
	f := newFake()
	defer f.Close()
	c := newClient(t, f.srv.URL)
	ctx := testCtx(t)
	msg := "webhook answered 502"
	f.put(fakeItem{ID: "bad", Data: json.RawMessage(`null`), Terminal: true, Version: 4, State: "failed", Attempts: 5, LastError: &msg})
	got, err := c.GetItem(ctx, "jobs", "bad")
	if err != nil || got.State != client.StateFailed || got.Attempts != 5 || got.LastError == nil || *got.LastError != msg {
		t.Fatalf("failed item read as %+v, %v", got, err)
	}
	got, err = c.RetryItem(ctx, "jobs", "bad", client.Duration(time.Hour))
	if err != nil || got.State != client.StateActive || got.Terminal || got.Attempts != 0 || got.ExpiresAt == nil || !got.ExpiresAt.Equal(fakeNow().Add(time.Hour)) {
		t.Fatalf("RetryItem: %+v, %v", got, err)
	}
	if _, _, err := c.CreateItem(ctx, "jobs", client.CreateItem{ID: "done", Terminal: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RetryItem(ctx, "jobs", "done", 0); !client.IsConflict(err) {
		t.Errorf("RetryItem of a completed item: %v, want CONFLICT", err)
	}
}

func TestCreateItems(t *testing.T) {
	f := newFake()
	defer f.Close()
	c := newClient(t, f.srv.URL)
	ctx := testCtx(t)
	if _, _, err := c.CreateItem(ctx, "jobs", client.CreateItem{ID: "old"}); err != nil {
		t.Fatal(err)
	}
	res, err := c.CreateItems(ctx, "jobs", []client.CreateItem{{ID: "new", Data: json.RawMessage(`{"a":1}`)}, {ID: "old"}, {ID: "."}})
	if err != nil || len(res) != 3 {
		t.Fatalf("CreateItems: %+v, %v", res, err)
	}
	if !res[0].Created || res[0].Item == nil || string(res[0].Item.Data) != `{"a":1}` || res[0].Error != nil {
		t.Errorf("new: %+v", res[0])
	}
	if res[1].Created || res[1].Item == nil || res[1].Item.ID != "old" {
		t.Errorf("old: %+v", res[1])
	}
	if res[2].Item != nil || !errors.Is(res[2].Error, client.ErrInvalid) || res[2].Error.Status != 400 {
		t.Errorf("invalid: %+v", res[2])
	}
	if _, err := c.CreateItems(ctx, "jobs", nil); err == nil {
		t.Error("an empty batch was sent")
	}
	if _, err := c.CreateItems(ctx, "jobs", make([]client.CreateItem, client.MaxBatch+1)); err == nil {
		t.Error("an oversized batch was sent")
	}
}

func TestListByState(t *testing.T) {
	f := newFake()
	defer f.Close()
	c := newClient(t, f.srv.URL)
	ctx := testCtx(t)
	for _, st := range []string{"active", "failed", "expired", "failed", "completed"} {
		f.put(fakeItem{ID: st + time.Duration(len(f.items)).String(), Data: json.RawMessage(`null`), Version: 1, State: st, Terminal: st != "active"})
	}
	var ids []string
	for it, err := range c.Items(ctx, "jobs", client.ListOptions{State: client.StateFailed, Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		if it.State != client.StateFailed {
			t.Errorf("%+v", it)
		}
		ids = append(ids, it.ID)
	}
	if len(ids) != 2 {
		t.Errorf("failed items %v, want 2", ids)
	}
}

func TestPauseResume(t *testing.T) {
	f := newFake()
	defer f.Close()
	c := newClient(t, f.srv.URL)
	ctx := testCtx(t)
	cache, err := c.PauseCache(ctx, "jobs")
	if err != nil || !cache.Paused || cache.Retry == nil || cache.Retry.MaxAttempts != 5 || time.Duration(cache.ItemTTL) != time.Hour {
		t.Fatalf("PauseCache: %+v, %v", cache, err)
	}
	if cache, err = c.ResumeCache(ctx, "jobs"); err != nil || cache.Paused {
		t.Errorf("ResumeCache: %+v, %v", cache, err)
	}
	if _, err := c.PauseCache(ctx, "nope"); !client.IsNotFound(err) {
		t.Errorf("PauseCache of a missing cache: %v", err)
	}
}

// seedAutoRefresh is the interface of Flyte's AutoRefresh cache
// (flytestdlib/cache), with items as client.Item and ids as strings, plus
// Update.
type seedAutoRefresh interface {
	Get(id string) (client.Item, error)
	GetOrCreate(id string, item client.Item) (client.Item, error)
	DeleteDelayed(id string) error
	Update(id string, item client.Item) (client.Item, error)
}

func TestAutoRefreshUpdate(t *testing.T) {
	f := newFake()
	defer f.Close()
	c := newClient(t, f.srv.URL)
	a := client.NewAutoRefresh(c, "jobs", nil)
	var ar seedAutoRefresh = a
	if _, err := ar.Get("a"); !errors.Is(err, client.ErrNotStarted) {
		t.Errorf("Get before Start: %v", err)
	}
	if err := a.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	it, err := ar.GetOrCreate("a", client.Item{Data: json.RawMessage(`{"n":1}`)})
	if err != nil || it.Version != 1 {
		t.Fatalf("GetOrCreate: %+v, %v", it, err)
	}
	// A read-modify-write at the version read applies...
	it.Data, it.Terminal = json.RawMessage(`{"n":2}`), true
	up, err := ar.Update("a", it)
	if err != nil || up.Version != 2 || !up.IsTerminal() || string(up.Data) != `{"n":2}` {
		t.Fatalf("Update: %+v, %v", up, err)
	}
	// ...and one from a stale read is refused.
	if _, err := ar.Update("a", it); !client.IsPreconditionFailed(err) {
		t.Errorf("Update from a stale read: %v", err)
	}
	if got, err := ar.Get("a"); err != nil || got.Version != 2 {
		t.Errorf("Get: %+v, %v", got, err)
	}
}

func TestAutoRefreshStartFails(t *testing.T) {
	f := newFake()
	defer f.Close()
	c := newClient(t, f.srv.URL)
	if err := client.NewAutoRefresh(c, "nope", nil).Start(testCtx(t)); !client.IsNotFound(err) {
		t.Errorf("Start on a server without the cache: %v", err)
	}
}
