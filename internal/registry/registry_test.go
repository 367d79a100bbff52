package registry

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/errs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newRegistry(t *testing.T, maxCaches int) (*Registry, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return startRegistry(t, Options{Registerer: reg, Logger: zap.NewNop(), MaxCaches: maxCaches}), reg
}

// startRegistry runs a registry with opts, allowed to call loopback
// webhooks, until the test ends.
func startRegistry(t *testing.T, opts Options) *Registry {
	t.Helper()
	opts.Egress = &egress.Policy{AllowPrivate: true}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); r.Wait() })
	return r
}

// cfg points at a closed port: these tests never need a sync to succeed.
func cfg(extra func(*autorefresh.Config)) autorefresh.Config {
	c := autorefresh.Config{Webhook: autorefresh.Webhook{URL: "http://127.0.0.1:1/sync"}, ResyncPeriod: autorefresh.Duration(time.Hour)}
	off := false
	c.SyncOnCreate = &off
	if extra != nil {
		extra(&c)
	}
	return c
}

func TestPutReplaceKeepsItemsAndShrinkEvicts(t *testing.T) {
	r, _ := newRegistry(t, 0)
	if created, err := r.Put(bg, "jobs", cfg(nil)); err != nil || !created {
		t.Fatalf("first put: %v %v", created, err)
	}
	for i := range 5 {
		if _, _, err := r.CreateItem(bg, "jobs", autorefresh.NewItem{ID: fmt.Sprint(i), Data: nil, Terminal: false}); err != nil {
			t.Fatal(err)
		}
	}
	r.GetItem(bg, "jobs", "0") // 1 is now the least recently used
	created, err := r.Put(bg, "jobs", cfg(func(c *autorefresh.Config) { c.Size = 4 }))
	if err != nil || created {
		t.Fatalf("replace: %v %v", created, err)
	}
	info, _ := r.Info(bg, "jobs")
	if info.Stats.Size != 4 || info.Config.Size != 4 {
		t.Fatalf("after shrinking: %+v", info)
	}
	if _, err := r.GetItem(bg, "jobs", "1"); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("the least recently used item survived the shrink: %v", err)
	}
	if _, err := r.GetItem(bg, "jobs", "0"); err != nil {
		t.Fatalf("a kept item was lost: %v", err)
	}
}

func TestCreatesRacingAConfigChangeAreNotLost(t *testing.T) {
	r, _ := newRegistry(t, 0)
	r.Put(bg, "jobs", cfg(nil))
	stop := make(chan struct{})
	var putter sync.WaitGroup
	puts := 0
	firstPut := make(chan struct{})
	putter.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := r.Put(bg, "jobs", cfg(func(c *autorefresh.Config) { c.Parallelism = 1 + i%3 })); err != nil {
				t.Error(err)
				return
			}
			if puts++; puts == 1 {
				close(firstPut)
			}
		}
	})
	<-firstPut
	acked := make([][]string, 4)
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			for i := range 200 {
				id := fmt.Sprintf("w%d-%d", w, i)
				if _, _, err := r.CreateItem(bg, "jobs", autorefresh.NewItem{ID: id, Data: nil, Terminal: false}); err != nil {
					t.Errorf("create %s: %v", id, err)
					continue
				}
				acked[w] = append(acked[w], id)
			}
		})
	}
	writers.Wait()
	close(stop)
	putter.Wait()
	if puts == 0 {
		t.Fatal("no config change happened during the creates")
	}
	for w := range 4 {
		for _, id := range acked[w] {
			if _, err := r.GetItem(bg, "jobs", id); err != nil {
				t.Fatalf("acknowledged create %s lost after %d config changes: %v", id, puts, err)
			}
		}
	}
}

func TestCapsAndDelete(t *testing.T) {
	r, reg := newRegistry(t, 2)
	r.Put(bg, "a", cfg(nil))
	r.Put(bg, "b", cfg(nil))
	if _, err := r.Put(bg, "c", cfg(nil)); errs.CodeOf(err) != errs.Capacity {
		t.Fatalf("third cache with MaxCaches 2: %v", err)
	}
	if err := r.Delete(bg, "a"); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(bg, "a"); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("second delete: %v", err)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "cache" && l.GetValue() == "a" {
					t.Fatalf("%s still has a series for the deleted cache", mf.GetName())
				}
			}
		}
	}
	if _, err := r.Put(bg, "c", cfg(nil)); err != nil {
		t.Fatalf("after a delete there is room: %v", err)
	}
	if got := len(mustList(t, r)); got != 2 {
		t.Fatalf("List: %d caches", got)
	}
}

// TestSetupFailureIsInternal: should an engine fail to set up although its
// config is valid (here its metrics clash with a collector registered by
// someone else), the client gets an internal error, not the engine's text.
func TestSetupFailureIsInternal(t *testing.T) {
	r, reg := newRegistry(t, 0)
	clash := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "autorefresh", Name: "cache_items",
		Help: "Items held by the cache.", ConstLabels: prometheus.Labels{"cache": "jobs"}})
	if err := reg.Register(clash); err != nil {
		t.Fatal(err)
	}
	_, err := r.Put(bg, "jobs", cfg(nil))
	if errs.CodeOf(err) != errs.Internal {
		t.Fatalf("Put with clashing metrics: %v (code %s), want Internal", err, errs.CodeOf(err))
	}
	if len(mustList(t, r)) != 0 {
		t.Fatal("a cache that failed to set up is registered")
	}
	reg.Unregister(clash)
	if _, err := r.Put(bg, "jobs", cfg(nil)); err != nil {
		t.Fatalf("Put once the clash is gone: %v", err)
	}
}

func TestPutValidatesAndNamesTheField(t *testing.T) {
	r, _ := newRegistry(t, 0)
	cases := map[string]autorefresh.Config{
		"resyncPeriod":  cfg(func(c *autorefresh.Config) { c.ResyncPeriod = 0 }),
		"parallelism":   cfg(func(c *autorefresh.Config) { c.Parallelism = 5000 }),
		"batchSize":     cfg(func(c *autorefresh.Config) { c.BatchSize = -1 }),
		"rateLimit.qps": cfg(func(c *autorefresh.Config) { c.RateLimit = &autorefresh.RateLimit{QPS: -1} }),
		"rateLimit": cfg(func(c *autorefresh.Config) {
			c.RateLimit = &autorefresh.RateLimit{BaseDelay: autorefresh.Duration(time.Hour), MaxDelay: autorefresh.Duration(time.Second)}
		}),
		"webhook.url":     cfg(func(c *autorefresh.Config) { c.Webhook.URL = "gopher://x" }),
		"webhook.secret":  cfg(func(c *autorefresh.Config) { c.Webhook.Secret = "whsec_!!" }),
		"webhook.timeout": cfg(func(c *autorefresh.Config) { c.Webhook.Timeout = autorefresh.Duration(time.Hour) }),
	}
	for field, c := range cases {
		_, err := r.Put(bg, "x", c)
		if errs.CodeOf(err) != errs.Invalid || !strings.HasPrefix(errs.MessageOf(err), field) {
			t.Errorf("%s: got %v", field, err)
		}
	}
	if _, err := r.Put(bg, "Bad", cfg(nil)); errs.CodeOf(err) != errs.Invalid {
		t.Fatalf("bad name: %v", err)
	}
	if len(mustList(t, r)) != 0 {
		t.Fatal("an invalid cache was registered")
	}
}

func TestParseFile(t *testing.T) {
	f, err := autorefresh.ParseFile([]byte("caches:\n  jobs:\n    webhook: {url: 'http://x/'}\n    resyncPeriod: 90s\n    rateLimit: {qps: 5}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Caches["jobs"].WithDefaults()
	if time.Duration(c.ResyncPeriod) != 90*time.Second || c.RateLimit.QPS != 5 || c.RateLimit.Burst != autorefresh.DefaultBurst {
		t.Fatalf("decoded %+v", c)
	}
	if _, err := autorefresh.ParseFile([]byte("caches:\n  jobs:\n    resync: 1s\n")); err == nil {
		t.Fatal("unknown field accepted")
	}
}

// bg is the context of calls whose context does not matter to the test.
var bg = context.Background()

func mustList(t *testing.T, r *Registry) []autorefresh.Info {
	t.Helper()
	infos, err := r.List(bg)
	if err != nil {
		t.Fatal(err)
	}
	return infos
}
