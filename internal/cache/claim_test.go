package cache

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// A batch made of the cycle's own wrappers is queued without a copy, so it
// may share its array with the snapshot and the other batches. A SyncFunc
// that appends to its batch must still not write into the next batch: the
// cache caps each batch it queues uncopied. Under -race, an uncapped batch
// shows as a race with the worker of the next batch (and a lost item).
func TestBatchesSharingAnArray(t *testing.T) {
	const n = 40
	var mu sync.Mutex
	synced := map[ItemID]int{}
	h := newHarness(t, Options[Item]{
		Parallelism: 4,
		// Batches of 10, uncapped: each one's spare capacity is the next
		// one's items.
		CreateBatches: func(_ context.Context, snap []ItemWrapper) ([]Batch, error) {
			var out []Batch
			for i := 0; i < len(snap); i += 10 {
				out = append(out, snap[i:min(i+10, len(snap))])
			}
			return out, nil
		},
		Sync: func(_ context.Context, b Batch) ([]ItemSyncResponse, error) {
			mu.Lock()
			for _, w := range b {
				synced[w.GetID()]++
			}
			mu.Unlock()
			b = append(b, &itemWrapper[Item]{id: "intruder"})
			_ = b
			return nil, nil
		},
	})
	for i := range n {
		if _, err := h.c.GetOrCreate(fmt.Sprint("id-", i), item("a")); err != nil {
			t.Fatal(err)
		}
	}
	h.start()
	h.tick()
	h.idle()
	mu.Lock()
	defer mu.Unlock()
	if len(synced) != n {
		t.Fatalf("%d items synced, want %d", len(synced), n)
	}
	for id, k := range synced {
		if k != 1 {
			t.Fatalf("%s synced %d times in one cycle", id, k)
		}
	}
}
