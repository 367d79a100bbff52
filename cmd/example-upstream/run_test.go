package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// logLine is the part of a JSON log line the tests look at.
type logLine struct {
	Msg  string `json:"msg"`
	Addr string `json:"addr"`
}

// startRun runs run on a kernel-chosen loopback port and returns the address
// it listens on and a channel that yields run's result. The address is read
// from run's "listening" log line, which avoids picking a free port and
// racing for it.
func startRun(t *testing.T, ctx context.Context, getenv func(string) string) (string, <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	addrs := make(chan string, 1)
	readerDone := make(chan struct{})
	go func() {
		// Read every line until run returns, so that its writes never block.
		defer close(readerDone)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var l logLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Errorf("log line is not JSON: %q", sc.Text())
				continue
			}
			if l.Msg == "listening" {
				addrs <- l.Addr
			}
		}
	}()

	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"example-upstream", "--addr", "127.0.0.1:0"}, getenv, pw)
		pw.Close() // ends the reader
		// Report only once the reader is done too, so that no goroutine of
		// the test outlives it.
		<-readerDone
		done <- err
	}()

	select {
	case addr := <-addrs:
		return addr, done
	case err := <-done:
		t.Fatalf("run returned before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not log that it was listening")
	}
	return "", nil
}

func noEnv(string) string { return "" }

func TestRunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := startRun(t, ctx, noEnv)

	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	post := func() *http.Response {
		t.Helper()
		body := `{"cache":"jobs","items":[{"id":"item1","data":null,"terminal":false,"version":1}]}`
		resp, err := client.Post("http://"+addr+"/sync", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST /sync: %v", err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	for _, want := range []struct {
		status   string
		terminal bool
	}{{"Started", false}, {"Completed", true}} {
		resp := post()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /sync: status %d", resp.StatusCode)
		}
		var rep struct {
			Items []struct {
				ID       string            `json:"id"`
				Action   string            `json:"action"`
				Data     map[string]string `json:"data"`
				Terminal bool              `json:"terminal"`
			} `json:"items"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
			t.Fatalf("decode reply: %v", err)
		}
		if len(rep.Items) != 1 || rep.Items[0].ID != "item1" || rep.Items[0].Action != "update" ||
			rep.Items[0].Data["status"] != want.status || rep.Items[0].Terminal != want.terminal {
			t.Fatalf("reply %+v, want item1 updated to %s", rep.Items, want.status)
		}
	}
	if resp := post(); resp.StatusCode != http.StatusNoContent {
		t.Errorf("third POST /sync: status %d, want 204", resp.StatusCode)
	}

	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	stopRun(t, cancel, done)
}

func TestRunRequiresSignatureWhenSecretSet(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	getenv := func(k string) string {
		if k == "EXAMPLE_UPSTREAM_SECRET" {
			return "whsec_gRAhcgqryWbjCholqSkw506kCMX+9rI1"
		}
		return ""
	}
	addr, done := startRun(t, ctx, getenv)

	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Post("http://"+addr+"/sync", "application/json",
		strings.NewReader(`{"cache":"jobs","items":[{"id":"a"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned POST: status %d, want 401", resp.StatusCode)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunFailsFast(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"bad secret":     {args: []string{"x", "--addr", "127.0.0.1:0", "--secret", "nope"}},
		"bad env secret": {args: []string{"x", "--addr", "127.0.0.1:0"}, env: map[string]string{"EXAMPLE_UPSTREAM_SECRET": "nope"}},
		"bad address":    {args: []string{"x", "--addr", "127.0.0.1:-1"}},
		"unknown flag":   {args: []string{"x", "--port", "9000"}},
		"extra argument": {args: []string{"x", "serve"}},
	} {
		getenv := func(k string) string { return tc.env[k] }
		if err := run(context.Background(), tc.args, getenv, io.Discard); err == nil {
			t.Errorf("%s: run succeeded", name)
		}
	}
}

// TestRunPacesAndFailsItemsWhenAsked shows the two reply options reaching the
// wire: a top-level nextSyncAfter on every reply, and an item error for the
// ids with the prefix while the rest of the batch moves on.
func TestRunPacesAndFailsItemsWhenAsked(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := map[string]string{"EXAMPLE_UPSTREAM_NEXT_SYNC_AFTER": "30s", "EXAMPLE_UPSTREAM_ERROR_PREFIX": "missing-"}
	addr, done := startRun(t, ctx, func(k string) string { return env[k] })

	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	body := `{"cache":"jobs","items":[{"id":"missing-1","data":null,"terminal":false,"version":1},{"id":"ok","data":null,"terminal":false,"version":1}]}`
	resp, err := client.Post("http://"+addr+"/sync", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST /sync: %v", err)
	}
	defer resp.Body.Close()
	var rep struct {
		NextSyncAfter string `json:"nextSyncAfter"`
		Items         []struct {
			ID     string `json:"id"`
			Action string `json:"action"`
			Error  string `json:"error"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("reply: status %d, %v", resp.StatusCode, err)
	}
	actions := map[string]string{}
	for _, it := range rep.Items {
		actions[it.ID] = it.Action
		if it.Action == "error" && it.Error == "" {
			t.Errorf("item error for %s has no message", it.ID)
		}
	}
	if rep.NextSyncAfter != "30s" || actions["missing-1"] != "error" || actions["ok"] != "update" {
		t.Errorf("reply nextSyncAfter %q, actions %v; want 30s, missing-1 error and ok update", rep.NextSyncAfter, actions)
	}
	stopRun(t, cancel, done)
}

// stopRun cancels run's context and waits, with a deadline, for it to return
// nil.
func stopRun(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after ctx was cancelled")
	}
}
