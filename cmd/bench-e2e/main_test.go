package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func noEnv(string) string { return "" }

func TestParseFlags(t *testing.T) {
	c, err := parseFlags(nil, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.modes, ",") != "memory,durable,postgres" || c.window != 10*time.Second || c.clients != 32 || c.bulkSize != 1000 {
		t.Errorf("defaults: %+v", c)
	}
	c, err = parseFlags([]string{"--modes", "postgres, memory", "--server-flags", "--gc-floor-mib 0"},
		func(k string) string { return map[string]string{"BENCH_WINDOW": "3s"}[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.modes, ",") != "postgres,memory" || c.window != 3*time.Second || len(c.serverFlags) != 2 {
		t.Errorf("parsed: %+v", c)
	}
	for _, args := range [][]string{{"--modes", "disk"}, {"--modes", ","}, {"--bulk-size", "1001"}, {"--window", "0s"}, {"extra"}} {
		if _, err := parseFlags(args, noEnv, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	if _, err := parseFlags([]string{"-h"}, noEnv, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -12345: "-12,345"} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
}

// fakeAPI answers the create routes as the server does, counting items.
func fakeAPI(t *testing.T, created *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/items/batch"):
			var req struct {
				Items []struct {
					ID string `json:"id"`
				} `json:"items"`
			}
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			var out bytes.Buffer
			out.WriteString(`{"items":[`)
			for i, it := range req.Items {
				if i > 0 {
					out.WriteByte(',')
				}
				out.WriteString(`{"id":"` + it.ID + `","created":true,"item":{}}`)
			}
			out.WriteString(`]}`)
			created.Add(int64(len(req.Items)))
			_, _ = w.Write(out.Bytes())
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/items"):
			var it struct{ ID string }
			if err := json.NewDecoder(r.Body).Decode(&it); err != nil || it.ID == "" {
				http.Error(w, "bad", http.StatusBadRequest)
				return
			}
			created.Add(1)
			w.WriteHeader(http.StatusCreated)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLoad(t *testing.T) {
	var created atomic.Int64
	srv := fakeAPI(t, &created)
	a := api{client: newClient(8), base: srv.URL}
	ctx := context.Background()
	if err := a.loadItems(ctx, "c", "p", 2500, 1000, 3); err != nil {
		t.Fatal(err)
	}
	if created.Load() != 2500 {
		t.Fatalf("loadItems created %d, want 2500", created.Load())
	}
	var cpu float64
	clock := func() (float64, error) { cpu += 0.5; return cpu, nil }
	r, err := drive(ctx, clock, 4, 20*time.Millisecond, 100*time.Millisecond, func(ctx context.Context, w, seq int) (int, error) {
		return a.createBulk(ctx, "c", "x", 10)
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.items == 0 || r.items%10 != 0 || r.errors != 0 || r.cpu != 0.5 || r.elapsed < 100*time.Millisecond {
		t.Errorf("drive: %+v", r)
	}
	r, err = drive(ctx, clock, 2, 0, 50*time.Millisecond, func(ctx context.Context, w, seq int) (int, error) {
		return 0, a.createOne(ctx, "c", "", seq) // an empty id: 400
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.errors == 0 || r.err == nil || r.items != 0 {
		t.Errorf("failing calls: %+v", r)
	}
}

// TestRun runs the whole command briefly against the real server binary in
// the two embedded modes (the PostgreSQL mode is what internal/replicated's
// tests cover).
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	bin := filepath.Join(t.TempDir(), "server")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/autorefresh/autorefresh/cmd/server").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"bench-e2e", "--server", bin, "--modes", "memory,durable",
		"--window", "300ms", "--warmup", "100ms", "--clients", "4", "--sync-items", "500", "--rss-items", "2000",
		"--work-dir", t.TempDir()}, noEnv, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"| memory | ", "| durable | ", "durable, RSS: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "failed calls") {
		t.Errorf("calls failed:\n%s", out.String())
	}
}
