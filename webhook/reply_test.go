package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/internal/syncers"
	"github.com/autorefresh/autorefresh/webhook"
)

// replyUpstream serves ReplyHandler(fn), unsigned, on loopback.
func replyUpstream(t *testing.T, fn webhook.ReplyFunc) *testUpstream {
	t.Helper()
	u := &testUpstream{}
	u.Server = httptest.NewServer(webhook.ReplyHandler(fn, webhook.Options{AllowUnsigned: true}))
	t.Cleanup(u.Close)
	return u
}

func TestReplyHandlerWritesTheReply(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reply  webhook.Reply
		status int
		body   string
	}{
		{"nothing", webhook.Reply{}, http.StatusNoContent, ""},
		{"empty items", webhook.Reply{Items: []webhook.Result{}}, http.StatusNoContent, ""},
		{"only a next time", webhook.Reply{NextSyncAfter: webhook.Duration(5 * time.Minute)}, http.StatusOK,
			`{"items":[],"nextSyncAfter":"5m0s"}` + "\n"},
		{"both", webhook.Reply{
			Items: []webhook.Result{
				webhook.Unchanged("a").WithNextSyncAfter(1500 * time.Millisecond),
				webhook.Error("b", "lookup failed"),
			},
			NextSyncAfter: webhook.Duration(time.Hour),
		}, http.StatusOK,
			`{"items":[{"id":"a","action":"unchanged","nextSyncAfter":"1.5s"},{"id":"b","action":"error","error":"lookup failed"}],"nextSyncAfter":"1h0m0s"}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := replyUpstream(t, func(context.Context, webhook.Batch) (webhook.Reply, error) { return tc.reply, nil })
			a := u.post(t, oneItem, nil)
			if a.status != tc.status || a.body != tc.body {
				t.Fatalf("reply %d %q, want %d %q", a.status, a.body, tc.status, tc.body)
			}
		})
	}
}

func TestBatchCarriesAttempts(t *testing.T) {
	got := make(chan webhook.Batch, 1)
	u := replyUpstream(t, func(_ context.Context, b webhook.Batch) (webhook.Reply, error) {
		got <- b
		return webhook.Reply{}, nil
	})
	u.post(t, `{"cache":"jobs","items":[{"id":"a","data":1,"terminal":false,"version":3,"attempts":4},{"id":"b","data":2}]}`, nil)
	b := <-got
	if b.Items[0].Attempts != 4 || b.Items[1].Attempts != 0 {
		t.Fatalf("attempts %d, %d; want 4, 0 (an older sender omits it)", b.Items[0].Attempts, b.Items[1].Attempts)
	}
}

// A reply reads back into the same values, as a test of an upstream would
// read it.
func TestReplyReadsBack(t *testing.T) {
	in := webhook.Reply{
		Items:         []webhook.Result{webhook.Update("a", json.RawMessage(`1`), false).WithNextSyncAfter(90 * time.Second), webhook.Error("b", "x")},
		NextSyncAfter: webhook.Duration(2 * time.Hour),
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out webhook.Reply
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.NextSyncAfter != in.NextSyncAfter || out.Items[0].NextSyncAfter != webhook.Duration(90*time.Second) ||
		out.Items[1].Action != webhook.ActionError || out.Items[1].Error != "x" {
		t.Fatalf("read back %+v from %s", out, b)
	}
	if err := json.Unmarshal([]byte(`{"items":[],"nextSyncAfter":"soon"}`), &out); err == nil {
		t.Fatal("a malformed duration was read")
	}
}

// TestReplyHandlerWithTheServersSyncer checks nextSyncAfter, item errors
// and attempts against the syncer autorefresh runs, not against the
// package's own reading of the protocol.
func TestReplyHandlerWithTheServersSyncer(t *testing.T) {
	got := make(chan webhook.Batch, 1)
	u := replyUpstream(t, func(_ context.Context, b webhook.Batch) (webhook.Reply, error) {
		got <- b
		return webhook.Reply{
			Items: []webhook.Result{
				webhook.Unchanged("soon").WithNextSyncAfter(30 * time.Second),
				webhook.Error("lost", "no such job"),
			},
			NextSyncAfter: webhook.Duration(10 * time.Minute),
		}, nil
	})
	wh, err := syncers.New(syncers.Options{
		Cache:    "jobs",
		Webhook:  syncers.WebhookConfig{URL: u.URL},
		Policy:   &egress.Policy{AllowPrivate: true},
		Clock:    clocktesting.NewFakePassiveClock(handlerNow),
		Schedule: record.Policy{ResyncPeriod: time.Minute, MaxAttempts: 5},
		Jitter:   func() float64 { return 0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wh.Close)
	lost := &record.Record{ID: "lost", Version: 2, Attempts: 1, LastError: "earlier"}
	resps, err := wh.Sync(context.Background(), cache.BatchOf[*record.Record]{
		job{&record.Record{ID: "soon", Version: 1}}, job{lost}, job{&record.Record{ID: "later", Version: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if b := <-got; b.Items[1].Attempts != 1 {
		t.Errorf("attempts sent %d, want 1", b.Items[1].Attempts)
	}
	want := map[string]time.Duration{"soon": 30 * time.Second, "lost": 2 * time.Minute, "later": 10 * time.Minute}
	if len(resps) != len(want) {
		t.Fatalf("responses %+v", resps)
	}
	for _, r := range resps {
		if r.NextSyncAfter != want[r.ID] {
			t.Errorf("%s: next %v, want %v", r.ID, r.NextSyncAfter, want[r.ID])
		}
	}
	for _, r := range resps {
		if r.ID != "lost" {
			continue
		}
		var ie *syncers.ItemError
		if !errors.As(r.Err, &ie) || r.Item.Attempts != 2 || r.Item.LastError != "no such job" {
			t.Errorf("lost: %+v record %+v", r, r.Item)
		}
	}
}
