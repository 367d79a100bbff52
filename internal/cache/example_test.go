package cache_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/autorefresh/autorefresh/internal/cache"
)

type ExampleItemStatus string

const (
	ExampleStatusNotStarted ExampleItemStatus = "Not-started"
	ExampleStatusStarted    ExampleItemStatus = "Started"
	ExampleStatusSucceeded  ExampleItemStatus = "Completed"
)

// ExampleCacheItem is a job tracked by the cache until it completes.
type ExampleCacheItem struct {
	status ExampleItemStatus
	id     string
}

func (e *ExampleCacheItem) IsTerminal() bool { return e.status == ExampleStatusSucceeded }
func (e *ExampleCacheItem) ID() string       { return e.id }

// ExampleService stands for the external system that runs the jobs: each
// time it is asked, a job moves one step forward.
type ExampleService struct {
	mu        sync.Mutex
	jobStatus map[string]ExampleItemStatus
}

func (s *ExampleService) getStatus(id string) *ExampleCacheItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.jobStatus[id] {
	case "", ExampleStatusNotStarted:
		s.jobStatus[id] = ExampleStatusStarted
	default:
		s.jobStatus[id] = ExampleStatusSucceeded
	}
	return &ExampleCacheItem{status: s.jobStatus[id], id: id}
}

func Example() {
	// The cache follows jobs that callers create but an external service
	// runs, until each one is done.
	service := &ExampleService{jobStatus: map[string]ExampleItemStatus{}}

	syncItemCb := func(ctx context.Context, batch cache.Batch) ([]cache.ItemSyncResponse, error) {
		updated := make([]cache.ItemSyncResponse, 0, len(batch))
		for _, obj := range batch {
			oldItem := obj.GetItem().(*ExampleCacheItem)
			newItem := service.getStatus(oldItem.ID())
			if newItem.status != oldItem.status {
				updated = append(updated, cache.ItemSyncResponse{ID: oldItem.ID(), Item: newItem, Action: cache.Update})
			}
		}
		return updated, nil
	}

	// Instead of sleeping for "a few cycles" and hoping, wait for the event
	// that says item1 reached its final state.
	item1Done := make(chan struct{})
	var once sync.Once
	onEvent := func(ev cache.Event[cache.Item]) {
		if ev.ID == "item1" && ev.Item.IsTerminal() {
			once.Do(func() { close(item1Done) })
		}
	}

	resyncPeriod := time.Millisecond
	c, err := cache.NewAutoRefreshCache("my-cache", syncItemCb, cache.DefaultRateLimiter(), resyncPeriod, 10, 100,
		nil, cache.WithEventHandler(onEvent))
	if err != nil {
		panic(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Start(ctx); err != nil {
		panic(err)
	}

	item1 := &ExampleCacheItem{status: ExampleStatusNotStarted, id: "item1"}
	item2 := &ExampleCacheItem{status: ExampleStatusNotStarted, id: "item2"}
	_, err1 := c.GetOrCreate(item1.id, item1)
	_, err2 := c.GetOrCreate(item2.id, item2)
	if err1 != nil || err2 != nil {
		fmt.Printf("unexpected error in create; err1: %v, err2: %v", err1, err2)
	}

	select {
	case <-item1Done:
	case <-time.After(30 * time.Second):
		fmt.Println("item1 did not complete in time")
	}

	item, err := c.Get(item1.ID())
	if cache.IsNotFound(err) {
		fmt.Println("Item1 is no longer in the cache")
	} else {
		fmt.Printf("Current status for item1 is %v\n", item.(*ExampleCacheItem).status)
	}
	// Output: Current status for item1 is Completed
}
