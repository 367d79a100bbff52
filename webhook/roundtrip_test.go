package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/internal/syncers"
	"github.com/autorefresh/autorefresh/webhook"
)

// job adapts a record to the cache's item wrapper, as the cache engine does.
type job struct{ *record.Record }

func (j job) GetID() cache.ItemID     { return j.ID }
func (j job) GetItem() *record.Record { return j.Record }

// newSyncer returns the server's own syncer for cache "jobs", signing with
// secret at handlerNow, pointed at url over loopback.
func newSyncer(t *testing.T, url, secret string) *syncers.Webhook {
	t.Helper()
	wh, err := syncers.New(syncers.Options{
		Cache:   "jobs",
		Webhook: syncers.WebhookConfig{URL: url, Secret: secret},
		Policy:  &egress.Policy{AllowPrivate: true}, // the upstream is on loopback
		Clock:   clocktesting.NewFakePassiveClock(handlerNow),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wh.Close)
	return wh
}

// TestHandlerWithTheServersSyncer sends a batch with the syncer autorefresh
// runs (encoding, signing, reply parsing), so that Handler's wire format is
// checked against the server's rather than against itself.
func TestHandlerWithTheServersSyncer(t *testing.T) {
	got := make(chan webhook.Batch, 1)
	u := newTestUpstream(t, func(_ context.Context, b webhook.Batch) ([]webhook.Result, error) {
		got <- b
		return []webhook.Result{
			webhook.Update("started", json.RawMessage(`{"status":"Completed"}`), true),
			webhook.Update("empty", json.RawMessage(`{"status":"Started"}`), false),
			webhook.Update("ending", nil, true),
			webhook.Unchanged("same"),
			// "silent" is left out.
		}, nil
	}, webhook.Options{Secrets: []string{vectorSecret}})

	batch := cache.BatchOf[*record.Record]{
		job{&record.Record{ID: "started", Data: json.RawMessage(`{"status":"Started"}`), Version: 3}},
		job{&record.Record{ID: "empty", Version: 1}},
		job{&record.Record{ID: "ending", Data: json.RawMessage(`{"keep":true}`), Version: 2}},
		job{&record.Record{ID: "same", Data: json.RawMessage(`1`), Version: 5}},
		job{&record.Record{ID: "silent", Data: json.RawMessage(`2`), Version: 6}},
	}
	resps, err := newSyncer(t, u.URL, vectorSecret).Sync(context.Background(), batch)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}

	b := <-got
	if b.Cache != "jobs" || len(b.Items) != len(batch) {
		t.Fatalf("the SyncFunc got %+v", b)
	}
	for i, w := range batch {
		g, rec := b.Items[i], w.GetItem()
		data := string(rec.Data)
		if data == "" {
			data = "null"
		}
		if g.ID != rec.ID || string(g.Data) != data || g.Terminal || g.Version != rec.Version {
			t.Errorf("item %d = %+v (data %s), want %s %s version %d", i, g, g.Data, rec.ID, data, rec.Version)
		}
	}

	type outcome struct {
		action   cache.SyncAction
		data     string
		terminal bool
		version  int64
	}
	want := map[string]outcome{
		"started": {cache.Update, `{"status":"Completed"}`, true, 4},
		"empty":   {cache.Update, `{"status":"Started"}`, false, 2},
		"ending":  {cache.Update, `{"keep":true}`, true, 3}, // data kept
		"same":    {cache.Unchanged, `1`, false, 5},
	}
	if len(resps) != len(want) {
		t.Errorf("%d responses, want %d: %+v", len(resps), len(want), resps)
	}
	for _, r := range resps {
		w, ok := want[r.ID]
		g := outcome{r.Action, string(r.Item.Data), r.Item.Terminal, r.Item.Version}
		if !ok || g != w {
			t.Errorf("%s: %+v, want %+v", r.ID, g, w)
		}
	}
}

// A syncer signing with a secret the upstream does not hold fails the batch
// with a 4xx, and the SyncFunc never runs.
func TestHandlerRefusesTheSyncerWithAnotherSecret(t *testing.T) {
	u := newTestUpstream(t, nil, webhook.Options{Secrets: []string{vectorSecret}})
	job := job{&record.Record{ID: "a", Version: 1}}
	_, err := newSyncer(t, u.URL, otherSecret).Sync(context.Background(), cache.BatchOf[*record.Record]{job})
	serr, ok := errors.AsType[*syncers.Error](err)
	if !ok || serr.Status != http.StatusUnauthorized {
		t.Errorf("Sync: %v; want a 401 failure", err)
	}
	if n := u.calls.Load(); n != 0 {
		t.Errorf("the SyncFunc ran %d times", n)
	}
}
