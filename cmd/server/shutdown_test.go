package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// hangingUpstream accepts webhook calls and never answers them, until the
// caller gives up or the test ends. calls gets one value per call.
func hangingUpstream(t *testing.T) (*httptest.Server, <-chan struct{}) {
	calls := make(chan struct{}, 100)
	end := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-end:
		}
	}))
	t.Cleanup(func() { close(end); srv.Close() })
	return srv, calls
}

// slowRequest starts a create whose body never comes, and returns once the
// handler is reading it (the server has answered 100 Continue): a request
// that a graceful drain waits for.
func slowRequest(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// The Host is the address: an open server on loopback answers for
	// nothing else (DNS rebinding).
	req := "POST /v1/caches/jobs/items HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\n" +
		"Content-Length: 40\r\nExpect: 100-continue\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, "100 Continue") {
		t.Fatalf("slow request: %q %v", line, err)
	}
	return conn
}

// --shutdown-timeout bounds the whole shutdown: a request that never ends
// and a webhook that never answers share one deadline, not one each.
func TestShutdownTimeoutBoundsTheWholeShutdown(t *testing.T) {
	const timeout = 2 * time.Second
	upstream, calls := hangingUpstream(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startRun(t, ctx, t.TempDir(), "--allow-webhook-cidrs", "127.0.0.0/8", "--shutdown-timeout", timeout.String())
	c := newClient(t, s.addr)
	if st, m := c.do("PUT", "/v1/caches/jobs", `{"webhook": {"url": "`+upstream.URL+`"}, "resyncPeriod": "1h"}`); st != http.StatusCreated {
		t.Fatalf("PUT: %d %v", st, m)
	}
	if st, m := c.do("POST", "/v1/caches/jobs/items", `{"id": "a"}`); st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, m)
	}
	select {
	case <-calls: // a sync of a is under way and will not end by itself
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook call")
	}
	slowRequest(t, s.addr)

	start := time.Now()
	cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(4 * timeout):
		t.Fatal("run did not return")
	}
	took := time.Since(start)
	t.Logf("shutdown took %v with --shutdown-timeout %v", took, timeout)
	if took > timeout+timeout/2 {
		t.Fatalf("shutdown took %v, more than --shutdown-timeout %v and slack", took, timeout)
	}
	if took < timeout-100*time.Millisecond {
		t.Fatalf("shutdown took %v: the drain did not wait for the call under way", took)
	}
}

// With --shutdown-delay, a SIGTERM turns /readyz to 503 at once while the
// server goes on serving for the delay, so a load balancer takes it out
// before its listener closes; only then does the drain start.
func TestShutdownDelayKeepsServingWithReadyzDown(t *testing.T) {
	const delay = 1500 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startRun(t, ctx, t.TempDir(), "--shutdown-delay", delay.String())
	base := "http://" + s.addr
	status := func(path string) int {
		res, err := http.Get(base + path)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := status("/readyz"); got != http.StatusOK {
		t.Fatalf("/readyz before the shutdown: %d", got)
	}
	stopped := time.Now()
	cancel() // what SIGTERM does
	deadline := time.Now().Add(delay / 2)
	for status("/readyz") != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not turn 503 at the start of the shutdown")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := status("/v1/caches"); got != http.StatusOK {
		t.Fatalf("an API request during the delay: %d, want 200 (still serving)", got)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(delay + 20*time.Second):
		t.Fatal("run did not return after the delay and the drain")
	}
	if took := time.Since(stopped); took < delay {
		t.Fatalf("run returned %s after the shutdown began, before the %s delay", took, delay)
	}
}
