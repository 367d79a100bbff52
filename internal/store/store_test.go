package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func rec(id string, v int64, terminal bool) *record.Record {
	now := time.Unix(1_700_000_000+v, 0).UTC()
	return &record.Record{ID: id, Data: json.RawMessage(fmt.Sprintf(`{"v":%d}`, v)), Terminal: terminal, Version: v, CreatedAt: now, UpdatedAt: now}
}

// runJournal starts a journal on a Bolt store in dir and returns a stop
// function that drains it and closes the store.
func runJournal(t *testing.T, dir string) (*Journal, func()) {
	t.Helper()
	db, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	j := NewJournal(db, zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	go j.Run(ctx)
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-j.Done()
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	return j, stop
}

func load(t *testing.T, dir string) map[string]CacheState {
	t.Helper()
	db, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	states, err := db.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]CacheState{}
	for _, s := range states {
		out[s.Name] = s
	}
	return out
}

func TestJournalRoundTrip(t *testing.T) {
	dir := t.TempDir()
	j, stop := runJournal(t, dir)
	wait := func(seq uint64) {
		t.Helper()
		if err := j.Wait(seq); err != nil {
			t.Fatal(err)
		}
	}
	wait(j.AppendCache("jobs", json.RawMessage(`{"webhook":{"url":"http://x/","secret":"whsec_abc"}}`)))
	wait(j.AppendCache("gone", json.RawMessage(`{}`)))
	j.Append(cache.Change[*record.Record]{Kind: cache.ChangePut, Cache: "jobs", ID: "a", Item: rec("a", 1, false)})
	j.Append(cache.Change[*record.Record]{Kind: cache.ChangePut, Cache: "jobs", ID: "a", Item: rec("a", 2, true), SyncedAt: time.Unix(5, 0)})
	j.Append(cache.Change[*record.Record]{Kind: cache.ChangePut, Cache: "jobs", ID: "b", Item: rec("b", 1, false)})
	j.Append(cache.Change[*record.Record]{Kind: cache.ChangeMarkDelete, Cache: "jobs", ID: "b"})
	j.Append(cache.Change[*record.Record]{Kind: cache.ChangePut, Cache: "jobs", ID: "c", Item: rec("c", 1, false)})
	j.Append(cache.Change[*record.Record]{Kind: cache.ChangeDelete, Cache: "jobs", ID: "c"})
	j.Append(cache.Change[*record.Record]{Kind: cache.ChangePut, Cache: "gone", ID: "x", Item: rec("x", 1, false)})
	wait(j.AppendDeleteCache("gone"))
	stop()

	got := load(t, dir)
	if _, ok := got["gone"]; ok || len(got) != 1 {
		t.Fatalf("caches %v", got)
	}
	jobs := got["jobs"]
	if !strings.Contains(string(jobs.Config), "whsec_abc") {
		t.Fatal("the secret was not kept")
	}
	items := map[string]Item{}
	for _, it := range jobs.Items {
		items[it.ID] = it
	}
	if a := items["a"]; a.Version != 2 || !a.Terminal || a.SyncedAt == nil || string(a.Data) != `{"v":2}` {
		t.Fatalf("a = %+v", a)
	}
	if b := items["b"]; !b.PendingDelete {
		t.Fatalf("b lost its pending delete: %+v", b)
	}
	if _, ok := items["c"]; ok || len(items) != 2 {
		t.Fatalf("items %v", items)
	}
	info, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("data file mode %v (%v), want 0600", info.Mode().Perm(), err)
	}
}

// countingStore counts the transactions a journal commits.
type countingStore struct {
	Store
	mu      sync.Mutex
	applies int
}

func (c *countingStore) Apply(ctx context.Context, b []Mutation) error {
	c.mu.Lock()
	c.applies++
	c.mu.Unlock()
	return c.Store.Apply(ctx, b)
}

func TestJournalGroupsConcurrentWrites(t *testing.T) {
	db, err := OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cs := &countingStore{Store: db}
	j := NewJournal(cs, zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	go j.Run(ctx)
	defer func() { cancel(); <-j.Done() }()

	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 100 {
				id := fmt.Sprintf("%d-%d", w, i)
				if err := j.Wait(j.Append(cache.Change[*record.Record]{Kind: cache.ChangePut, Cache: "c", ID: id, Item: rec(id, 1, false)})); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// 800 acknowledged writes from 8 writers that each wait for their own:
	// with group commit they share transactions.
	t.Logf("800 writes in %d commits", cs.applies)
	if cs.applies >= 800 {
		t.Fatalf("%d commits for 800 concurrent writes: no grouping", cs.applies)
	}
}

func TestWaitAfterCloseFails(t *testing.T) {
	j, stop := runJournal(t, t.TempDir())
	seq := j.Append(cache.Change[*record.Record]{Kind: cache.ChangePut, Cache: "c", ID: "a", Item: rec("a", 1, false)})
	if err := j.Wait(seq); err != nil {
		t.Fatal(err)
	}
	stop()
	late := j.Append(cache.Change[*record.Record]{Kind: cache.ChangePut, Cache: "c", ID: "b", Item: rec("b", 1, false)})
	if err := j.Wait(late); errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("a change after close was acknowledged: %v", err)
	}
}

func TestCorruptOrTruncatedFileStopsTheStart(t *testing.T) {
	for name, damage := range map[string]func(path string){
		"garbage": func(p string) {
			os.WriteFile(p, []byte(strings.Repeat("not a database ", 500)), 0o600)
		},
		"truncated": func(p string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/3], 0o600)
		},
		"zeroed meta": func(p string) {
			b, _ := os.ReadFile(p)
			for i := 0; i < 2*4096 && i < len(b); i++ {
				b[i] = 0
			}
			os.WriteFile(p, b, 0o600)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			j, stop := runJournal(t, dir)
			j.Wait(j.AppendCache("jobs", json.RawMessage(`{}`)))
			for i := range 200 {
				id := fmt.Sprint(i)
				j.Append(cache.Change[*record.Record]{Kind: cache.ChangePut, Cache: "jobs", ID: id, Item: rec(id, 1, false)})
			}
			j.Wait(j.AppendCache("jobs", json.RawMessage(`{}`)))
			stop()
			path := filepath.Join(dir, FileName)
			damage(path)
			db, err := OpenBolt(dir)
			if err == nil {
				_, err = db.Load(context.Background())
				db.Close()
			}
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("damaged file accepted or error without the file name: %v", err)
			}
		})
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	runJournal(t, dir)
	if _, err := OpenBolt(dir); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("a second server on the same data dir: %v", err)
	}
}
