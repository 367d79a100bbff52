package main

import (
	"errors"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// A shutdown held up (here by a webhook call that never answers, under a
// one-hour --shutdown-timeout) ends at once on a second SIGTERM, with a
// non-zero status and a log line that says so.
func TestSecondSignalForcesTheExit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	bin := buildServer(t)
	upstream, calls := hangingUpstream(t)
	p := startProc(t, bin, "--data-dir", t.TempDir(), "--allow-webhook-cidrs", "127.0.0.0/8", "--shutdown-timeout", "1h")
	exited := make(chan error, 1)
	go func() { exited <- p.wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-exited
	})
	c := newClient(t, p.addr)
	if st, m := c.do("PUT", "/v1/caches/jobs", `{"webhook": {"url": "`+upstream.URL+`"}, "resyncPeriod": "1h"}`); st != http.StatusCreated {
		t.Fatalf("PUT: %d %v", st, m)
	}
	if st, m := c.do("POST", "/v1/caches/jobs/items", `{"id": "a"}`); st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, m)
	}
	select {
	case <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook call")
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitLog(t, "shutting down")
	p.cmd.Process.Signal(syscall.SIGTERM)
	start := time.Now()
	var err error
	select {
	case err = <-exited:
		exited <- err // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("the second SIGTERM did not end the process")
	}
	t.Logf("exited %v after the second signal: %v", time.Since(start), err)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit status: %v, want 1", err)
	}
	if l := p.waitLog(t, "second signal: exiting now without finishing the shutdown; unacknowledged changes may be lost"); l["level"] != "error" {
		t.Fatalf("log line %v", l)
	}
}
