package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/api"
	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/handlers"
	"github.com/autorefresh/autorefresh/internal/store"
	"github.com/autorefresh/autorefresh/internal/store/storetest"
)

// faultRounds is how many times each fault is injected and cleared in one
// run: 1 in go test, more under make check-faults (AUTOREFRESH_FAULT_ROUNDS).
func faultRounds(t *testing.T) int {
	if v := os.Getenv("AUTOREFRESH_FAULT_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("AUTOREFRESH_FAULT_ROUNDS=%q", v)
		}
		return n
	}
	return 1
}

// service is the embedded service as cmd/server wires it (Bolt, journal,
// registry, handlers), over real HTTP, with a Faulty in front of the file.
type service struct {
	t      *testing.T
	url    string
	faulty *storetest.Faulty
	http   *http.Client
	stop   func()
}

func startService(t *testing.T, dir string) *service {
	t.Helper()
	log := zap.NewNop()
	var f *storetest.Faulty
	reg := prometheus.NewRegistry()
	b, err := backend.Open(context.Background(), backend.Options{DataDir: dir, Registerer: reg, Logger: log,
		Egress:    &egress.Policy{AllowPrivate: true},
		WrapStore: func(db store.Store) store.Store { f = &storetest.Faulty{Store: db}; return f }})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		b.Close()
		t.Fatal(err)
	}
	spec, err := api.Load()
	if err != nil {
		t.Fatal(err)
	}
	h, err := handlers.NewServer(handlers.Deps{Service: b.Service(), Logger: log, Registerer: reg, Gatherer: reg,
		Spec: spec, SpecYAML: api.Spec(), Ready: b.Ready})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	s := &service{t: t, url: srv.URL, faulty: f, http: &http.Client{Timeout: 5 * time.Second}}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		s.http.CloseIdleConnections()
		srv.Close()
		b.Close()
	}
	t.Cleanup(s.stop)
	return s
}

// do sends a request; a hang (past the client's timeout) fails the test.
func (s *service) do(method, path, body string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v (a hang instead of an answer)", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// create posts an item with pad bytes of data and returns the status. A
// status other than 201 or a clear 503 fails the test.
func (s *service) create(id string, pad int) int {
	s.t.Helper()
	st, body := s.do("POST", "/v1/caches/jobs/items", fmt.Sprintf(`{"id": %q, "data": {"pad": %q}}`, id, strings.Repeat("x", pad)))
	if st != http.StatusCreated && st != http.StatusServiceUnavailable {
		s.t.Fatalf("create %s: %d %.200s, want 201 or 503", id, st, body)
	}
	if st == http.StatusServiceUnavailable && !strings.Contains(body, "storage") {
		s.t.Fatalf("create %s: 503 without saying why: %.200s", id, body)
	}
	return st
}

// waitReady polls /readyz until it answers want.
func (s *service) waitReady(want int) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, body := s.do("GET", "/readyz", "")
		if st == want {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("/readyz %d %s, want %d", st, body, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fault is one way for the storage to fail: inject starts it, clear ends it.
type fault struct {
	inject func(s *service)
	clear  func(s *service)
	pad    int // bytes of data per item, to fill a disk
}

// runFault drives one fault through rounds of healthy load, fault and
// recovery, then restarts the service and checks that every create that
// was acknowledged (201) is there.
func runFault(t *testing.T, dir string, f fault) {
	s := startService(t, dir)
	if st, body := s.do("PUT", "/v1/caches/jobs", `{"webhook": {"url": "http://127.0.0.1:1/"}, "resyncPeriod": "1h", "syncOnCreate": false}`); st != http.StatusCreated {
		t.Fatalf("PUT cache: %d %s", st, body)
	}
	var acked []string
	deleting := map[string]bool{}
	refused := 0
	n := 0
	create := func() int {
		n++
		id := fmt.Sprintf("item-%d", n)
		st := s.create(id, f.pad)
		if st == http.StatusCreated {
			acked = append(acked, id)
		}
		return st
	}
	for round := range faultRounds(t) {
		for range 5 {
			if st := create(); st != http.StatusCreated {
				t.Fatalf("round %d: create before the fault: %d", round, st)
			}
		}
		f.inject(s)
		// Until the storage refuses, creates may still succeed (a disk
		// fills as it goes); from then on every write is a prompt 503.
		for i := 0; create() != http.StatusServiceUnavailable; i++ {
			if i > 2000 {
				t.Fatalf("round %d: the fault never showed", round)
			}
		}
		refused++
		s.waitReady(http.StatusServiceUnavailable)
		for range 3 {
			if st := create(); st != http.StatusServiceUnavailable {
				t.Fatalf("round %d: create during the fault: %d, want 503", round, st)
			}
			refused++
		}
		// A delete is refused too (but may happen later: it was not
		// acknowledged, so the item is no longer checked).
		victim := acked[len(acked)-1]
		deleting[victim] = true
		if st, body := s.do("DELETE", "/v1/caches/jobs/items/"+victim, ""); st != http.StatusServiceUnavailable {
			t.Fatalf("round %d: delete during the fault: %d %.200s, want 503", round, st, body)
		}
		f.clear(s)
		s.waitReady(http.StatusOK) // by itself: nobody restarts anything
		if st := create(); st != http.StatusCreated {
			t.Fatalf("round %d: create after the fault cleared: %d", round, st)
		}
	}
	s.stop()
	checkFile(t, dir)

	s = startService(t, dir)
	for _, id := range acked {
		if deleting[id] {
			continue
		}
		if st, body := s.do("GET", "/v1/caches/jobs/items/"+id, ""); st != http.StatusOK {
			t.Fatalf("acknowledged item %s after restart: %d %.200s", id, st, body)
		}
	}
	t.Logf("%d rounds: %d creates acknowledged and all kept after a restart, %d refused with 503", faultRounds(t), len(acked), refused)
}

// checkFile runs bbolt's own consistency check on the data file.
func checkFile(t *testing.T, dir string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, store.FileName), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("data file inconsistent after the fault: %v", err)
	}
}

func TestFaultWriteError(t *testing.T) {
	runFault(t, t.TempDir(), fault{
		inject: func(s *service) { s.faulty.Fail(fmt.Errorf("write autorefresh.db: %w", syscall.EIO)) },
		clear:  func(s *service) { s.faulty.Clear() },
	})
}

// The fsync fails after the batch reached the file: the journal cannot
// know it is there, refuses it, and writes it again once the disk works.
func TestFaultFsyncError(t *testing.T) {
	runFault(t, t.TempDir(), fault{
		inject: func(s *service) { s.faulty.FailAfterWrite(fmt.Errorf("fdatasync autorefresh.db: %w", syscall.EIO)) },
		clear:  func(s *service) { s.faulty.Clear() },
	})
}

// A real full disk: the data file on a small tmpfs that a filler file
// fills up; deleting the filler is the operator freeing space.
func TestFaultDiskFull(t *testing.T) {
	size := "2m"
	if os.Getenv("AUTOREFRESH_FAULT_ROUNDS") != "" {
		size = "16m"
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("a full disk needs a tmpfs, and mount is not permitted here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	filler := filepath.Join(dir, "filler")
	runFault(t, dir, fault{
		pad: 16 << 10,
		inject: func(s *service) {
			// Fill what is left; the file's own free pages still take a
			// few writes, which is why runFault creates until it sees 503.
			fl, err := os.Create(filler)
			if err != nil {
				t.Fatal(err)
			}
			defer fl.Close()
			buf := make([]byte, 64<<10)
			for {
				if _, err := fl.Write(buf); err != nil {
					if !errors.Is(err, syscall.ENOSPC) {
						t.Fatal(err)
					}
					return
				}
			}
		},
		clear: func(s *service) {
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
		},
	})
}
