package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// result is one run of the command.
type result struct {
	code           int
	stdout, stderr string
}

// ctl runs the command against url with env, bounded in time.
func ctl(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, func(k string) string { return env[k] }, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func newServer(t *testing.T, o serverOptions) *realServer {
	t.Helper()
	s, err := startServer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cache.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (r result) want(t *testing.T, code int, contains ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range contains {
		if !strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", s, r.stdout, r.stderr)
		}
	}
}

func TestCachesCommands(t *testing.T) {
	s := newServer(t, serverOptions{})
	env := map[string]string{"AUTOREFRESH_SERVER": s.URL}
	file := writeFile(t, "name: jobs\nwebhook:\n  url: "+s.UpstreamURL+"\nresyncPeriod: 1h\nsize: 50\nsyncOnCreate: false\n")

	ctl(t, env, "caches", "put", "-f", file).want(t, 0, "cache jobs created", "resync period:", "1h0m0s", "size:")
	ctl(t, env, "caches", "put", "jobs", "-f", file).want(t, 0, "cache jobs reconfigured")
	ctl(t, env, "caches", "put", "other", "-f", file).want(t, 2, `the file names cache "jobs"`)

	r := ctl(t, env, "caches", "list")
	r.want(t, 0, "NAME", "WEBHOOK", "jobs", s.UpstreamURL)
	// An aligned table: every line has its columns at the same offsets.
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || strings.Index(lines[0], "WEBHOOK") != strings.Index(lines[1], s.UpstreamURL) {
		t.Errorf("table not aligned:\n%s", r.stdout)
	}

	r = ctl(t, env, "-o", "json", "caches", "get", "jobs")
	r.want(t, 0)
	var cache map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &cache); err != nil || cache["name"] != "jobs" || cache["size"] != 50.0 {
		t.Errorf("caches get -o json: %v %v", cache, err)
	}
	ctl(t, env, "caches", "get", "jobs", "-o", "json").want(t, 0, `"name": "jobs"`)
	ctl(t, env, "caches", "sync", "jobs").want(t, 0, "sync queued")
	ctl(t, env, "-o", "json", "caches", "pause", "jobs").want(t, 0, `"paused": true`)
	ctl(t, env, "-o", "json", "caches", "resume", "jobs").want(t, 0, `"paused": false`)
	ctl(t, env, "caches", "delete", "jobs").want(t, 0, "cache jobs deleted")
	ctl(t, env, "caches", "get", "jobs").want(t, 3, `cache "jobs" not found`, "404 NOT_FOUND")
	ctl(t, env, "caches", "pause", "jobs").want(t, 3, "NOT_FOUND")

	bad := writeFile(t, "webhook:\n  url: "+s.UpstreamURL+"\nresyncPeriod: 1h\nsizee: 5\n")
	ctl(t, env, "caches", "put", "x", "-f", bad).want(t, 1, `unknown field "sizee"`)
	ctl(t, env, "caches", "put", "x", "-f", writeFile(t, "webhook:\n  url: ftp://x\nresyncPeriod: 1h\n")).want(t, 1, "400 INVALID")
	ctl(t, env, "caches", "put", "x").want(t, 2, "needs -f FILE")
}

func TestItemsCommands(t *testing.T) {
	s := newServer(t, serverOptions{})
	env := map[string]string{"AUTOREFRESH_SERVER": s.URL}
	file := writeFile(t, "webhook:\n  url: "+s.UpstreamURL+"\nresyncPeriod: 50ms\n")
	ctl(t, env, "caches", "put", "jobs", "-f", file).want(t, 0)

	ctl(t, env, "items", "create", "jobs", "job1", "--data", `{"status":"Not-started"}`).want(t, 0, "ID", "VERSION", "job1")
	ctl(t, env, "items", "create", "jobs", "job2", "--terminal").want(t, 0, "job2")
	ctl(t, env, "items", "create", "jobs", "job3", "--data", "{nope").want(t, 2, "--data must be JSON")

	r := ctl(t, env, "items", "get", "jobs", "job1", "--wait", "-o", "json")
	r.want(t, 0)
	var it map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &it); err != nil || it["terminal"] != true || it["version"] != 3.0 {
		t.Fatalf("items get --wait: %v %v", it, err)
	}
	r = ctl(t, env, "items", "list", "jobs")
	r.want(t, 0, "job1", "job2", `{"status":"Completed"}`)
	if n := strings.Count(r.stdout, "\n"); n != 3 {
		t.Errorf("list printed %d lines:\n%s", n, r.stdout)
	}
	ctl(t, env, "items", "list", "jobs", "--limit", "1", "-o", "json").want(t, 0, `"id": "job1"`)
	ctl(t, env, "items", "list", "jobs", "--state", "bogus").want(t, 2, "--state must be")
	ctl(t, env, "items", "delete", "jobs", "job2").want(t, 0, "deleting")
	ctl(t, env, "items", "get", "jobs", "nope").want(t, 3, `item "nope" not found`)
	ctl(t, env, "items", "get", "jobs").want(t, 2, "takes a cache name and an item id")
	// job1 is completed: a PATCH may change it, a retry may not reopen it.
	ctl(t, env, "items", "patch", "jobs", "job1", "--data", `{"status":"Edited"}`).want(t, 0, `{"status":"Edited"}`)
	ctl(t, env, "items", "retry", "jobs", "job1").want(t, 1, "CONFLICT")
	ctl(t, env, "items", "patch", "jobs", "job1").want(t, 2, "needs --data or --terminal")
	ctl(t, env, "items", "retry", "jobs", "job1", "--ttl", "soon").want(t, 2, "--ttl must be")
}

func TestGlobalFlagsAndTokens(t *testing.T) {
	const writer = "write-token-0123456789"
	s := newServer(t, serverOptions{tokens: "write " + writer + "\n"})
	ctl(t, map[string]string{"AUTOREFRESH_SERVER": s.URL}, "caches", "list").want(t, 1, "401 UNAUTHORIZED")
	ctl(t, map[string]string{"AUTOREFRESH_SERVER": s.URL, "AUTOREFRESH_TOKEN": writer}, "caches", "list").want(t, 0, "NAME")
	// Flags win over the environment, before or after the command.
	env := map[string]string{"AUTOREFRESH_SERVER": "http://127.0.0.1:1", "AUTOREFRESH_TOKEN": "wrong-token-0123456789"}
	ctl(t, env, "--server", s.URL, "--token", writer, "caches", "list").want(t, 0, "NAME")
	ctl(t, env, "caches", "list", "--server", s.URL, "--token", writer, "-o", "json").want(t, 0, "[]")
	ctl(t, nil, "--server", "127.0.0.1:8080", "caches", "list").want(t, 2, "--server")
	ctl(t, nil, "-o", "yaml", "caches", "list").want(t, 2, "-o must be text or json")
	ctl(t, nil).want(t, 2, "no command given", "usage:")
	ctl(t, nil, "caches", "frob").want(t, 2, `unknown command caches "frob"`)
	ctl(t, nil, "--bogus").want(t, 2, "flag provided but not defined")
	ctl(t, nil, "help").want(t, 0, "usage:")
}

func TestWatchCommand(t *testing.T) {
	s := newServer(t, serverOptions{})
	env := map[string]string{"AUTOREFRESH_SERVER": s.URL}
	file := writeFile(t, "webhook:\n  url: "+s.UpstreamURL+"\nresyncPeriod: 1h\nsyncOnCreate: false\n")
	ctl(t, env, "caches", "put", "jobs", "-f", file).want(t, 0)
	ctl(t, env, "items", "create", "jobs", "job1").want(t, 0)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var errOut bytes.Buffer
	go func() {
		// Resuming after an unknown id starts with lagged, which tells
		// the test the stream is open.
		done <- run(ctx, []string{"watch", "jobs", "--last-event-id", "1"}, func(k string) string { return env[k] }, pw, &errOut)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		switch {
		case strings.HasPrefix(sc.Text(), "lagged"), strings.HasPrefix(sc.Text(), "updated"):
			ctl(t, env, "caches", "sync", "jobs").want(t, 0)
		case strings.HasPrefix(sc.Text(), "terminal"):
			cancel()
		}
	}
	if code := <-done; code != 0 {
		t.Errorf("watch exited %d: %s", code, errOut.String())
	}
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "updated   job1 v2") || !strings.Contains(lines[2], `job1 v3 {"status":"Completed"}`) {
		t.Errorf("watch printed %q", lines)
	}
	// A missing cache ends the watch with 3.
	ctl(t, env, "watch", "nope").want(t, 3, "NOT_FOUND")
}
