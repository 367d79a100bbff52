package registry

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/servicetest"
	"github.com/autorefresh/autorefresh/internal/store"
)

// flakyStore fails every Apply while failing is set, as a full disk would.
type flakyStore struct {
	store.Store
	failing atomic.Bool
}

func (s *flakyStore) Apply(ctx context.Context, batch []store.Mutation) error {
	if s.failing.Load() {
		return errors.New("injected: no space left on device")
	}
	return s.Store.Apply(ctx, batch)
}

// startDurable runs a registry with a journal in front of db, restored from
// it, as cmd/server does. stop may be called more than once.
func startDurable(t *testing.T, db store.Store, reg prometheus.Registerer) (*Registry, func()) {
	t.Helper()
	journal := store.NewJournal(db, zap.NewNop())
	journalCtx, stopJournal := context.WithCancel(context.Background())
	go journal.Run(journalCtx)
	r, err := New(Options{Registerer: reg, Logger: zap.NewNop(), Egress: &egress.Policy{AllowPrivate: true}, Journal: journal})
	if err != nil {
		t.Fatal(err)
	}
	states, err := db.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(states); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			r.Wait()
			stopJournal()
			<-journal.Done()
		}
	}
	t.Cleanup(stop)
	return r, stop
}

// TestRefusedPutsLeaveNothingBehind: a PUT the journal cannot make durable
// answers 503 and changes nothing: a new cache does not run (no calls, no
// items, no metrics), a replaced config stays as it was, and once the store
// works again, and after a restart, the service still agrees with what it
// answered, although the journal then writes the refused registration.
func TestRefusedPutsLeaveNothingBehind(t *testing.T) {
	db, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fs := &flakyStore{Store: db}
	reg := prometheus.NewRegistry()
	r, stop := startDurable(t, fs, reg)
	if _, err := r.Put(bg, "kept", cfg(nil)); err != nil {
		t.Fatal(err)
	}

	fs.failing.Store(true)
	_, err = r.Put(bg, "jobs", cfg(nil))
	if errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("PUT of a new cache while the store fails: %v, want Unavailable", err)
	}
	_, err = r.Put(bg, "kept", cfg(func(c *autorefresh.Config) { c.Size = 7 }))
	if errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("PUT of a new config while the store fails: %v, want Unavailable", err)
	}

	check := func(r *Registry, when string) {
		t.Helper()
		if _, err := r.Info(bg, "jobs"); errs.CodeOf(err) != errs.NotFound {
			t.Fatalf("%s: the refused cache answers Info: %v", when, err)
		}
		if err := r.Sync(bg, "jobs"); errs.CodeOf(err) != errs.NotFound {
			t.Fatalf("%s: the refused cache answers Sync: %v", when, err)
		}
		if _, _, err := r.CreateItem(bg, "jobs", autorefresh.NewItem{ID: "a", Data: nil, Terminal: false}); errs.CodeOf(err) != errs.NotFound {
			t.Fatalf("%s: the refused cache takes items: %v", when, err)
		}
		var names []string
		for _, in := range mustList(t, r) {
			names = append(names, in.Name)
		}
		if !slices.Equal(names, []string{"kept"}) {
			t.Fatalf("%s: caches %v, want [kept]", when, names)
		}
		in, err := r.Info(bg, "kept")
		if err != nil || in.Config.Size != autorefresh.DefaultSize {
			t.Fatalf("%s: the refused config change took effect: size %d, %v", when, in.Config.Size, err)
		}
	}
	check(r, "while the store fails")
	if s := servicetest.SeriesOf(t, reg, "jobs"); len(s) > 0 {
		t.Fatalf("the refused cache left metrics behind: %v", s)
	}

	fs.failing.Store(false)
	// A registration acknowledged once the store works is durable, and
	// so is everything the journal took before it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := r.Put(bg, "probe", cfg(nil))
		if err == nil {
			break
		}
		if errs.CodeOf(err) != errs.Unavailable || time.Now().After(deadline) {
			t.Fatalf("the journal did not recover: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := r.Delete(bg, "probe"); err != nil {
		t.Fatal(err)
	}
	check(r, "once the store works again")

	stop()
	r, _ = startDurable(t, fs, prometheus.NewRegistry())
	check(r, "after a restart")
}
