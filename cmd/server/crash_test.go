package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildServer compiles this command once per test binary run.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "autorefresh")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is the server running as a real subprocess.
type proc struct {
	cmd  *exec.Cmd
	addr string
	// read is closed when the reader has taken the last line of stdout.
	read chan struct{}

	mu   sync.Mutex
	logs []map[string]any // every log line so far
}

// wait waits for the process to exit, after its last log line is read:
// exec.Cmd.Wait closes the stdout pipe, so calling it first could lose the
// lines still in the pipe (a dying process's last words).
func (p *proc) wait() error {
	<-p.read
	return p.cmd.Wait()
}

// waitLog waits for a log line whose msg is msg and returns it.
func (p *proc) waitLog(t *testing.T, msg string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		for _, l := range p.logs {
			if l["msg"] == msg {
				p.mu.Unlock()
				return l
			}
		}
		p.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no log line %q", msg)
	return nil
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--addr", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	p := &proc{cmd: cmd, read: make(chan struct{})}
	go func() {
		defer close(p.read)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			p.mu.Lock()
			p.logs = append(p.logs, l)
			p.mu.Unlock()
			if l["msg"] == "listening" {
				addr <- l["addr"].(string)
			}
		}
	}()
	select {
	case p.addr = <-addr:
		return p
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("server did not start")
	}
	return nil
}

// counterUpstream answers every item with data {"n": version+1}, and makes
// it terminal at version 6, so that items keep changing for a while.
func counterUpstream() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Items []struct {
				ID      string `json:"id"`
				Version int64  `json:"version"`
			} `json:"items"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		type entry struct {
			ID       string         `json:"id"`
			Action   string         `json:"action"`
			Data     map[string]any `json:"data"`
			Terminal bool           `json:"terminal"`
		}
		var out struct {
			Items []entry `json:"items"`
		}
		for _, it := range req.Items {
			n := it.Version + 1
			out.Items = append(out.Items, entry{ID: it.ID, Action: "update", Data: map[string]any{"n": n}, Terminal: n >= 6})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})
}

// ledger is what the clients were told, which the server must keep.
type ledger struct {
	mu       sync.Mutex
	created  map[string]bool
	deleted  map[string]bool    // acknowledged with 202
	deleting map[string]bool    // a DELETE was sent: it may have happened
	version  map[string]float64 // highest version a GET showed
	terminal map[string]bool    // a GET showed it terminal
}

func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs the real binary 20 times")
	}
	bin := buildServer(t)
	upstream := httptest.NewServer(counterUpstream())
	defer upstream.Close()
	dir := t.TempDir()
	args := []string{"--data-dir", dir, "--allow-webhook-cidrs", "127.0.0.0/8"}
	l := &ledger{created: map[string]bool{}, deleted: map[string]bool{}, deleting: map[string]bool{}, version: map[string]float64{}, terminal: map[string]bool{}}
	httpc := &http.Client{Timeout: 5 * time.Second}
	defer httpc.CloseIdleConnections()
	rng := rand.New(rand.NewPCG(1, 2))
	const kills = 20
	var nextID int
	for cycle := 0; cycle <= kills; cycle++ {
		p := startProc(t, bin, args...)
		base := "http://" + p.addr
		if cycle == 0 {
			body := `{"webhook": {"url": "` + upstream.URL + `"}, "resyncPeriod": "30ms", "batchSize": 10}`
			req, _ := http.NewRequest("PUT", base+"/v1/caches/jobs", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			res, err := httpc.Do(req)
			if err != nil || res.StatusCode != http.StatusCreated {
				t.Fatalf("PUT cache: %v %v", err, res)
			}
			res.Body.Close()
		}
		verify(t, httpc, base, l, cycle)
		if cycle == kills {
			p.cmd.Process.Signal(syscall.SIGTERM)
			if err := p.wait(); err != nil {
				t.Fatalf("SIGTERM: exit %v, want 0", err)
			}
			break
		}
		// Load from several clients, then SIGKILL at a random moment.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			ids := make([]string, 50)
			for i := range ids {
				ids[i] = fmt.Sprintf("c%d-w%d-%d", cycle, w, nextID)
				nextID++
			}
			wg.Go(func() { load(httpc, base, l, ids, stop) })
		}
		time.Sleep(time.Duration(100+rng.IntN(500)) * time.Millisecond)
		p.cmd.Process.Kill()
		p.wait()
		close(stop)
		wg.Wait()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	terminal := 0
	for range l.terminal {
		terminal++
	}
	t.Logf("%d SIGKILLs: %d acknowledged creates, %d acknowledged deletes, %d items seen terminal, all accounted for",
		kills, len(l.created), len(l.deleted), terminal)
	if len(l.created) == 0 || len(l.deleted) == 0 || terminal == 0 {
		t.Fatal("the load did too little to prove anything")
	}
}

// load creates its ids, reads and deletes some, until stop or the server dies.
func load(httpc *http.Client, base string, l *ledger, ids []string, stop <-chan struct{}) {
	for i, id := range ids {
		select {
		case <-stop:
			return
		default:
		}
		res, err := httpc.Post(base+"/v1/caches/jobs/items", "application/json", strings.NewReader(`{"id": "`+id+`"}`))
		if err != nil {
			return
		}
		res.Body.Close()
		if res.StatusCode == http.StatusCreated {
			l.mu.Lock()
			l.created[id] = true
			l.mu.Unlock()
		}
		if i%3 == 1 {
			prev := ids[i-1]
			l.mu.Lock()
			l.deleting[prev] = true
			l.mu.Unlock()
			req, _ := http.NewRequest("DELETE", base+"/v1/caches/jobs/items/"+prev, nil)
			res, err := httpc.Do(req)
			if err != nil {
				return
			}
			res.Body.Close()
			if res.StatusCode == http.StatusAccepted {
				l.mu.Lock()
				l.deleted[prev] = true
				l.mu.Unlock()
			}
		}
		if i >= 2 {
			observe(httpc, base, l, ids[i-2])
			observe(httpc, base, l, ids[i/2])
		}
	}
}

// observe records what a GET showed: that is acknowledged state too.
func observe(httpc *http.Client, base string, l *ledger, id string) {
	res, err := httpc.Get(base + "/v1/caches/jobs/items/" + id)
	if err != nil {
		return
	}
	defer res.Body.Close()
	var it struct {
		Version       float64
		Terminal      bool
		PendingDelete bool
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&it) != nil {
		return
	}
	l.mu.Lock()
	l.version[id] = max(l.version[id], it.Version)
	if it.Terminal {
		l.terminal[id] = true
	}
	l.mu.Unlock()
}

// verify lists every item after a restart and checks the ledger against it.
func verify(t *testing.T, httpc *http.Client, base string, l *ledger, cycle int) {
	t.Helper()
	type item struct {
		ID            string
		Data          map[string]float64
		Version       float64
		Terminal      bool
		PendingDelete bool
	}
	have := map[string]item{}
	cursor := ""
	for {
		u := base + "/v1/caches/jobs/items?limit=1000"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		res, err := httpc.Get(u)
		if err != nil {
			t.Fatalf("cycle %d: list: %v", cycle, err)
		}
		var page struct {
			Items      []item
			NextCursor *string
		}
		err = json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("cycle %d: list: %d %v", cycle, res.StatusCode, err)
		}
		for _, it := range page.Items {
			have[it.ID] = it
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range l.created {
		it, ok := have[id]
		if l.deleted[id] {
			if ok && !it.PendingDelete {
				t.Fatalf("cycle %d: deleted item %s came back: %+v", cycle, id, it)
			}
			continue
		}
		if !ok {
			if l.deleting[id] {
				continue // its unacknowledged delete went through
			}
			t.Fatalf("cycle %d: acknowledged item %s lost", cycle, id)
		}
		if it.Version < l.version[id] {
			t.Fatalf("cycle %d: item %s went back from version %v to %v", cycle, id, l.version[id], it.Version)
		}
		if l.terminal[id] && !it.Terminal {
			t.Fatalf("cycle %d: terminal item %s is not terminal any more", cycle, id)
		}
		if it.Version > 1 && it.Data["n"] != it.Version {
			t.Fatalf("cycle %d: item %s has data %v at version %v", cycle, id, it.Data, it.Version)
		}
	}
	// What the listing showed is acknowledged from now on, too.
	for id, it := range have {
		l.version[id] = max(l.version[id], it.Version)
		if it.Terminal {
			l.terminal[id] = true
		}
	}
}
