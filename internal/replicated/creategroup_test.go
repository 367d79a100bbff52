package replicated

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/pgtest"
)

// TestCreateGrouped: many single creates at once, of ids of their own and
// of ids they share, are written in groups; each id is created exactly
// once, every create is answered with its item, and every item is there.
func TestCreateGrouped(t *testing.T) {
	url := pgtest.NewDB(t)
	s, _ := startService(t, testOptions(t, url))
	ctx := ctxFor(t, time.Minute)
	cfg := testCfg("http://127.0.0.1:9/sync", time.Hour, 5*time.Second)
	off := false
	cfg.SyncOnCreate = &off // versions stay 1
	if _, err := s.Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	const clients, each = 32, 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created = map[string]int{}
		errList []error
	)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range each {
				id := fmt.Sprintf("own-%d-%d", c, k)
				if k%2 == 1 {
					id = fmt.Sprintf("shared-%d", k)
				}
				it, isNew, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: id, Data: json.RawMessage(`{"k": 1}`)})
				mu.Lock()
				switch {
				case err != nil:
					errList = append(errList, err)
				case it.ID != id || it.Version != 1:
					errList = append(errList, fmt.Errorf("create of %s answered %s v%d", id, it.ID, it.Version))
				case isNew:
					created[id]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errList) > 0 {
		t.Fatalf("%d creates failed, first: %v", len(errList), errList[0])
	}
	want := clients*each/2 + each/2
	if len(created) != want {
		t.Fatalf("%d ids created, want %d", len(created), want)
	}
	for id, n := range created {
		if n != 1 {
			t.Fatalf("%s created %d times", id, n)
		}
	}
	var rows int
	if err := pgtest.QueryRow(ctx, url, "SELECT count(*) FROM items WHERE cache = 'jobs'", &rows); err != nil || rows != want {
		t.Fatalf("%d rows (%v), want %d", rows, err, want)
	}
}
