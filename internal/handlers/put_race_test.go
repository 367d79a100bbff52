package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/handlers"
)

// deleteAfterPut is a service on which a DELETE of the cache always lands
// between a PUT and the read that builds its answer.
type deleteAfterPut struct{ autorefresh.Service }

func (d deleteAfterPut) Put(ctx context.Context, name string, cfg autorefresh.Config) (bool, error) {
	created, err := d.Service.Put(ctx, name, cfg)
	if err == nil {
		err = d.Service.Delete(ctx, name)
	}
	return created, err
}

// A PUT that succeeded answers with what it wrote, even when a DELETE took
// effect right after it: never a 404 that a client would read as failure.
// The linearizability checker found this answering 404 "cache not found".
func TestPutAnswersWithItsConfigWhenDeletedRightAfter(t *testing.T) {
	e := buildEnv(t, nil, func(d *handlers.Deps) { d.Service = deleteAfterPut{d.Service} }, nil)
	r := e.putCache("jobs", `{"webhook": {"url": "`+e.upstream.URL+`/sync?token=abc"}, "resyncPeriod": "1h"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	var got struct {
		Name    string `json:"name"`
		Webhook struct {
			URL string `json:"url"`
		} `json:"webhook"`
		ResyncPeriod string `json:"resyncPeriod"`
		BatchSize    int    `json:"batchSize"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "jobs" || got.ResyncPeriod != "1h0m0s" || got.BatchSize != autorefresh.DefaultBatchSize ||
		got.Webhook.URL != e.upstream.URL+"/sync?token=***" {
		t.Fatalf("PUT answered %s", r.body)
	}
}
