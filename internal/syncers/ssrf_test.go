package syncers

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/errs"
)

// None of these tests sends a packet anywhere but 127.0.0.1: refused URLs
// fail validation, and the dial-time tests aim at loopback servers.

func TestDefaultPolicyRefusesInternalURLs(t *testing.T) {
	for _, u := range []string{
		"http://127.0.0.1/", "http://[::ffff:127.0.0.1]/", "http://0x7f.1/",
		"http://2130706433/", "http://169.254.169.254/", "http://localhost/",
		"ftp://x", "http://[::1]/", "http://10.0.0.1/",
	} {
		_, err := New(Options{Cache: "jobs", Webhook: WebhookConfig{URL: u}})
		if err == nil {
			t.Errorf("New accepted %s", u)
			continue
		}
		msg := errs.MessageOf(err)
		if errs.CodeOf(err) != errs.Invalid || !strings.HasPrefix(msg, "webhook.url: ") {
			t.Errorf("%s: %v", u, err)
		}
		if u != "ftp://x" && !errors.Is(err, egress.ErrRefused) {
			t.Errorf("%s: %v does not match egress.ErrRefused", u, err)
		}
		t.Logf("%-28s %s", u, msg)
	}
}

// TestDialTimeCheckIsAuthoritative models a URL that passed validation but
// whose name now resolves to a refused address (DNS rebinding): the dial is
// refused before connecting and the request never arrives.
func TestDialTimeCheckIsAuthoritative(t *testing.T) {
	up := newUpstream(t, replyJSON(`{"items":[]}`))
	port := strconv.Itoa(up.Listener.Addr().(*net.TCPAddr).Port)
	for _, url := range []string{up.URL, "http://localhost:" + port + "/"} {
		h := newHarness(t, url, func(o *Options) {
			// Validation is lenient; the client enforces the default policy.
			o.Client = egress.NewClient(nil)
		})
		_, err := h.sync(t, batchOf(rec("a", "", false, 1)))
		syncError(t, err, ReasonConnect)
		if !errors.Is(err, egress.ErrRefused) {
			t.Fatalf("%s: %v does not match egress.ErrRefused", url, err)
		}
		t.Logf("%s: %v", url, err)
	}
	if n := up.hits.Load(); n != 0 {
		t.Fatalf("%d requests arrived", n)
	}
}

func TestAllowPrivateReachesLoopback(t *testing.T) {
	up := newUpstream(t, replyJSON(`{"items":[]}`))
	port := strconv.Itoa(up.Listener.Addr().(*net.TCPAddr).Port)
	for _, url := range []string{up.URL, "http://localhost:" + port + "/"} {
		h := newHarness(t, url, nil) // Policy: AllowPrivate, default client
		if _, err := h.sync(t, batchOf(rec("a", "", false, 1))); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
	}
	if n := up.hits.Load(); n != 2 {
		t.Fatalf("hits = %d, want 2", n)
	}
}
