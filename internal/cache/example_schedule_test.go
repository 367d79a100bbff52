package cache_test

import (
	"context"
	"fmt"
	"time"

	"github.com/autorefresh/autorefresh/internal/cache"
)

// job is an item whose upstream says when to look again.
type job struct {
	id    string
	polls int
}

func (j *job) IsTerminal() bool { return j.polls >= 3 }

// A SyncFunc that knows when an item can next change answers NextSyncAfter:
// the item is synced then, between the cache's resync ticks (here an hour
// apart), rather than at the next tick.
func Example_nextSyncAfter() {
	sync := func(_ context.Context, batch cache.BatchOf[*job]) ([]cache.ItemSyncResponseOf[*job], error) {
		out := make([]cache.ItemSyncResponseOf[*job], 0, len(batch))
		for _, w := range batch {
			next := &job{id: w.GetID(), polls: w.GetItem().polls + 1}
			out = append(out, cache.ItemSyncResponseOf[*job]{
				ID: w.GetID(), Item: next, Action: cache.Update,
				NextSyncAfter: 10 * time.Millisecond, // "ask me again in 10ms"
			})
		}
		return out, nil
	}
	done := make(chan struct{})
	c, err := cache.New(cache.Options[*job]{
		Name: "jobs", Sync: sync, ResyncPeriod: time.Hour, Parallelism: 1, Size: 10,
		OnEvent: func(ev cache.Event[*job]) {
			if ev.Type == cache.Updated {
				fmt.Println("polled", ev.ID, ev.Item.polls)
				if ev.Item.IsTerminal() {
					close(done)
				}
			}
		},
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx); err != nil {
		panic(err)
	}
	if _, err := c.GetOrCreate("j1", &job{id: "j1"}); err != nil {
		panic(err)
	}
	<-done // three polls, well within the hour
	cancel()
	<-c.Stopped()
	// Output:
	// polled j1 1
	// polled j1 2
	// polled j1 3
}

// Update replaces an item, as Flyte 2's AutoRefreshWithUpdate does; it
// reports false for an id the cache does not hold. A sync of the old item
// under way cannot undo it.
func Example_update() {
	c, err := cache.New(cache.Options[*job]{
		Name: "jobs", ResyncPeriod: time.Hour, Parallelism: 1, Size: 10,
		Sync: func(context.Context, cache.BatchOf[*job]) ([]cache.ItemSyncResponseOf[*job], error) { return nil, nil },
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if _, err := c.GetOrCreate("j1", &job{id: "j1"}); err != nil {
		panic(err)
	}
	ok, err := c.Update("j1", &job{id: "j1", polls: 3})
	fmt.Println(ok, err)
	ok, err = c.Update("j2", &job{id: "j2"})
	fmt.Println(ok, err)
	j, _ := c.Get("j1")
	fmt.Println(j.polls, j.IsTerminal())
	// Output:
	// true <nil>
	// false <nil>
	// 3 true
}
