package replicated

import (
	"context"
	"encoding/json"
	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/pgtest"
)

// leaseOf reads an item's lease holder and epoch.
func leaseOf(t *testing.T, s *Service, cacheName, id string) (owner *string, epoch int64) {
	t.Helper()
	err := s.pool.QueryRow(ctxFor(t, 10*time.Second), "SELECT lease_owner, epoch FROM items WHERE cache = $1 AND id = $2",
		cacheName, id).Scan(&owner, &epoch)
	if err != nil {
		t.Fatal(err)
	}
	return owner, epoch
}

// TestLateWriteForARecreatedItemIsRejected: A claims x, x is deleted and
// removed, x is created again and B claims it; A's late write-back must not
// land on the new x, nor release B's lease. The same holds when it is the
// cache that is deleted and registered again under the same name.
func TestLateWriteForARecreatedItemIsRejected(t *testing.T) {
	for _, how := range []string{"item", "cache"} {
		t.Run(how, func(t *testing.T) {
			url := pgtest.NewDB(t)
			a, b := newService(t, url), newService(t, url)
			ctx := ctxFor(t, 30*time.Second)
			cfg := testCfg("http://127.0.0.1:1/sync", time.Hour, time.Second)
			if _, err := a.Put(ctx, "jobs", cfg); err != nil {
				t.Fatal(err)
			}
			if _, _, err := a.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "x", Data: json.RawMessage(`{"life": 1}`), Terminal: false}); err != nil {
				t.Fatal(err)
			}
			wA, batchA := claimN(t, ctx, a, 1, cfg, 1)

			switch how {
			case "item":
				if _, err := b.DeleteItem(ctx, "jobs", "x"); err != nil {
					t.Fatal(err)
				}
				// The deletion pass, as the next cycle runs it.
				if err := pgtest.Exec(ctx, url, "UPDATE caches SET housekept_at = now() - interval '2 hours'"); err != nil {
					t.Fatal(err)
				}
				if err := wA.housekeep(ctx); err != nil {
					t.Fatal(err)
				}
			case "cache":
				if err := b.Delete(ctx, "jobs"); err != nil {
					t.Fatal(err)
				}
				if _, err := b.Put(ctx, "jobs", cfg); err != nil {
					t.Fatal(err)
				}
			}
			if _, created, err := b.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "x", Data: json.RawMessage(`{"life": 2}`), Terminal: false}); err != nil || !created {
				t.Fatalf("x created again: %v, %v", created, err)
			}
			_, batchB := claimN(t, ctx, b, 2, cfg, 1)
			if batchB[0].epoch == batchA[0].epoch {
				t.Errorf("the new x was claimed under epoch %d, the old x's lease's epoch", batchB[0].epoch)
			}

			// A's call about the old x returns now.
			wA.writeBack(context.Background(), batchA, update(batchA[0], `{"by": "A"}`), true, false, time.Now())
			it, err := b.GetItem(ctx, "jobs", "x")
			if err != nil {
				t.Fatal(err)
			}
			if it.Version != 1 || !jsonIs(it.Data, `{"life": 2}`) || it.SyncedAt != nil {
				t.Fatalf("A's late write for the old x landed on the new x: %+v", *it.Record)
			}
			if owner, _ := leaseOf(t, b, "jobs", "x"); owner == nil || *owner != b.ReplicaID() {
				t.Fatalf("B's lease on the new x was released by A's late write (owner %v)", owner)
			}
		})
	}
}

// TestWriteBackRetryAppliesOnce: a write-back whose commit went through but
// whose answer was lost (the connection dropped) is retried; the retry must
// not apply the update a second time.
func TestWriteBackRetryAppliesOnce(t *testing.T) {
	url := pgtest.NewDB(t)
	s := newService(t, url)
	ctx := ctxFor(t, 30*time.Second)
	cfg := testCfg("http://127.0.0.1:1/sync", time.Hour, time.Second)
	if _, err := s.Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "x", Data: json.RawMessage(`{}`), Terminal: false}); err != nil {
		t.Fatal(err)
	}
	w, batch := claimN(t, ctx, s, 1, cfg, 1)
	items := []wbItem{{id: "x", epoch: batch[0].epoch, after: resyncAfter,
		rec: batch[0].rec.Next(json.RawMessage(`{"n": 1}`), false, time.Now())}}
	for attempt, want := range []int{1, 0} {
		n, err := w.apply(items, true, false)
		if err != nil || n != want {
			t.Fatalf("attempt %d wrote %d rows (%v), want %d", attempt, n, err, want)
		}
	}
	it, err := s.GetItem(ctx, "jobs", "x")
	if err != nil || it.Version != 2 {
		t.Fatalf("after a retried write-back: %+v, %v", it.Record, err)
	}
}
