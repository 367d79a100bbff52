package servicetest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/registry"
)

// configCases cover cache configuration changes racing item traffic and each other (a PUT racing a DELETE, a reconfiguration while syncs are in flight, a new resync period).
var configCases = []testCase{
	{"WebhookQueryRedacted", testWebhookQueryRedacted},
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
	want := base + "?token=" + registry.RedactedValue + "&team=" + registry.RedactedValue

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
