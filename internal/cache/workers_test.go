package cache

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// An idle cache holds a few goroutines, however large its parallelism:
// workers start with a batch and end with it.
func TestIdleCacheGoroutinesDoNotGrowWithParallelism(t *testing.T) {
	count := func(parallelism int) int {
		before := runtime.NumGoroutine()
		h := newHarness(t, Options[Item]{Sync: newRecorder(advance).sync, Parallelism: parallelism})
		h.start()
		// Let the goroutines Start launched reach their first block.
		eventually(t, "goroutines settled", func() bool {
			a := runtime.NumGoroutine()
			time.Sleep(time.Millisecond)
			return runtime.NumGoroutine() == a
		})
		return runtime.NumGoroutine() - before
	}
	// Other tests' goroutines may still be ending, so the two counts can
	// differ by a few; before, they differed by the 999 idle workers.
	one, many := count(1), count(1000)
	if many > 20 || many-one > 5 {
		t.Fatalf("an idle cache holds %d goroutines at parallelism 1 and %d at 1000; want about the same, under 20", one, many)
	}
}

// Parallelism still bounds the syncs under way, and is reached when
// batches wait.
func TestParallelismBoundsConcurrentSyncs(t *testing.T) {
	const parallelism = 3
	var mu sync.Mutex
	running, peak := 0, 0
	release := make(chan struct{})
	sync := func(ctx context.Context, b Batch) ([]ItemSyncResponse, error) {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		select {
		case <-release:
		case <-ctx.Done():
		}
		mu.Lock()
		running--
		mu.Unlock()
		return nil, nil
	}
	h := newHarness(t, Options[Item]{Sync: sync, Parallelism: parallelism})
	h.start()
	for i := range 10 {
		if _, err := h.c.GetOrCreate(fmt.Sprint(i), item("new")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "parallelism syncs under way", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return running == parallelism
	})
	close(release)
	h.idle()
	mu.Lock()
	defer mu.Unlock()
	if peak != parallelism {
		t.Fatalf("peak of %d syncs under way, want %d", peak, parallelism)
	}
}
