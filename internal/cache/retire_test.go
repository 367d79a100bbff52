package cache

import (
	"context"
	"sync"
	"testing"
	"time"
)

// durableJournal makes every change durable at once and counts them.
type durableJournal struct {
	mu      sync.Mutex
	changes []Change[Item]
}

func (j *durableJournal) Append(c Change[Item]) uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.changes = append(j.changes, c)
	return uint64(len(j.changes))
}

func (j *durableJournal) Wait(uint64) error { return nil }

func (j *durableJournal) Durable() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return uint64(len(j.changes))
}

func (j *durableJournal) count() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.changes)
}

// TestRetireDoesNotWaitForSyncsAndDropsTheirResults: Retire returns the
// items at once while a sync is under way (a reconfiguration must not wait
// for the old webhook), frees the cache's name for metrics and its items
// from the budget, and the late result of that sync changes nothing a
// reader or the journal sees.
func TestRetireDoesNotWaitForSyncsAndDropsTheirResults(t *testing.T) {
	entered := make(chan struct{}, 1)
	unblock := make(chan struct{})
	syncFn := func(_ context.Context, b Batch) ([]ItemSyncResponse, error) {
		entered <- struct{}{}
		<-unblock
		var out []ItemSyncResponse
		for _, w := range b {
			out = append(out, ItemSyncResponse{ID: w.GetID(), Item: item("running"), Action: Update})
		}
		return out, nil
	}
	j := &durableJournal{}
	budget := NewBudget(10)
	h := newHarness(t, Options[Item]{Sync: syncFn, Journal: j, Budget: budget, DisableSyncOnCreate: true,
		Parallelism: 1, DrainTimeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	if err := h.c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() { once.Do(func() { close(unblock) }) }
	defer func() {
		release()
		<-h.c.Stopped()
	}()
	if _, err := h.c.GetOrCreate("a", item("new")); err != nil {
		t.Fatal(err)
	}
	h.c.SyncNow()
	<-entered

	cancel()
	done := make(chan []Entry[Item], 1)
	go func() { done <- h.c.Retire() }()
	var items []Entry[Item]
	select {
	case items = <-done:
	case <-time.After(5 * time.Second):
		release()
		t.Fatal("Retire waited for the sync under way")
	}
	if len(items) != 1 || items[0].ID != "a" || items[0].Item.(*testItem).status != "new" {
		t.Fatalf("Retire returned %+v", items)
	}
	if got := budget.Used(); got != 0 {
		t.Fatalf("budget after Retire: %d used, want 0", got)
	}
	successor, err := New(h.c.opts)
	if err != nil {
		t.Fatalf("a successor cannot register its metrics: %v", err)
	}
	successor.Close()
	written := j.count()

	release()
	<-h.c.Stopped()
	if got := j.count(); got != written {
		t.Fatalf("the retired cache journaled %d changes after Retire", got-written)
	}
	if got := mustGet(t, h.c, "a").status; got != "new" {
		t.Fatalf("the retired cache applied a late result: %q", got)
	}
	if got := budget.Used(); got != 0 {
		t.Fatalf("budget after the retired cache stopped: %d used, want 0", got)
	}
}
