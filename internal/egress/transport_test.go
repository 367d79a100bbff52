package egress

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer is a loopback server that counts the requests reaching it.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// get performs one bounded GET with client and closes its connections.
func get(t *testing.T, client *http.Client, url string) (*http.Response, error) {
	t.Helper()
	t.Cleanup(client.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func TestControlRefusesWithoutConnecting(t *testing.T) {
	// Control is called directly: these addresses must never be dialled from
	// a test, even by mistake.
	for _, addr := range []string{
		"127.0.0.1:80", "[::1]:80", "[::ffff:127.0.0.1]:80", "10.0.0.1:80",
		"169.254.169.254:80", "[fe80::1%eth0]:80", "0.0.0.0:80", "224.0.0.1:80",
		"not-an-address", "example.com:80",
	} {
		if err := (&Policy{}).Control("tcp", addr, nil); !errors.Is(err, ErrRefused) {
			t.Errorf("Control(%s) = %v, want ErrRefused", addr, err)
		}
	}
	if err := (&Policy{}).Control("tcp4", "8.8.8.8:443", nil); err != nil {
		t.Errorf("public address refused: %v", err)
	}
	if err := (&Policy{AllowPrivate: true}).Control("udp", "127.0.0.1:53", nil); !errors.Is(err, ErrRefused) {
		t.Errorf("udp accepted: %v", err)
	}
}

func TestDialTimeRefusal(t *testing.T) {
	srv, hits := countingServer(t, nil)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	urls := []string{
		srv.URL,
		// A name that resolves to loopback: CheckURL is bypassed here on
		// purpose, so only the dial-time check stands in the way.
		"http://localhost:" + strconv.Itoa(port) + "/",
	}
	for _, u := range urls {
		_, err := get(t, NewClient(nil), u)
		if !errors.Is(err, ErrRefused) {
			t.Errorf("GET %s with the default policy: %v, want ErrRefused", u, err)
		}
		if err != nil && strings.Contains(err.Error(), "connection refused") {
			t.Errorf("GET %s reached connect(2): %v", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
}

func TestExplicitSettingsReachLoopback(t *testing.T) {
	srv, hits := countingServer(t, nil)
	policies := []*Policy{
		{AllowPrivate: true},
		{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	}
	for _, p := range policies {
		if err := p.CheckURL(srv.URL); err != nil {
			t.Fatal(err)
		}
		resp, err := get(t, NewClient(p), srv.URL)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("policy %+v: %v", p, err)
		}
	}
	// DialContext is the same check for callers with their own transport.
	tr := &http.Transport{DialContext: (&Policy{AllowPrivate: true}).DialContext}
	if _, err := get(t, &http.Client{Transport: tr}, srv.URL); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 3 {
		t.Fatalf("hits = %d, want 3", n)
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	target, targetHits := countingServer(t, nil)
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	})
	resp, err := get(t, NewClient(&Policy{AllowPrivate: true}), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302", resp.StatusCode)
	}
	if n := targetHits.Load(); n != 0 {
		t.Fatalf("redirect followed %d times", n)
	}
}

func TestTransportIgnoresProxyEnvironment(t *testing.T) {
	proxy, proxyHits := countingServer(t, nil)
	srv, hits := countingServer(t, nil)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	if _, err := get(t, NewClient(&Policy{AllowPrivate: true}), srv.URL); err != nil {
		t.Fatal(err)
	}
	if proxyHits.Load() != 0 || hits.Load() != 1 {
		t.Fatalf("proxy hits %d, server hits %d", proxyHits.Load(), hits.Load())
	}
}

func TestNewDialerCopiesPolicy(t *testing.T) {
	srv, hits := countingServer(t, nil)
	p := &Policy{}
	client := NewClient(p)
	p.AllowPrivate = true // too late: the client keeps the policy it was built with
	if _, err := get(t, client, srv.URL); !errors.Is(err, ErrRefused) {
		t.Fatalf("got %v, want ErrRefused", err)
	}
	if hits.Load() != 0 {
		t.Fatal("request arrived")
	}
}
