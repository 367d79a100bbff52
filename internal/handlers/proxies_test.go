package handlers_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/autorefresh/autorefresh/internal/handlers"
)

// remotes returns the remote field of the access-log lines.
func (e *env) remotes() []string {
	var out []string
	for _, l := range e.logs.FilterMessage("request").All() {
		out = append(out, l.ContextMap()["remote"].(string))
	}
	return out
}

// limitedOf counts the 429s among n GETs carrying X-Forwarded-For xff(i).
func (e *env) limitedOf(n int, xff func(i int) string) int {
	limited := 0
	for i := range n {
		if e.send("GET", "/v1/caches", map[string]string{"X-Forwarded-For": xff(i)}, "").status == http.StatusTooManyRequests {
			limited++
		}
	}
	return limited
}

// Behind a trusted proxy each client named by X-Forwarded-For has its own
// rate-limit bucket and is the remote of its access-log line.
func TestTrustedProxyNamesTheClient(t *testing.T) {
	e := newEnvWith(t, nil, func(d *handlers.Deps) {
		d.RateLimit = 1
		d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	clients := []string{"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5"}
	if n := e.limitedOf(len(clients), func(i int) string { return clients[i] }); n != 0 {
		t.Fatalf("%d of five clients limited on their first request: they share a bucket", n)
	}
	// One client, five requests at 1 req/s: most are limited.
	if n := e.limitedOf(5, func(int) string { return "6.6.6.6, 203.0.113.9" }); n < 3 {
		t.Fatalf("%d of 5 requests of one client limited at 1 req/s", n)
	}
	got := e.remotes()
	if len(got) != 10 || got[0] != "203.0.113.1:0" || got[9] != "203.0.113.9:0" {
		t.Fatalf("access-log remotes %v: want the clients the proxy named (not 6.6.6.6, which the client wrote itself)", got)
	}
}

// From a peer that is not a trusted proxy, X-Forwarded-For is ignored: a
// client cannot give itself a fresh bucket, or another name in the log,
// with a forged header.
func TestForgedForwardedForIsIgnored(t *testing.T) {
	e := newEnvWith(t, nil, func(d *handlers.Deps) {
		d.RateLimit = 1
		d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	forged := []string{"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5"}
	if n := e.limitedOf(len(forged), func(i int) string { return forged[i] }); n < 3 {
		t.Fatalf("%d of 5 requests with forged addresses limited at 1 req/s: the header bought fresh buckets", n)
	}
	for _, r := range e.remotes() {
		if addr, err := netip.ParseAddrPort(r); err != nil || !addr.Addr().IsLoopback() {
			t.Fatalf("access-log remote %q: want the loopback peer, not a forged address", r)
		}
	}
}
