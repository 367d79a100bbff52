package cache

import (
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"testing"
)

// Gets, Lookups, creates (which make every item due for promotion),
// evictions and Modify, all at once: afterwards the hit and miss counts
// must be exact and every shard's list whole and ordered. Under -race it
// also catches a hit path that writes without its shard's lock (a shared
// RWMutex read lock was tried for hits, and measured slower; see
// docs/benchmarks.md 1.9).
func TestGetsWithWriters(t *testing.T) {
	h := newHarness(t, Options[Item]{Sync: newRecorder(advance).sync, Size: 300})
	c := h.c
	const hot, readers, reads, creates = 100, 4, 3000, 2000
	for i := range hot {
		if _, err := c.GetOrCreate(fmt.Sprint("hot-", i), item("a")); err != nil {
			t.Fatal(err)
		}
	}
	var hits, misses atomic.Uint64
	var wg sync.WaitGroup
	for r := range readers {
		wg.Go(func() {
			for i := range reads {
				id := fmt.Sprint("hot-", (i*7+r)%hot)
				if i%10 == 0 {
					id = "absent"
				}
				if _, err := c.Get(id); err == nil {
					hits.Add(1)
				} else if IsNotFound(err) {
					misses.Add(1)
				} else {
					t.Error(err)
				}
				if i%100 == 0 {
					if _, err := c.Lookup(id); err == nil {
						hits.Add(1)
					} else {
						misses.Add(1)
					}
				}
			}
		})
	}
	wg.Go(func() {
		for i := range creates {
			if _, err := c.GetOrCreate(fmt.Sprint("new-", i), item("a")); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for i := range creates {
			_, _ = c.Modify(fmt.Sprint("hot-", i%hot), func(Item) (Item, error) { return item(fmt.Sprint(i)), nil }, false)
		}
	})
	wg.Wait()

	st := c.Stats()
	if st.Hits != hits.Load() || st.Misses != misses.Load() {
		t.Fatalf("stats count %d hits, %d misses; the readers saw %d, %d", st.Hits, st.Misses, hits.Load(), misses.Load())
	}
	if c.Len() != 300 {
		t.Fatalf("len %d, want the size bound 300", c.Len())
	}
	checkShards(t, c)
}

// checkShards checks that each shard's recency list holds exactly its
// index's entries, linked both ways, ordered by stamp (most recent first),
// with its tail's stamp published.
func checkShards(t *testing.T, c *AutoRefreshCache[Item]) {
	t.Helper()
	for i := range c.sh.s {
		s := &c.sh.s[i]
		s.mu.Lock()
		n := 0
		var prev *entry[Item]
		for e := s.head; e != nil; prev, e = e, e.next {
			if e.prev != prev {
				t.Errorf("shard %d: %q has a broken back link", i, e.id)
			}
			if prev != nil && prev.stamp < e.stamp {
				t.Errorf("shard %d: %q (stamp %d) after a less recent entry (stamp %d)", i, e.id, e.stamp, prev.stamp)
			}
			if got, ok := s.idx.get(maphash.String(s.seed, e.id), e.id); !ok || got != e {
				t.Errorf("shard %d: %q is listed but not indexed", i, e.id)
			}
			n++
		}
		if s.tail != prev {
			t.Errorf("shard %d: tail is not the list's last entry", i)
		}
		if n != s.idx.len() {
			t.Errorf("shard %d: %d listed, %d indexed", i, n, s.idx.len())
		}
		want := uint64(math.MaxUint64)
		if s.tail != nil {
			want = s.tail.stamp
		}
		if got := s.tails.Load(); got != want {
			t.Errorf("shard %d: published tail stamp %d, want %d", i, got, want)
		}
		s.mu.Unlock()
	}
}
