package replicated

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/api"
	"github.com/autorefresh/autorefresh/internal/exampleupstream"
	"github.com/autorefresh/autorefresh/internal/handlers"
	"github.com/autorefresh/autorefresh/internal/pgtest"
)

// The fault tests run a replica behind the real HTTP handlers, with clients
// creating and reading items and an upstream that changes every item at
// every sync, and inject a database fault while write-backs are under way.
// Each asserts that while the fault lasts every answer is a success or a
// 503 (never a 500, never a hang), that every acknowledged create is there
// afterwards, and that the replica serves and syncs again by itself once
// the fault clears.

// countingUpstream answers every item with an update that counts its syncs.
type countingUpstream struct{ calls atomic.Int64 }

func (u *countingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.calls.Add(1)
	var req struct {
		Items []struct {
			ID   string          `json:"id"`
			Data json.RawMessage `json:"data"`
		} `json:"items"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var entries []string
	for _, it := range req.Items {
		var d struct{ N int }
		_ = json.Unmarshal(it.Data, &d)
		entries = append(entries, fmt.Sprintf(`{"id": %q, "action": "update", "data": {"n": %d}}`, it.ID, d.N+1))
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"items": [`+strings.Join(entries, ",")+`]}`)
}

// faultRig is a replica served over HTTP, and the record of its answers.
type faultRig struct {
	t      *testing.T
	url    string
	svc    *Service
	base   string
	client *http.Client

	mu       sync.Mutex
	acked    []string       // ids whose create was answered 200 or 201
	statuses map[string]int // "POST 201", "GET 503", ...
	bad      []string       // answers that are neither a success nor a 503
}

// requestBound is how long a client waits for an answer before it calls the
// request hung.
const requestBound = 5 * time.Second

func newFaultRig(t *testing.T, url string, tweak func(*Options)) *faultRig {
	t.Helper()
	opts := testOptions(t, url)
	if tweak != nil {
		tweak(&opts)
	}
	s, _ := startService(t, opts)
	spec, err := api.Load()
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := handlers.NewServer(handlers.Deps{Service: s, Logger: zap.NewNop(), Registerer: reg, Gatherer: reg,
		Spec: spec, SpecYAML: api.Spec(), Ready: s.Ready})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	up := &countingUpstream{}
	usrv := httptest.NewServer(up)
	t.Cleanup(usrv.Close)
	r := &faultRig{t: t, url: url, svc: s, base: srv.URL, client: &http.Client{Timeout: requestBound},
		statuses: map[string]int{}}
	ctx := ctxFor(t, 30*time.Second)
	if _, err := s.Put(ctx, "jobs", testCfg(usrv.URL+"/sync", 20*time.Millisecond, time.Second)); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		r.create(fmt.Sprintf("seed%02d", i))
	}
	if len(r.acked) != 20 {
		t.Fatalf("seeding: %v", r.statuses)
	}
	return r
}

// do sends one request and records its answer.
func (r *faultRig) do(method, path, body string) (int, []byte) {
	req, _ := http.NewRequest(method, r.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		r.mu.Lock()
		r.bad = append(r.bad, fmt.Sprintf("%s %s: no answer after %s: %v", method, path, time.Since(start).Round(time.Millisecond), err))
		r.mu.Unlock()
		return 0, nil
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses[fmt.Sprintf("%s %d", method, resp.StatusCode)]++
	switch {
	case resp.StatusCode < 300, resp.StatusCode == http.StatusNotFound && method == http.MethodGet:
	case resp.StatusCode == http.StatusServiceUnavailable:
		if !strings.Contains(string(b), `"code":"UNAVAILABLE"`) {
			r.bad = append(r.bad, fmt.Sprintf("%s %s: a 503 that does not say UNAVAILABLE: %s", method, path, b))
		}
	default:
		r.bad = append(r.bad, fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, b))
	}
	return resp.StatusCode, b
}

func (r *faultRig) create(id string) int {
	code, _ := r.do(http.MethodPost, "/v1/caches/jobs/items", `{"id": "`+id+`", "data": {"n": 0}}`)
	if code == http.StatusCreated || code == http.StatusOK {
		r.mu.Lock()
		r.acked = append(r.acked, id)
		r.mu.Unlock()
	}
	return code
}

// load creates and reads items until ctx ends.
func (r *faultRig) load(ctx context.Context, prefix string) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				r.create(fmt.Sprintf("%s-%d-%d", prefix, w, i))
				r.do(http.MethodGet, fmt.Sprintf("/v1/caches/jobs/items/seed%02d", i%20), "")
				r.do(http.MethodGet, "/v1/caches/jobs/items?limit=5", "")
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	return &wg
}

// slowWriteBacks makes every write-back that releases a lease take d in
// the database, so that faults land while one is under way.
func slowWriteBacks(t *testing.T, url string, d time.Duration) {
	t.Helper()
	err := pgtest.Exec(ctxFor(t, 10*time.Second), url, fmt.Sprintf(`
		CREATE FUNCTION slow_write_back() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_sleep(%f); RETURN NEW; END $$;
		CREATE TRIGGER slow_write_back BEFORE UPDATE ON items FOR EACH ROW
			WHEN (OLD.lease_owner IS NOT NULL AND NEW.lease_owner IS NULL)
			EXECUTE FUNCTION slow_write_back();`, d.Seconds()/10))
	if err != nil {
		t.Fatal(err)
	}
}

// setStatementTimeout sets the database's statement_timeout for the
// connections made from now on.
func setStatementTimeout(t *testing.T, url, timeout string) {
	t.Helper()
	if err := pgtest.Exec(ctxFor(t, 10*time.Second), url,
		"DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET statement_timeout = %L', current_database(), '"+timeout+"'); END $$"); err != nil {
		t.Fatal(err)
	}
}

// writeBacksUnderWay waits until a write-back statement of the replica is
// running.
func (r *faultRig) writeBacksUnderWay(ctx context.Context) {
	r.t.Helper()
	waitUntil(r.t, "a write-back under way", 10*time.Second, func() bool {
		var n int
		err := r.svc.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND state = 'active' AND query LIKE '%lease_owner = NULL%'`,
			"autorefresh "+r.svc.ReplicaID()).Scan(&n)
		return err == nil && n > 0
	})
}

// syncedSince returns the sum of the seed items' sync counts.
func (r *faultRig) seedSyncs(ctx context.Context) int {
	var n int
	err := pgtest.QueryRow(ctx, r.url, `SELECT coalesce(sum((data->>'n')::int), 0) FROM items WHERE id LIKE 'seed%'`, &n)
	if err != nil {
		return -1
	}
	return n
}

// recovered checks, once the fault is over, that the replica serves and
// syncs again by itself, and that no acknowledged create was lost.
func (r *faultRig) recovered(ctx context.Context) {
	t := r.t
	t.Helper()
	waitUntil(t, "creates to succeed again", 15*time.Second, func() bool {
		return r.create(fmt.Sprintf("after-%d", time.Now().UnixNano())) == http.StatusCreated
	})
	before := r.seedSyncs(ctx)
	waitUntil(t, "syncs to go on", 15*time.Second, func() bool { return r.seedSyncs(ctx) > before+20 })
	r.mu.Lock()
	acked := append([]string(nil), r.acked...)
	bad := append([]string(nil), r.bad...)
	statuses := fmt.Sprint(r.statuses)
	r.mu.Unlock()
	t.Logf("answers: %s", statuses)
	if len(bad) > 0 {
		t.Fatalf("%d answers were neither a success nor a clear 503, e.g. %q", len(bad), bad[:min(len(bad), 5)])
	}
	lost := 0
	for _, id := range acked {
		if code, body := r.do(http.MethodGet, "/v1/caches/jobs/items/"+id, ""); code != http.StatusOK {
			lost++
			if lost < 5 {
				t.Errorf("acknowledged item %s: %d %s", id, code, body)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged creates lost", lost, len(acked))
	}
	t.Logf("%d acknowledged creates, all there", len(acked))
}

// TestFaultConnectionsDroppedMidBatch: the replica's connections are
// terminated (pg_terminate_backend) again and again for a second, while
// write-backs are under way.
func TestFaultConnectionsDroppedMidBatch(t *testing.T) {
	url := pgtest.NewDB(t)
	r := newFaultRig(t, url, nil)
	slowWriteBacks(t, url, 50*time.Millisecond)
	ctx := ctxFor(t, 60*time.Second)
	loadCtx, stopLoad := context.WithCancel(ctx)
	wg := r.load(loadCtx, "drop")
	r.writeBacksUnderWay(ctx)
	killed := 0
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		var n int
		if err := pgtest.QueryRow(ctx, url, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = $1`, &n, "autorefresh "+r.svc.ReplicaID()); err != nil {
			t.Fatal(err)
		}
		killed += n
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d connections terminated", killed)
	if killed == 0 {
		t.Fatal("no connection of the replica was terminated")
	}
	r.recovered(ctx)
	stopLoad()
	wg.Wait()
}

// TestFaultStatementTimeout: a lock held on the items table makes every
// statement of the replica run into the database's statement_timeout for a
// second; the clients get 503s in about that time, not a hang.
func TestFaultStatementTimeout(t *testing.T) {
	url := pgtest.NewDB(t)
	setStatementTimeout(t, url, "300ms")
	r := newFaultRig(t, url, nil)
	// 1 ms a row: a full batch of 100 takes about 100 ms, well within the
	// timeout once the lock is gone. At 5 ms a row it took 500 ms, so a
	// full batch never got written back, fault or not.
	slowWriteBacks(t, url, 10*time.Millisecond)
	ctx := ctxFor(t, 60*time.Second)
	loadCtx, stopLoad := context.WithCancel(ctx)
	wg := r.load(loadCtx, "timeout")
	r.writeBacksUnderWay(ctx)
	locked := make(chan struct{})
	release := make(chan struct{})
	go func() {
		err := pgtest.InTx(ctx, url, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "LOCK TABLE items IN ACCESS EXCLUSIVE MODE"); err != nil {
				return err
			}
			close(locked)
			<-release
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}()
	<-locked
	unavailable := func() int {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.statuses["POST 503"] + r.statuses["GET 503"]
	}
	before := unavailable()
	time.Sleep(time.Second) // the fault lasts a second
	close(release)
	if unavailable() == before {
		t.Fatal("no 503 while every statement timed out")
	}
	r.recovered(ctx)
	stopLoad()
	wg.Wait()
}

// TestFaultDatabaseRestartedDuringWriteBack: the server stops at once (as
// in a crash) while write-backs are under way, stays down for a second and
// starts again on the same data and port.
func TestFaultDatabaseRestartedDuringWriteBack(t *testing.T) {
	c := pgtest.Own(t)
	ctx := ctxFor(t, 90*time.Second)
	url, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := newFaultRig(t, url, nil)
	slowWriteBacks(t, url, 50*time.Millisecond)
	loadCtx, stopLoad := context.WithCancel(ctx)
	wg := r.load(loadCtx, "restart")
	r.writeBacksUnderWay(ctx)
	if err := c.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	// While it is down, the API answers 503 at once, and so does /readyz.
	for time.Since(down) < time.Second {
		if code, _ := r.do(http.MethodGet, "/v1/caches/jobs/items/seed00", ""); code != http.StatusServiceUnavailable {
			t.Errorf("GET with the database down: %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := r.svc.Ready(); err == nil {
		t.Error("ready with the database down")
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.recovered(ctx)
	if err := r.svc.Ready(); err != nil {
		t.Errorf("not ready after the restart: %v", err)
	}
	stopLoad()
	wg.Wait()
}

// TestWriteBackTooSlowForTheStatementTimeoutIsSplit: a batch whose
// write-back takes longer than the database's statement_timeout (50 rows
// at 10 ms each against 300 ms) is written in halves until each part fits,
// instead of being cancelled again and again until its lease lapses.
func TestWriteBackTooSlowForTheStatementTimeoutIsSplit(t *testing.T) {
	url := pgtest.NewDB(t)
	ctx := ctxFor(t, 60*time.Second)
	setStatementTimeout(t, url, "300ms")
	up, err := exampleupstream.New(exampleupstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	s, _ := startService(t, testOptions(t, url)) // makes the schema
	slowWriteBacks(t, url, 100*time.Millisecond) // 10 ms a row
	cfg := testCfg(srv.URL+"/sync", time.Hour, 10*time.Second)
	off := false
	cfg.BatchSize, cfg.SyncOnCreate = 50, &off
	if _, err := s.Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: fmt.Sprintf("i%02d", i), Data: json.RawMessage(`{"status": "Not-started"}`), Terminal: false}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(ctx, "jobs"); err != nil { // all 50 due at once: one batch
		t.Fatal(err)
	}
	waitUntil(t, "every item's first sync written back", 15*time.Second, func() bool {
		var synced int
		err := pgtest.QueryRow(ctx, url, "SELECT count(*) FROM items WHERE cache = 'jobs' AND version >= 2", &synced)
		return err == nil && synced == n
	})
}
