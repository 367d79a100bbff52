package backend_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/pgtest"
	"github.com/autorefresh/autorefresh/internal/watch"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// options are Options on one storage, with a fresh metrics registry.
func options(set func(*backend.Options)) backend.Options {
	o := backend.Options{Registerer: prometheus.NewRegistry(), Logger: zap.NewNop(), Egress: &egress.Policy{AllowPrivate: true}}
	set(&o)
	return o
}

func TestOptionsRefused(t *testing.T) {
	for name, set := range map[string]func(*backend.Options){
		"no storage":    func(o *backend.Options) {},
		"two storages":  func(o *backend.Options) { o.InMemory, o.DataDir = true, t.TempDir() },
		"no logger":     func(o *backend.Options) { o.InMemory, o.Logger = true, nil },
		"no registerer": func(o *backend.Options) { o.InMemory, o.Registerer = true, nil },
		"postgres clock": func(o *backend.Options) {
			o.PostgresURL, o.Clock = "postgres://x", clocktesting.NewFakeClock(time.Now())
		},
		"postgres FirstSeq":                 func(o *backend.Options) { o.PostgresURL, o.Watch.FirstSeq = "postgres://x", 7 },
		"negative stream cap":               func(o *backend.Options) { o.InMemory, o.Watch.MaxStreams = true, -1 },
		"negative long-poll cap":            func(o *backend.Options) { o.InMemory, o.Watch.MaxWaiters = true, -1 },
		"negative per-client stream cap":    func(o *backend.Options) { o.InMemory, o.Watch.MaxStreamsPerClient = true, -1 },
		"negative per-client long-poll cap": func(o *backend.Options) { o.InMemory, o.Watch.MaxWaitersPerClient = true, -1 },
	} {
		t.Run(name, func(t *testing.T) {
			_, err := backend.Open(context.Background(), options(set))
			if errs.CodeOf(err) != errs.Invalid {
				t.Fatalf("Open: %v, want an Invalid error", err)
			}
		})
	}
}

// upstream answers every sync with the items unchanged.
func upstream(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"items": []}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/sync"
}

func jobs(url string) autorefresh.Config {
	off := false
	return autorefresh.Config{Webhook: autorefresh.Webhook{URL: url}, ResyncPeriod: autorefresh.Duration(time.Hour), SyncOnCreate: &off}
}

// use puts the cache "jobs", creates item "a" in it and checks that the hub
// heard the creation.
func use(t *testing.T, b *backend.Backend, url string) {
	t.Helper()
	ctx := context.Background()
	if _, err := b.Service().Put(ctx, "jobs", jobs(url)); err != nil {
		t.Fatal(err)
	}
	sub, err := b.Hub().Subscribe("jobs", watch.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, created, err := b.Service().CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "a", Data: json.RawMessage(`{"n":1}`), Terminal: false}); err != nil || !created {
		t.Fatalf("CreateItem: created %v, %v", created, err)
	}
	select {
	case ev := <-sub.C():
		if ev.Kind != watch.Created || ev.ID != "a" || ev.Seq == 0 {
			t.Fatalf("event %+v, want a's creation", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the hub heard no event")
	}
}

// TestDurableRestart checks Close's order: what the journal had queued is in
// the file when the next Open reads it.
func TestDurableRestart(t *testing.T) {
	dir, url := t.TempDir(), upstream(t)
	b, err := backend.Open(context.Background(), options(func(o *backend.Options) { o.DataDir = dir }))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	use(t, b, url)
	if err := b.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	b.Close()
	b.Close() // a second Close does nothing
	if err := b.Start(context.Background()); err == nil {
		t.Fatal("Start after Close succeeded")
	}

	b, err = backend.Open(context.Background(), options(func(o *backend.Options) { o.DataDir = dir }))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close() // never started: Close must not wait for a refresh
	it, err := b.Service().GetItem(context.Background(), "jobs", "a")
	if err != nil || it.Version != 1 || string(it.Data) != `{"n":1}` {
		t.Fatalf("after a restart: %+v, %v", it, err)
	}
}

func TestInMemory(t *testing.T) {
	b, err := backend.Open(context.Background(), options(func(o *backend.Options) { o.InMemory = true }))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err == nil {
		t.Fatal("a second Start succeeded")
	}
	use(t, b, upstream(t))
	b.Stop()
	// Stopping the refresh leaves the API served, as a shutdown needs.
	if _, err := b.Service().GetItem(context.Background(), "jobs", "a"); err != nil {
		t.Fatalf("GetItem after Stop: %v", err)
	}
}

// TestPostgres checks the PostgreSQL mode's hub: built after the service
// (it numbers events from the replica's range), it hears the changes once
// the refresh runs, those of another replica too.
func TestPostgres(t *testing.T) {
	pgtest.SkipIfUnavailable(t)
	db, url := pgtest.NewDB(t), upstream(t)
	open := func() *backend.Backend {
		b, err := backend.Open(context.Background(), options(func(o *backend.Options) { o.PostgresURL = db }))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		if err := b.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return b
	}
	first, second := open(), open()
	if err := first.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if _, err := first.Service().Put(context.Background(), "jobs", jobs(url)); err != nil {
		t.Fatal(err)
	}
	sub, err := second.Hub().Subscribe("jobs", watch.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	use(t, first, url)
	select {
	case ev := <-sub.C():
		if ev.Kind != watch.Created || ev.ID != "a" {
			t.Fatalf("event %+v on the other replica, want a's creation", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the other replica's hub heard no event")
	}
}
