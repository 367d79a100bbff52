package handlers_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/handlers"
	"github.com/autorefresh/autorefresh/internal/record"
)

// controlFake stands in for the per-item controls (CreateItems, PatchItem,
// RetryItem, SetPaused) over the embedded registry while the storage modes
// answer them 503, with the record's own rules (record.Patch, Retry), so
// that the handlers can be tested now. It keeps what it changed beside the
// registry and shows it on reads.
type controlFake struct {
	autorefresh.Service
	mu      sync.Mutex
	changed map[[2]string]autorefresh.Item
	paused  map[string]bool
}

func newControlFake(real autorefresh.Service) *controlFake {
	return &controlFake{Service: real, changed: map[[2]string]autorefresh.Item{}, paused: map[string]bool{}}
}

// put makes the item read as it (a failed or expired item, which the fake
// cannot reach by syncing).
func (f *controlFake) put(name string, it autorefresh.Item) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changed[[2]string{name, it.ID}] = it
}

func (f *controlFake) GetItem(ctx context.Context, name, id string) (autorefresh.Item, error) {
	it, err := f.Service.GetItem(ctx, name, id)
	if err != nil {
		return it, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.changed[[2]string{name, id}]; ok {
		return c, nil
	}
	return it, nil
}

func (f *controlFake) PatchItem(ctx context.Context, name, id string, p autorefresh.Patch) (autorefresh.Item, error) {
	it, err := f.GetItem(ctx, name, id)
	if err != nil {
		return it, err
	}
	if p.IfMatch > 0 && p.IfMatch != it.Version {
		return autorefresh.Item{}, errs.Errorf(errs.PreconditionFailed, "item %q is at version %d, not %d", id, it.Version, p.IfMatch)
	}
	it.Record = it.Record.Patch(p.Data, p.Terminal, time.Now().UTC())
	f.put(name, it)
	return it, nil
}

func (f *controlFake) RetryItem(ctx context.Context, name, id string, ttl time.Duration) (autorefresh.Item, error) {
	it, err := f.GetItem(ctx, name, id)
	if err != nil {
		return it, err
	}
	now := time.Now().UTC()
	var expires time.Time
	if ttl > 0 {
		expires = now.Add(ttl)
	}
	n, _, ok := it.Record.Retry(expires, now)
	if !ok {
		return autorefresh.Item{}, errs.Errorf(errs.Conflict, "item %q is completed", id)
	}
	it.Record, it.NextSyncAt = n, &now
	f.put(name, it)
	return it, nil
}

func (f *controlFake) CreateItems(ctx context.Context, name string, in []autorefresh.NewItem) ([]autorefresh.Created, error) {
	if _, err := f.Info(ctx, name); err != nil {
		return nil, err
	}
	out := make([]autorefresh.Created, len(in))
	for i, n := range in {
		it, created, err := f.CreateItem(ctx, name, n)
		out[i] = autorefresh.Created{Item: it, Created: created, Err: err}
	}
	return out, nil
}

func (f *controlFake) Info(ctx context.Context, name string) (autorefresh.Info, error) {
	in, err := f.Service.Info(ctx, name)
	f.mu.Lock()
	defer f.mu.Unlock()
	in.Paused = f.paused[name]
	return in, err
}

func (f *controlFake) SetPaused(ctx context.Context, name string, paused bool) (autorefresh.Info, error) {
	if _, err := f.Service.Info(ctx, name); err != nil {
		return autorefresh.Info{}, err
	}
	f.mu.Lock()
	f.paused[name] = paused
	f.mu.Unlock()
	return f.Info(ctx, name)
}

// failed makes item id of the fake's cache read as given up.
func (f *controlFake) failed(t *testing.T, name, id string) {
	t.Helper()
	it, err := f.GetItem(context.Background(), name, id)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := it.Record.Fail("upstream said no", record.Policy{ResyncPeriod: time.Second, MaxAttempts: 1}, time.Now().UTC(), 0)
	it.Record = n
	f.put(name, it)
}

// controlModes runs test against the fake and against the embedded mode's
// own controls. The latter is skipped while the mode still answers them
// 503 (until internal/registry implements them); once it does, the same
// test holds it to the same answers. fake is nil for the real mode.
func controlModes(t *testing.T, deps func(*handlers.Deps), test func(t *testing.T, e *env, fake *controlFake)) {
	t.Run("fake", func(t *testing.T) {
		var fake *controlFake
		e := newEnvWith(t, nil, func(d *handlers.Deps) {
			fake = newControlFake(d.Service)
			d.Service = fake
			if deps != nil {
				deps(d)
			}
		})
		test(t, e, fake)
	})
	t.Run("embedded", func(t *testing.T) {
		var real autorefresh.Service
		e := newEnvWith(t, nil, func(d *handlers.Deps) {
			real = d.Service
			if deps != nil {
				deps(d)
			}
		})
		if _, err := real.SetPaused(context.Background(), "no-such-cache", true); errs.CodeOf(err) == errs.Unavailable {
			t.Skip("the embedded mode does not implement the per-item controls yet")
		}
		test(t, e, nil)
	})
}
