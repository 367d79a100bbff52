package replicated

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/autorefresh/autorefresh/internal/pgtest"
)

// buildServer compiles cmd/server into a temporary directory.
func buildServer(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "autorefresh")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/autorefresh/autorefresh/cmd/server")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// replica is the server running as a subprocess in PostgreSQL mode.
type replica struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	addr   string
	id     string // its lease_owner
	exited chan struct{}
	http   *http.Client
	logf   string
}

func startReplica(t testing.TB, bin, url, name string, extra ...string) *replica {
	t.Helper()
	r := &replica{t: t, name: name, exited: make(chan struct{}), http: &http.Client{Timeout: 5 * time.Second},
		logf: filepath.Join(t.TempDir(), name+".log")}
	args := []string{"--addr", "127.0.0.1:0", "--allow-webhook-cidrs", "127.0.0.0/8", "--shutdown-timeout", "2s"}
	if url != "" {
		args = append(args, "--postgres", url)
	}
	r.cmd = exec.Command(bin, append(args, extra...)...)
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(r.logf)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd.Stderr = logFile
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan [2]string, 1)
	go func() {
		defer logFile.Close()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var id string
		for sc.Scan() {
			if !strings.Contains(sc.Text(), `"msg":"request"`) { // the access log is noise here
				fmt.Fprintln(logFile, sc.Text())
			}
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			switch l["msg"] {
			case "state is in PostgreSQL":
				id, _ = l["replica"].(string)
			case "listening":
				a, _ := l["addr"].(string)
				ready <- [2]string{a, id}
			}
		}
	}()
	go func() {
		_ = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGCONT)
		_ = r.cmd.Process.Kill()
		<-r.exited
		r.http.CloseIdleConnections()
		if t.Failed() {
			b, _ := os.ReadFile(r.logf)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("log of %s (%s):\n%s", r.name, r.id, b)
		}
	})
	select {
	case v := <-ready:
		r.addr, r.id = v[0], v[1]
		if r.id == "" && url != "" {
			t.Fatalf("%s did not say its replica id", name)
		}
		return r
	case <-r.exited:
		b, _ := os.ReadFile(r.logf)
		t.Fatalf("%s exited at start:\n%s", name, b)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start", name)
	}
	return nil
}

// do sends a request; status 0 means the request itself failed.
func (r *replica) do(method, path, body string) (int, map[string]any) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+r.addr+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := r.http.Do(req)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return res.StatusCode, m
}

// metric sums the samples of a metric whose labels include match.
func (r *replica) metric(name, match string) float64 {
	res, err := r.http.Get("http://" + r.addr + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	sum := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		if !(strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ")) || !strings.Contains(line, match) {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		sum += v
	}
	return sum
}

// recUpstream is the one upstream of the replicas: it answers every item
// with {"n": version+1} (terminal at version 4 for ids "t-...", 3 for
// "f-..."), and records what must never happen: an id in two calls at once,
// a call about an item after it was made terminal or after its deletion.
type recUpstream struct {
	mu         sync.Mutex
	active     map[string]bool
	calls      map[string][]time.Time
	terminal   map[string]bool
	forbidden  map[string]bool
	violations []string
	delay      time.Duration
	freeze     chan struct{} // while non-nil, /jobs calls wait until it is closed
	fenceHold  chan struct{} // the first /fence call waits until it is closed
	fenceIn    chan struct{} // closed when the first /fence call arrives
	fenceCalls int
}

func newRecUpstream() *recUpstream {
	return &recUpstream{active: map[string]bool{}, calls: map[string][]time.Time{}, terminal: map[string]bool{},
		forbidden: map[string]bool{}, delay: 40 * time.Millisecond,
		fenceHold: make(chan struct{}), fenceIn: make(chan struct{})}
}

func (u *recUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Items []struct {
			ID      string `json:"id"`
			Version int64  `json:"version"`
		} `json:"items"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	u.mu.Lock()
	for _, it := range req.Items {
		if u.active[it.ID] {
			u.violations = append(u.violations, "in two calls at once: "+it.ID)
		}
		if u.terminal[it.ID] {
			u.violations = append(u.violations, "synced after it was terminal: "+it.ID)
		}
		if u.forbidden[it.ID] {
			u.violations = append(u.violations, "synced after its deletion: "+it.ID)
		}
		u.active[it.ID] = true
		u.calls[it.ID] = append(u.calls[it.ID], now)
	}
	freeze := u.freeze
	first := r.URL.Path == "/fence" && u.fenceCalls == 0
	if r.URL.Path == "/fence" {
		u.fenceCalls++
	}
	u.mu.Unlock()

	switch {
	case first:
		close(u.fenceIn)
		select {
		case <-u.fenceHold:
		case <-time.After(30 * time.Second):
		}
	case r.URL.Path == "/jobs" && freeze != nil:
		<-freeze
	default:
		time.Sleep(u.delay)
	}

	type result struct {
		ID       string          `json:"id"`
		Action   string          `json:"action"`
		Data     json.RawMessage `json:"data"`
		Terminal bool            `json:"terminal"`
	}
	var out struct {
		Items []result `json:"items"`
	}
	u.mu.Lock()
	for _, it := range req.Items {
		delete(u.active, it.ID)
		n := it.Version + 1
		term := (strings.HasPrefix(it.ID, "t-") && n >= 4) || (strings.HasPrefix(it.ID, "f-") && n >= 3)
		out.Items = append(out.Items, result{ID: it.ID, Action: "update", Data: json.RawMessage(`{"n": ` + strconv.FormatInt(n, 10) + `}`), Terminal: term})
		// The answer may never be applied (a dead or fenced replica); a
		// call after it would then be legitimate. Mark it terminal only
		// when it is written: see markTerminal.
	}
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (u *recUpstream) markTerminal(id string) {
	u.mu.Lock()
	u.terminal[id] = true
	u.mu.Unlock()
}

func (u *recUpstream) forbid(id string) {
	u.mu.Lock()
	u.forbidden[id] = true
	u.mu.Unlock()
}

func (u *recUpstream) callsOf(id string) []time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]time.Time(nil), u.calls[id]...)
}

func (u *recUpstream) check(t *testing.T) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.violations) > 0 {
		t.Fatalf("upstream saw %d violations, first ones: %v", len(u.violations), u.violations[:min(10, len(u.violations))])
	}
}

func pollUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processStopped reports whether every thread of pid is stopped by a signal:
// /proc/pid/stat's state is T for the process, and so for each of its tasks.
func processStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return false
		}
		// The state follows the command name, which is in parentheses and
		// may itself hold spaces or parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' && b[i+2] != 't' {
			return false
		}
	}
	return true
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

// TestReplicasAsProcesses runs three servers in PostgreSQL mode against one
// upstream and checks: no item is ever in two concurrent calls; a replica
// killed with SIGKILL has its leased items synced by the others within
// resyncPeriod + lease TTL; a paused replica's late results are fenced off;
// terminal and deleted items never come back; and a PostgreSQL crash
// (stop -m immediate, then start) loses no acknowledged write, while writes
// during the outage get 503.
func TestReplicasAsProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server and runs it as subprocesses")
	}
	pgtest.SkipIfUnavailable(t)
	cl := pgtest.Own(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	url, err := cl.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bin := buildServer(t)
	up := newRecUpstream()
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	defer func() {
		up.mu.Lock()
		if up.freeze != nil {
			close(up.freeze)
			up.freeze = nil
		}
		up.mu.Unlock()
	}()
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	reps := []*replica{startReplica(t, bin, url, "r0"), startReplica(t, bin, url, "r1"), startReplica(t, bin, url, "r2")}
	const resync, leaseTTL = 500 * time.Millisecond, 2 * time.Second
	if st, m := reps[0].do("PUT", "/v1/caches/jobs", `{"webhook": {"url": "`+srv.URL+`/jobs", "timeout": "1s"},
		"resyncPeriod": "500ms", "batchSize": 5, "parallelism": 4}`); st != http.StatusCreated {
		t.Fatalf("PUT: %d %v", st, m)
	}
	for _, r := range reps {
		if st, _ := r.do("GET", "/v1/caches/jobs", ""); st != http.StatusOK {
			t.Fatalf("%s does not see the cache: %d", r.name, st)
		}
	}
	acked := map[string]bool{}
	create := func(r *replica, id string) {
		t.Helper()
		st, m := r.do("POST", "/v1/caches/jobs/items", `{"id": "`+id+`", "data": {"n": 1}}`)
		if st != http.StatusCreated {
			t.Fatalf("create %s on %s: %d %v", id, r.name, st, m)
		}
		acked[id] = true
	}
	for i := range 45 {
		create(reps[i%3], fmt.Sprintf("c-%02d", i))
	}
	for i := range 15 {
		create(reps[i%3], fmt.Sprintf("t-%02d", i))
	}

	// Phase 1: the three share the work; terminal items stop.
	pollUntil(t, "every t- item terminal and every c- item synced 3 times", 30*time.Second, func() bool {
		for id := range acked {
			if strings.HasPrefix(id, "c-") && len(up.callsOf(id)) < 3 {
				return false
			}
		}
		for i := range 15 {
			id := fmt.Sprintf("t-%02d", i)
			st, m := reps[i%3].do("GET", "/v1/caches/jobs/items/"+id, "")
			if st != http.StatusOK || m["terminal"] != true {
				return false
			}
			if num(m["version"]) != 4 {
				t.Fatalf("%s terminal at version %v", id, m["version"])
			}
			up.markTerminal(id)
		}
		return true
	})
	up.check(t)
	for _, r := range reps {
		if c := r.metric("autorefresh_lease_claims_total", `cache="jobs"`); c <= 0 {
			t.Errorf("%s claimed nothing", r.name)
		}
	}

	// Phase 2: SIGKILL a replica while it holds leases. The upstream holds
	// the /jobs calls until the victim has some under way.
	victim := reps[2]
	up.mu.Lock()
	up.freeze = make(chan struct{})
	up.mu.Unlock()
	var leased []string
	pollUntil(t, "the victim to hold leases in calls", 10*time.Second, func() bool {
		rows, err := db.Query(ctx, "SELECT id FROM items WHERE lease_owner = $1", victim.id)
		if err != nil {
			t.Fatal(err)
		}
		leased = leased[:0]
		for rows.Next() {
			var id string
			_ = rows.Scan(&id)
			leased = append(leased, id)
		}
		return rows.Err() == nil && len(leased) > 0
	})
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-victim.exited
	killedAt := time.Now()
	up.mu.Lock()
	close(up.freeze)
	up.freeze = nil
	up.mu.Unlock()
	var stillLeased []string
	rows, err := db.Query(ctx, "SELECT id FROM items WHERE lease_owner = $1", victim.id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		stillLeased = append(stillLeased, id)
	}
	if len(stillLeased) == 0 {
		t.Fatal("the killed replica held no lease")
	}
	bound := resync + leaseTTL
	var slowest time.Duration
	for _, id := range stillLeased {
		pollUntil(t, "the dead replica's item "+id+" to be synced by the others", bound+3*time.Second, func() bool {
			for _, c := range up.callsOf(id) {
				if c.After(killedAt) {
					slowest = max(slowest, c.Sub(killedAt))
					var owner *string
					var synced *time.Time
					if err := db.QueryRow(ctx, "SELECT lease_owner, synced_at FROM items WHERE cache = 'jobs' AND id = $1", id).
						Scan(&owner, &synced); err != nil {
						t.Fatal(err)
					}
					return synced != nil && synced.After(killedAt) && (owner == nil || *owner != victim.id)
				}
			}
			return false
		})
	}
	t.Logf("%d items leased by the killed replica; the last was called again %s after the kill (bound %s)",
		len(stillLeased), slowest.Round(time.Millisecond), bound)
	// By design the items are due when their lease lapses, at most a lease
	// TTL after the kill, and claimed within a poll interval; the 500ms is
	// slack for a loaded test machine.
	if slowest > bound+500*time.Millisecond {
		t.Errorf("the dead replica's items took %s to be synced again, more than resyncPeriod + lease TTL = %s", slowest, bound)
	}
	pollUntil(t, "the lease expiries counted", 5*time.Second, func() bool {
		return reps[0].metric("autorefresh_lease_expiries_total", `cache="jobs"`)+
			reps[1].metric("autorefresh_lease_expiries_total", `cache="jobs"`) >= float64(len(stillLeased))
	})
	up.check(t)
	reps[2] = startReplica(t, bin, url, "r3") // a new replica joins

	// Phase 3: deletions, carried out by whichever replica's cycle comes
	// first; a deleted item is never synced again.
	for i := range 45 {
		id := fmt.Sprintf("c-%02d", i)
		st, m := reps[i%3].do("DELETE", "/v1/caches/jobs/items/"+id, "")
		if st != http.StatusAccepted || m["pendingDelete"] != true {
			t.Fatalf("delete %s: %d %v", id, st, m)
		}
		delete(acked, id)
	}
	for i := range 45 {
		id := fmt.Sprintf("c-%02d", i)
		pollUntil(t, "deletion of "+id, 10*time.Second, func() bool {
			st, _ := reps[(i+1)%3].do("GET", "/v1/caches/jobs/items/"+id, "")
			return st == http.StatusNotFound
		})
		up.forbid(id)
	}

	// Phase 4: a paused replica (SIGSTOP) whose lease lapses: another one
	// takes the item over, and the paused one's late result is rejected
	// and counted when it wakes up.
	// A longer timeout (3s, so a 6s lease) leaves the test time to pause
	// the holder before its held call could time out, even on a busy machine.
	const fenceLease = 6 * time.Second
	if st, m := reps[0].do("PUT", "/v1/caches/fence", `{"webhook": {"url": "`+srv.URL+`/fence", "timeout": "3s"},
		"resyncPeriod": "500ms", "batchSize": 1, "parallelism": 1}`); st != http.StatusCreated {
		t.Fatalf("PUT fence: %d %v", st, m)
	}
	if st, m := reps[1].do("POST", "/v1/caches/fence/items", `{"id": "f-1"}`); st != http.StatusCreated {
		t.Fatalf("create f-1: %d %v", st, m)
	}
	select {
	case <-up.fenceIn:
	case <-time.After(10 * time.Second):
		t.Fatal("f-1 was never synced")
	}
	var holderID string
	if err := db.QueryRow(ctx, "SELECT lease_owner FROM items WHERE cache = 'fence'").Scan(&holderID); err != nil {
		t.Fatal(err)
	}
	var holder *replica
	for _, r := range reps {
		if r.id == holderID {
			holder = r
		}
	}
	if holder == nil {
		t.Fatalf("f-1 leased by an unknown replica %q", holderID)
	}
	if err := holder.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// kill(2) returns once the signal is queued, not once every thread of
	// the target has stopped; a thread already on the other core can still
	// read the answer released below. Wait until the kernel reports the
	// whole process stopped.
	pollUntil(t, "the holder to be stopped", 5*time.Second, func() bool { return processStopped(holder.cmd.Process.Pid) })
	pausedAt := time.Now()
	var owner string
	if err := db.QueryRow(ctx, "SELECT lease_owner FROM items WHERE cache = 'fence'").Scan(&owner); err != nil || owner != holderID {
		t.Fatalf("f-1's lease moved before its holder was paused: %q, %v", owner, err)
	}
	close(up.fenceHold) // the answer waits in the paused replica's socket
	pollUntil(t, "another replica to take f-1 over", resync+fenceLease+3*time.Second, func() bool {
		var v int64
		var owner *string
		err := db.QueryRow(ctx, "SELECT version, lease_owner FROM items WHERE cache = 'fence' AND id = 'f-1'").Scan(&v, &owner)
		return err == nil && v >= 2 && len(up.callsOf("f-1")) >= 2
	})
	took := time.Since(pausedAt)
	t.Logf("f-1 taken over %s after its holder was paused", took.Round(time.Millisecond))
	if took < fenceLease/2 {
		t.Fatalf("f-1 taken over after %s, before its lease could lapse", took)
	}
	if err := holder.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// On waking, the paused replica either reads the answer waiting in its
	// socket and tries to write it back, which the epoch check must reject
	// and count, or its call's deadline (which passed while it was stopped)
	// fires first and nothing is written. Which one wins is the Go runtime's
	// race, not ours: accept either, and check below that the newer state
	// survived. The rejection itself is tested deterministically in
	// lease_test.go.
	pollUntil(t, "the paused replica's late result to be rejected or dropped", 10*time.Second, func() bool {
		return holder.metric("autorefresh_stale_writes_total", `cache="fence"`) >= 1 ||
			holder.metric("autorefresh_webhook_requests_total", `cache="fence",outcome="timeout"`) >= 1
	})
	t.Logf("paused replica: %v stale writes rejected, %v calls timed out",
		holder.metric("autorefresh_stale_writes_total", `cache="fence"`),
		holder.metric("autorefresh_webhook_requests_total", `cache="fence",outcome="timeout"`))
	pollUntil(t, "f-1 to finish", 10*time.Second, func() bool {
		st, m := reps[0].do("GET", "/v1/caches/fence/items/f-1", "")
		return st == http.StatusOK && m["terminal"] == true
	})
	st, m := reps[0].do("GET", "/v1/caches/fence/items/f-1", "")
	if n := num(m["data"].(map[string]any)["n"]); st != http.StatusOK || num(m["version"]) != 3 || n != 3 {
		t.Fatalf("f-1 after the fenced write: %v", m)
	}
	up.markTerminal("f-1")
	up.check(t)

	// Phase 5: PostgreSQL crashes and comes back. No acknowledged write is
	// lost; writes during the outage are refused with 503.
	for i := range 10 {
		create(reps[i%3], fmt.Sprintf("o-%02d", i))
	}
	if err := cl.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		pollUntil(t, r.name+"'s /readyz to fail", 10*time.Second, func() bool {
			st, _ := r.do("GET", "/readyz", "")
			return st == http.StatusServiceUnavailable
		})
	}
	for i := range 6 {
		r := reps[i%3]
		id := fmt.Sprintf("x-%02d", i)
		st, m := r.do("POST", "/v1/caches/jobs/items", `{"id": "`+id+`"}`)
		if st != http.StatusServiceUnavailable || m["code"] != "UNAVAILABLE" {
			t.Fatalf("create during the outage on %s: %d %v", r.name, st, m)
		}
		if st, m := r.do("GET", "/v1/caches/jobs/items/o-00", ""); st != http.StatusServiceUnavailable {
			t.Fatalf("read during the outage on %s: %d %v", r.name, st, m)
		}
	}
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		pollUntil(t, r.name+"'s /readyz to pass again", 20*time.Second, func() bool {
			st, _ := r.do("GET", "/readyz", "")
			return st == http.StatusOK
		})
	}
	for i := 10; i < 20; i++ {
		id := fmt.Sprintf("o-%02d", i)
		r := reps[i%3]
		pollUntil(t, "a create after the outage on "+r.name, 10*time.Second, func() bool {
			st, _ := r.do("POST", "/v1/caches/jobs/items", `{"id": "`+id+`", "data": {"n": 1}}`)
			return st == http.StatusCreated
		})
		acked[id] = true
	}
	// Every acknowledged item is there, on every replica, and the o- items
	// are being synced again.
	for id := range acked {
		for _, r := range reps {
			if st, m := r.do("GET", "/v1/caches/jobs/items/"+id, ""); st != http.StatusOK {
				t.Fatalf("acknowledged item %s lost (on %s): %d %v", id, r.name, st, m)
			}
		}
	}
	pollUntil(t, "every o- item synced after the outage", 20*time.Second, func() bool {
		var n int
		err := db.QueryRow(ctx, "SELECT count(*) FROM items WHERE cache = 'jobs' AND id LIKE 'o-%' AND version >= 3").Scan(&n)
		return err == nil && n == 20
	})
	for _, r := range reps {
		if n := r.metric("autorefresh_pg_listen_reconnects_total", ""); n < 1 {
			t.Errorf("%s did not reconnect its LISTEN connection: %v", r.name, n)
		}
	}
	// Every update was applied exactly once: data.n is the version.
	var bad int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM items WHERE (data->>'n')::bigint <> version AND version > 1").Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad > 0 {
		t.Fatalf("%d items whose data does not match their version (an update lost or applied twice)", bad)
	}
	var x int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM items WHERE id LIKE 'x-%'").Scan(&x); err != nil || x != 0 {
		t.Fatalf("writes refused during the outage are there: %d, %v", x, err)
	}
	up.check(t)

	// A clean stop exits 0.
	for _, r := range reps {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, r := range reps {
		select {
		case <-r.exited:
			if code := r.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("%s exited %d after SIGTERM", r.name, code)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not stop after SIGTERM", r.name)
		}
	}
}
