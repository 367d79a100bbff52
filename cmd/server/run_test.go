package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/exampleupstream"
)

// server is a run call in progress.
type server struct {
	addr string
	done <-chan error
	mu   sync.Mutex
	logs []map[string]any
}

// logsWith returns the log lines whose msg is msg.
func (s *server) logsWith(msg string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range s.logs {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// noExit is run's exit for in-process tests, which send no signals.
func noExit(t *testing.T) func(int) {
	return func(code int) { t.Errorf("run called exit(%d)", code) }
}

// startRun runs run on a kernel-chosen loopback port and returns once it
// logs the address it listens on.
func startRun(t *testing.T, ctx context.Context, dataDir string, args ...string) *server {
	t.Helper()
	return startRunEnv(t, ctx, dataDir, func(string) string { return "" }, args...)
}

// startRunEnv is startRun with an environment.
func startRunEnv(t *testing.T, ctx context.Context, dataDir string, getenv func(string) string, args ...string) *server {
	t.Helper()
	pr, pw := io.Pipe()
	s := &server{}
	addrs := make(chan string, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l map[string]any
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Errorf("log line is not JSON: %q", sc.Text())
				continue
			}
			s.mu.Lock()
			s.logs = append(s.logs, l)
			s.mu.Unlock()
			if l["msg"] == "listening" {
				addrs <- l["addr"].(string)
			}
		}
	}()
	done := make(chan error, 1)
	s.done = done
	go func() {
		err := run(ctx, append([]string{"autorefresh", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, args...), getenv, pw, noExit(t))
		pw.Close()
		<-readerDone
		done <- err
	}()
	select {
	case s.addr = <-addrs:
		return s
	case err := <-done:
		t.Fatalf("run returned before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not log that it was listening")
	}
	return nil
}

func TestRunLoadsConfigServesAndShutsDownCleanly(t *testing.T) {
	up, err := exampleupstream.New(exampleupstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	cfgFile := filepath.Join(t.TempDir(), "caches.yaml")
	yaml := "caches:\n  jobs:\n    webhook:\n      url: " + upstream.URL + "/sync\n    resyncPeriod: 50ms\n"
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startRun(t, ctx, t.TempDir(), "--allow-webhook-cidrs", "127.0.0.0/8", "--config", cfgFile)
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	base := "http://" + s.addr

	res, err := client.Post(base+"/v1/caches/jobs/items", "application/json", strings.NewReader(`{"id": "item1"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create in a cache from --config: %d", res.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := client.Get(base + "/v1/caches/jobs/items/item1")
		if err != nil {
			t.Fatal(err)
		}
		var it struct{ Terminal bool }
		json.NewDecoder(res.Body).Decode(&it)
		res.Body.Close()
		if it.Terminal {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("item1 never became terminal")
		}
		time.Sleep(10 * time.Millisecond)
	}
	res, err = client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{"go_goroutines", "process_cpu_seconds_total", `autorefresh_cache_items{cache="jobs"}`, "autorefresh_build_info{"} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	cancel() // what SIGTERM does, through signal.NotifyContext
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("run after shutdown: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if len(s.logsWith("stopped")) != 1 {
		t.Fatal("no 'stopped' log line")
	}
	if n := len(s.logsWith("request")); n < 3 {
		t.Fatalf("%d access-log lines", n)
	}
	// goleak in TestMain checks that nothing run started is still running.
}

func TestRunRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := map[string]struct {
		args []string
		want string
	}{
		"missing file":   {[]string{"--config", filepath.Join(dir, "none.yaml")}, "none.yaml"},
		"unknown field":  {[]string{"--config", write("typo.yaml", "caches:\n  jobs:\n    resyncPeriood: 1s\n")}, "resyncPeriood"},
		"bad duration":   {[]string{"--config", write("dur.yaml", "caches:\n  jobs:\n    webhook: {url: 'http://127.0.0.1:1/'}\n    resyncPeriod: soon\n")}, "soon"},
		"bad cache":      {[]string{"--allow-private-webhooks", "--config", write("size.yaml", "caches:\n  jobs:\n    webhook: {url: 'http://127.0.0.1:1/'}\n    resyncPeriod: 1s\n    size: -4\n")}, `cache "jobs": size`},
		"private url":    {[]string{"--config", write("priv.yaml", "caches:\n  jobs:\n    webhook: {url: 'http://127.0.0.1:1/'}\n    resyncPeriod: 1s\n")}, "loopback"},
		"bad log level":  {[]string{"--log-level", "loud"}, "--log-level"},
		"bad bool":       {[]string{"--allow-private-webhooks=maybe"}, "allow-private-webhooks"},
		"tls half":       {[]string{"--tls-cert", "x.pem"}, "--tls-key"},
		"metrics auth":   {[]string{"--metrics-auth"}, "--auth-tokens-file"},
		"tokens file":    {[]string{"--auth-tokens-file", write("tokens", "write short\n")}, "line 1"},
		"stray argument": {[]string{"extra"}, "unexpected"},
		"bad cidr":       {[]string{"--allow-webhook-cidrs", "10.0.0.0/8,nonsense"}, "nonsense"},
		"bad proxy":      {[]string{"--trusted-proxies", "10.0.0.0/33"}, "--trusted-proxies"},
		"bad delay":      {[]string{"--shutdown-delay", "-1s"}, "--shutdown-delay"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := run(context.Background(), append([]string{"autorefresh", "--addr", "127.0.0.1:0", "--in-memory"}, c.args...), func(string) string { return "" }, io.Discard, noExit(t))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}

func TestFlagsFallBackToEnvironment(t *testing.T) {
	env := map[string]string{"AUTOREFRESH_ADDR": "127.0.0.1:9999", "AUTOREFRESH_ALLOW_PRIVATE_WEBHOOKS": "true", "AUTOREFRESH_LOG_LEVEL": "debug"}
	cfg, err := parseConfig([]string{"x"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != "127.0.0.1:9999" || !cfg.allowPrivateWebhooks || cfg.logLevel.String() != "debug" {
		t.Fatalf("env ignored: %+v", cfg)
	}
	cfg, _ = parseConfig([]string{"x", "--addr", ":1"}, func(k string) string { return env[k] }, io.Discard)
	if cfg.addr != ":1" {
		t.Fatal("a flag must win over the environment")
	}
	if _, err := parseConfig([]string{"x", "-h"}, func(string) string { return "" }, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
}
