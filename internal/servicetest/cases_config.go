package servicetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
)

// configCases cover cache configuration changes racing item traffic and each other (a PUT racing a DELETE, a reconfiguration while syncs are in flight, a new resync period).
var configCases = []testCase{
	{"WebhookQueryRedacted", testWebhookQueryRedacted},
	{"ReconfigureKeepsReadsFast", testReconfigureKeepsReadsFast},
	{"DeleteRacingPutIsConsistent", testDeleteRacingPut},
	{"CacheDeleteRacingCreates", testCacheDeleteRacingCreates},
	{"CreateRacingRemoval", testCreateRacingRemoval},
}

// queryToken is the credential the redaction cases put in a webhook URL.
const queryToken = "qs-secret-4711"

// tokenEcho is an upstream that records the token each call brought and
// answers with a malformed status line that repeats it, so that a sync
// error built from the transport's text would quote it.
type tokenEcho struct {
	mu     sync.Mutex
	tokens []string
}

func (e *tokenEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	e.mu.Lock()
	e.tokens = append(e.tokens, tok)
	e.mu.Unlock()
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %s\r\n\r\n", tok)
	buf.Flush()
}

// calls returns how many calls arrived, and whether all of them carried the
// registered token.
func (e *tokenEcho) calls() (n int, allWithToken bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, tok := range e.tokens {
		if tok != queryToken {
			return len(e.tokens), false
		}
	}
	return len(e.tokens), true
}

// testWebhookQueryRedacted: a read of a cache (Info, List, its last sync
// error) never shows the webhook URL's query values, which often carry a
// credential, before or after a restart, while the webhook itself is still
// called with them.
func testWebhookQueryRedacted(t *testing.T, f Factory) {
	echo := &tokenEcho{}
	srv := httptest.NewServer(echo)
	t.Cleanup(srv.Close)
	o := f(t, Limits{})
	s, stop := o(t)
	ctx := ctxT(t)
	base := srv.URL + "/sync"
	mustPut(t, s, "jobs", cfg(base+"?token="+queryToken+"&team=a", time.Hour, true), true)
	want := base + "?token=" + autorefresh.RedactedValue + "&team=" + autorefresh.RedactedValue

	check := func(when string) {
		t.Helper()
		in, err := s.Info(ctx, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		if in.Config.Webhook.URL != want {
			t.Fatalf("Info %s: webhook url %q, want %q", when, in.Config.Webhook.URL, want)
		}
		if strings.Contains(in.Stats.LastError, queryToken) {
			t.Fatalf("Info %s: the last error shows the token: %q", when, in.Stats.LastError)
		}
		list, err := s.List(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("List %s: %v, %v", when, list, err)
		}
		if list[0].Config.Webhook.URL != want {
			t.Fatalf("List %s: webhook url %q, want %q", when, list[0].Config.Webhook.URL, want)
		}
	}
	waitForSyncError := func(when string) {
		t.Helper()
		waitFor(t, "a failed sync "+when, 10*time.Second, func() bool {
			in, err := s.Info(ctx, "jobs")
			return err == nil && in.Stats.LastError != ""
		})
	}

	mustCreate(t, s, "jobs", "a", `{}`, false)
	waitForSyncError("after the create")
	check("after a failed sync")
	if n, ok := echo.calls(); n == 0 || !ok {
		t.Fatalf("the webhook was not called with the registered token (%d calls)", n)
	}

	// A PUT of the same config again (as a client that read it back would
	// not do: it has only the redacted URL) keeps it.
	mustPut(t, s, "jobs", cfg(base+"?token="+queryToken+"&team=a", time.Hour, true), false)
	check("after a second PUT")

	stop()
	s, stop = o(t)
	t.Cleanup(stop)
	check("after a restart")
	before, _ := echo.calls()
	if err := s.Sync(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a sync after the restart", 10*time.Second, func() bool {
		n, _ := echo.calls()
		return n > before
	})
	if n, ok := echo.calls(); !ok {
		t.Fatalf("after the restart the webhook lost its token (%d calls)", n)
	}
	waitForSyncError("after the restart")
	check("after a failed sync after the restart")

	// A refused registration does not quote the URL's query either.
	_, err := s.Put(ctx, "other", cfg("ftp://127.0.0.1/x?token="+queryToken, time.Hour, false))
	wantCode(t, "a refused URL", err, errs.Invalid)
	if strings.Contains(errs.MessageOf(err), queryToken) || strings.Contains(err.Error(), queryToken) {
		t.Fatalf("the refusal quotes the token: %v", err)
	}
}

// heldUpstream is a webhook whose calls all block until release (or until
// the caller gives up): it keeps a call of the old configuration in flight
// for as long as a test needs.
type heldUpstream struct {
	url      string
	entered  chan struct{} // gets a value when the first call arrives
	released chan struct{}
	once     sync.Once
}

func newHeldUpstream(t *testing.T) *heldUpstream {
	h := &heldUpstream{entered: make(chan struct{}, 1), released: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case h.entered <- struct{}{}:
		default:
		}
		select {
		case <-h.released:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL + "/sync"
	return h
}

// release lets every call, held or still to come, answer.
func (h *heldUpstream) release() { h.once.Do(func() { close(h.released) }) }

// waitEntered waits for the first call.
func (h *heldUpstream) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-h.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook was never called")
	}
}

// heldCfg is a config whose calls may stay held for the whole test.
func (h *heldUpstream) cfg(resync time.Duration) autorefresh.Config {
	c := cfg(h.url, resync, true)
	c.Webhook.Timeout = autorefresh.Duration(time.Minute)
	return c
}

// fastBound is how long a read or create may take while a reconfiguration
// waits for the old configuration's webhook calls. The held call lasts the
// whole test, so any wait for it goes far past this.
const fastBound = 300 * time.Millisecond

// within runs op and fails the test if it takes longer than fastBound. An
// op that is stuck is unblocked by releasing up before the test ends, so no
// goroutine outlives it.
func within(t *testing.T, up *heldUpstream, what string, op func() error) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- op() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if d := time.Since(start); d > fastBound {
			t.Fatalf("%s took %s while the old webhook call was held, want at most %s", what, d, fastBound)
		}
	case <-time.After(fastBound):
		up.release()
		err := <-done
		t.Fatalf("%s was still blocked after %s while the old webhook call was held (then: %v, after %s)",
			what, fastBound, err, time.Since(start))
	}
}

// testReconfigureKeepsReadsFast: while a PUT replaces a cache's config and a
// webhook call of the old config is still under way, reads and creates of
// that cache answer at once; they do not wait for the old call to drain.
func testReconfigureKeepsReadsFast(t *testing.T, f Factory) {
	up := newHeldUpstream(t)
	s, _ := open1(t, f, Limits{})
	t.Cleanup(up.release) // before the service stops: let held calls end
	ctx := ctxT(t)
	mustPut(t, s, "jobs", up.cfg(time.Hour), true)
	mustCreate(t, s, "jobs", "a", `{"n": 1}`, false)
	up.waitEntered(t) // the sync on create is held

	put := make(chan error, 1)
	go func() {
		_, err := s.Put(context.Background(), "jobs", up.cfg(2*time.Hour))
		put <- err
	}()
	for i := range 10 {
		within(t, up, fmt.Sprintf("GetItem %d", i), func() error {
			_, err := s.GetItem(ctx, "jobs", "a")
			return err
		})
		id := fmt.Sprintf("new-%d", i)
		within(t, up, "CreateItem "+id, func() error {
			_, created, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: id, Data: json.RawMessage(`{}`), Terminal: false})
			if err == nil && !created {
				err = fmt.Errorf("not created")
			}
			return err
		})
		within(t, up, fmt.Sprintf("Info %d", i), func() error {
			_, err := s.Info(ctx, "jobs")
			return err
		})
	}
	up.release()
	select {
	case err := <-put:
		if err != nil {
			t.Fatalf("the PUT: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the PUT never returned")
	}
	in, err := s.Info(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(in.Config.ResyncPeriod) != 2*time.Hour {
		t.Fatalf("the new config is not in force: %+v", in.Config)
	}
	for _, id := range []string{"a", "new-0", "new-9"} {
		if _, err := s.GetItem(ctx, "jobs", id); err != nil {
			t.Fatalf("item %s lost by the reconfiguration: %v", id, err)
		}
	}
}

// testDeleteRacingPut: a DELETE of a cache and a PUT of the same name, sent
// together while a webhook call of the cache is under way, both succeed and
// leave one state, which a restart keeps: if the PUT registered the cache
// anew (it came after the delete) the cache exists, with the new config and
// none of the old items; if it replaced the config (it came before) the
// cache is gone. Neither answers with an internal message.
func testDeleteRacingPut(t *testing.T, f Factory) {
	o := f(t, Limits{})
	for round := range 3 {
		up := newHeldUpstream(t)
		s, stop := o(t)
		t.Cleanup(stop)
		t.Cleanup(up.release) // runs first: held calls end before the service stops
		ctx := ctxT(t)
		if _, err := s.Put(ctx, "jobs", up.cfg(time.Hour)); err != nil {
			t.Fatalf("round %d: Put: %v", round, err)
		}
		if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "old", Data: json.RawMessage(`{}`), Terminal: false}); err != nil {
			t.Fatalf("round %d: CreateItem: %v", round, err)
		}
		up.waitEntered(t) // a call of the cache is held from here on

		del := make(chan error, 1)
		go func() { del <- s.Delete(context.Background(), "jobs") }()
		if round == 2 {
			// The PUT comes once the cache no longer answers.
			waitFor(t, "the delete to take effect", 10*time.Second, func() bool {
				_, err := s.Info(ctx, "jobs")
				return errs.CodeOf(err) == errs.NotFound
			})
		}
		created, putErr := s.Put(ctx, "jobs", up.cfg(3*time.Hour))
		var delErr error
		select {
		case delErr = <-del:
		case <-time.After(10 * time.Second):
			up.release()
			t.Fatalf("round %d: the DELETE did not return while a webhook call was held", round)
		}
		up.release()
		if putErr != nil {
			t.Fatalf("round %d: the PUT racing a DELETE: %v (code %s)", round, putErr, errs.CodeOf(putErr))
		}
		if delErr != nil {
			t.Fatalf("round %d: the DELETE racing a PUT: %v", round, delErr)
		}
		check := func(s Service, when string) {
			t.Helper()
			in, err := s.Info(ctx, "jobs")
			if !created {
				wantCode(t, fmt.Sprintf("round %d, %s: Info after a PUT that replaced the config, then the DELETE", round, when), err, errs.NotFound)
				return
			}
			if err != nil {
				t.Fatalf("round %d, %s: the PUT registered the cache anew, yet: %v", round, when, err)
			}
			if time.Duration(in.Config.ResyncPeriod) != 3*time.Hour {
				t.Fatalf("round %d, %s: config %+v, want the PUT's", round, when, in.Config)
			}
			_, err = s.GetItem(ctx, "jobs", "old")
			wantCode(t, fmt.Sprintf("round %d, %s: an item from before the DELETE", round, when), err, errs.NotFound)
		}
		check(s, "before the restart")
		stop()
		s, stop = o(t)
		t.Cleanup(stop)
		check(s, "after the restart")
		stop()
	}
}

// Creates racing the deletion of their cache answer as if they came before
// it (200 or 201) or after it (404), never with an internal error. The
// checker found PostgreSQL mode answering 500 (a foreign key violation).
func testCacheDeleteRacingCreates(t *testing.T, f Factory) {
	s, _ := open1(t, f, Limits{})
	ctx := ctxT(t)
	url := noopUpstream(t)
	for round := range 20 {
		mustPut(t, s, "jobs", cfg(url, time.Hour, false), true)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := range 10 {
					_, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: fmt.Sprintf("%d-%d-%d", round, g, i), Data: nil, Terminal: false})
					if err != nil && errs.CodeOf(err) != errs.NotFound {
						t.Errorf("create racing a cache delete: %v", err)
					}
				}
			})
		}
		if err := s.Delete(ctx, "jobs"); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if t.Failed() {
			return
		}
	}
}

// A create of an id whose item a cycle is removing (after a DELETE) finds
// the old item or makes a new one: never 404 while the cache exists. The
// checker found PostgreSQL mode answering 404 when the removal fell between
// the insert that skipped the existing row and the read of it.
func testCreateRacingRemoval(t *testing.T, f Factory) {
	s, _ := open1(t, f, Limits{})
	ctx := ctxT(t)
	mustPut(t, s, "jobs", cfg(noopUpstream(t), time.Hour, false), true)
	stop := make(chan struct{})
	var cycles sync.WaitGroup
	cycles.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.DeleteItem(ctx, "jobs", "x"); err != nil && errs.CodeOf(err) != errs.NotFound {
				t.Errorf("delete: %v", err)
			}
			if err := s.Sync(ctx, "jobs"); err != nil {
				t.Errorf("sync: %v", err)
			}
		}
	})
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && !t.Failed() {
		if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: "x", Data: nil, Terminal: false}); err != nil {
			t.Errorf("create while the item is being removed: %v", err)
		}
	}
	close(stop)
	cycles.Wait()
}
