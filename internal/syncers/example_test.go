package syncers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/internal/syncers"
	"github.com/autorefresh/autorefresh/webhook"
)

// job adapts a record to cache.ItemWrapperOf[*record.Record], as the cache
// engine does.
type job struct{ *record.Record }

func (j job) GetID() cache.ItemID     { return j.ID }
func (j job) GetItem() *record.Record { return j.Record }

func ExampleWebhook() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

	// The upstream checks the signature and reports every job completed.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Items []struct{ ID string } `json:"items"`
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := webhook.Verify(secret, r.Header, body, now, webhook.DefaultTolerance); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		_ = json.Unmarshal(body, &req)
		reply := map[string]any{"items": []map[string]any{
			{"id": req.Items[0].ID, "action": "update", "data": map[string]string{"status": "Completed"}, "terminal": true},
		}}
		_ = json.NewEncoder(w).Encode(reply)
	}))
	defer upstream.Close()

	wh, err := syncers.New(syncers.Options{
		Cache:   "jobs",
		Webhook: syncers.WebhookConfig{URL: upstream.URL, Secret: secret},
		Policy:  &egress.Policy{AllowPrivate: true}, // the upstream is on loopback
		Clock:   clocktesting.NewFakePassiveClock(now),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer wh.Close()

	item := &record.Record{ID: "item1", Data: json.RawMessage(`{"status":"Started"}`), Version: 3}
	resps, err := wh.Sync(context.Background(), cache.BatchOf[*record.Record]{job{item}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range resps {
		fmt.Println(r.ID, r.Action, string(r.Item.Data), "terminal:", r.Item.Terminal, "version:", r.Item.Version)
	}
	// Output:
	// item1 update {"status":"Completed"} terminal: true version: 4
}
