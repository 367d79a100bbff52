package syncers

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// rawUpstream accepts connections on loopback and answers every request
// with reply, bytes as they are: for replies net/http would never write.
func rawUpstream(t *testing.T, reply func(req string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// Read the request head, then answer and hang up.
			r := bufio.NewReader(c)
			var head strings.Builder
			for {
				line, err := r.ReadString('\n')
				head.WriteString(line)
				if err != nil || line == "\r\n" {
					break
				}
			}
			c.Write([]byte(reply(head.String())))
			c.Close()
		}
	}()
	return "http://" + ln.Addr().String() + "/sync"
}

// The upstream's bytes never reach an error's text, and so neither the
// cache's lastError nor the log: Go's transport quotes a malformed header
// line (the audit saw `<script>` on the dashboard and ~61 KB per log line).
func TestUpstreamBytesNeverReachTheError(t *testing.T) {
	junk := "<script>alert(2)</script>" + strings.Repeat("A", 60<<10)
	url := rawUpstream(t, func(string) string {
		return "HTTP/1.1 200 OK\r\n" + junk + "\r\nContent-Length: 0\r\n\r\n"
	})
	h := newHarness(t, url, nil)
	_, err := h.sync(t, batchOf(rec("a", "", false, 1)))
	e := syncError(t, err, ReasonConnect)
	if strings.Contains(e.Error(), "script") || len(e.Error()) > 200 {
		t.Fatalf("error text carries the upstream's bytes: %.300q", e.Error())
	}
	for _, l := range h.logs.All() {
		for k, v := range l.ContextMap() {
			if s, ok := v.(string); ok && (strings.Contains(s, "script") || len(s) > 200) {
				t.Fatalf("log field %s carries the upstream's bytes: %.300q", k, s)
			}
		}
	}
}

// A configured header value is never echoed into an error, however it is
// escaped: the string-matching redactor missed values with `"` or `\`,
// which Go's error texts quote escaped.
func TestEchoedHeaderValueNeverReachesTheError(t *testing.T) {
	const value = `tok"en\with-quotes-and-backslashes`
	url := rawUpstream(t, func(req string) string {
		// Echo the request's key header back as a header line without
		// its colon, which Go's transport quotes, escaped, in its error.
		echo := ""
		for _, line := range strings.Split(req, "\r\n") {
			if k, v, ok := strings.Cut(line, ": "); ok && strings.EqualFold(k, "X-Api-Key") {
				echo = "X-Echo " + v
			}
		}
		return "HTTP/1.1 200 OK\r\n" + echo + "\r\nContent-Length: 0\r\n\r\n"
	})
	h := newHarness(t, url, func(o *Options) { o.Webhook.Headers = map[string]string{"X-Api-Key": value} })
	_, err := h.sync(t, batchOf(rec("a", "", false, 1)))
	if err == nil {
		t.Fatal("a broken reply was accepted")
	}
	for _, piece := range []string{"tok", "with-quotes", "backslashes"} {
		if strings.Contains(err.Error(), piece) {
			t.Fatalf("error text echoes the header value: %q", err.Error())
		}
	}
}

// An upstream that fails every call gets one log line per cache every
// failureLogEvery, saying how many failures it left out, not one per call
// (the audit saw 47,689 lines in 10 s for a refused connection).
func TestFailuresLoggedOncePerInterval(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/sync"
	ln.Close() // connection refused from now on
	h := newHarness(t, url, nil)
	lines := func() int { return h.logs.FilterMessage("webhook sync failed").Len() }
	for range 100 {
		syncError(t, func() error { _, err := h.sync(t, batchOf(rec("a", "", false, 1))); return err }(), ReasonConnect)
	}
	if n := lines(); n != 1 {
		t.Fatalf("100 failures logged %d lines, want 1", n)
	}
	h.clock.Step(failureLogEvery - time.Millisecond)
	h.sync(t, batchOf(rec("a", "", false, 1)))
	if n := lines(); n != 1 {
		t.Fatalf("a failure within the interval logged: %d lines", n)
	}
	h.clock.Step(time.Millisecond)
	h.sync(t, batchOf(rec("a", "", false, 1)))
	all := h.logs.FilterMessage("webhook sync failed").All()
	if len(all) != 2 {
		t.Fatalf("after the interval: %d lines, want 2", len(all))
	}
	if got := all[1].ContextMap()["suppressed"]; got != int64(100) {
		t.Fatalf("suppressed = %v, want 100", got)
	}
	if msg := all[1].ContextMap()["error"]; msg != "request failed: cannot connect: connection refused" &&
		msg != "cannot connect: connection refused" {
		t.Fatalf("error field %q", msg)
	}
}
