package replicated

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/exampleupstream"
	"github.com/autorefresh/autorefresh/internal/pgtest"
)

// orderRecorder keeps each item's events as one replica reports them, and
// checks at each event that what it reports is already committed.
type orderRecorder struct {
	conn *pgx.Conn // OnEvent runs on one goroutine

	mu        sync.Mutex
	events    map[string][]string // by id: "created v1", "updated v2", ...
	versions  map[string][]int64
	premature []string
}

func (r *orderRecorder) onEvent(_ string, ev autorefresh.Event) {
	var v int64
	if rec := ev.Item; rec != nil {
		v = rec.Version
		// Read on a connection of its own: the event must not be ahead
		// of what every reader can see.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var committed int64
		err := r.conn.QueryRow(ctx, "SELECT version FROM items WHERE id = $1", ev.ID).Scan(&committed)
		cancel()
		if err != nil || committed < v {
			r.mu.Lock()
			r.premature = append(r.premature, fmt.Sprintf("%s %s v%d (committed v%d, %v)", ev.ID, ev.Type, v, committed, err))
			r.mu.Unlock()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events[ev.ID] = append(r.events[ev.ID], fmt.Sprintf("%s v%d", ev.Type, v))
	r.versions[ev.ID] = append(r.versions[ev.ID], v)
}

// TestEventOrderPerItem: on every replica, each item's events come in the
// order of its changes (created first, then its updates by rising version)
// and none is reported before its change is committed, for items small
// enough to travel in the notification and for larger ones, re-read.
func TestEventOrderPerItem(t *testing.T) {
	url := pgtest.NewDB(t)
	up, err := exampleupstream.New(exampleupstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	var reps []*Service
	var recs []*orderRecorder
	for range 2 {
		conn, err := pgx.Connect(ctxFor(t, 10*time.Second), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		r := &orderRecorder{conn: conn, events: map[string][]string{}, versions: map[string][]int64{}}
		opts := testOptions(t, url)
		opts.OnEvent = r.onEvent
		s, _ := startService(t, opts)
		reps, recs = append(reps, s), append(recs, r)
	}
	a := reps[0]
	ctx := ctxFor(t, 60*time.Second)
	cfg := testCfg(srv.URL+"/sync", 50*time.Millisecond, time.Second)
	if _, err := a.Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	const n = 30
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pad := ""
			if i%2 == 1 {
				pad = strings.Repeat("x", 8000) // too large for the notification
			}
			data := json.RawMessage(fmt.Sprintf(`{"status": "Not-started", "pad": %q}`, pad))
			if _, _, err := reps[i%2].CreateItem(ctx, "jobs", autorefresh.NewItem{ID: fmt.Sprintf("i%02d", i), Data: data, Terminal: false}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, r := range recs {
		waitUntil(t, "every item's terminal update", 20*time.Second, func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			done := 0
			for _, vs := range r.versions {
				if len(vs) > 0 && vs[len(vs)-1] == 3 {
					done++
				}
			}
			return done == n
		})
	}
	for ri, r := range recs {
		r.mu.Lock()
		if len(r.premature) > 0 {
			t.Errorf("replica %d reported changes before they were committed: %v", ri, r.premature)
		}
		for id, evs := range r.events {
			if !strings.HasPrefix(evs[0], "created") {
				t.Errorf("replica %d, %s: first event %q, want created: %v", ri, id, evs[0], evs)
			}
			vs := r.versions[id]
			for k := 1; k < len(evs); k++ {
				if strings.HasPrefix(evs[k], "created") || vs[k] < vs[k-1] {
					t.Errorf("replica %d, %s: events out of order: %v", ri, id, evs)
					break
				}
			}
		}
		r.mu.Unlock()
	}
}
