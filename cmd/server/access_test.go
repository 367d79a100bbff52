package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const looseWarning = "the tokens file can be read by other users; make it private with chmod 600"

// statusFor sends a GET to the server at addr with the given Host.
func statusFor(t *testing.T, addr, path, host string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// A token listed twice, or with two roles, stops the start; the error names
// the lines and never the token.
func TestTokenListedTwiceStopsTheStart(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct{ file, want string }{
		"twice":     {"write a-very-long-secret-token ci\nwrite a-very-long-secret-token ci\n", "line 2: the token of line 1 again"},
		"two roles": {"read a-very-long-secret-token\n\nwrite a-very-long-secret-token\n", "line 3: the token of line 1 again, as write where that line says read"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(c.file), 0o600); err != nil {
			t.Fatal(err)
		}
		err := run(context.Background(), []string{"autorefresh", "--addr", "127.0.0.1:0", "--in-memory", "--auth-tokens-file", path},
			func(string) string { return "" }, io.Discard, noExit(t))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Fatalf("%s: %v, want an error naming the file and %q", name, err, c.want)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("%s: the error repeats the token: %v", name, err)
		}
	}
}

// A tokens file that others may read is served, with a warning that says
// which file, its mode and the fix; a private one gets no warning.
func TestLooseTokensFileWarns(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o644, 0o640, 0o600} {
		path := filepath.Join(dir, "tokens")
		if err := os.WriteFile(path, []byte("read a-very-long-secret-token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		s := startRun(t, ctx, t.TempDir(), "--auth-tokens-file", path)
		warned := s.logsWith(looseWarning)
		stopRun(t, cancel, s)
		if mode == 0o600 {
			if len(warned) != 0 {
				t.Fatalf("0600: warned %v", warned)
			}
			continue
		}
		if len(warned) != 1 || warned[0]["file"] != path || warned[0]["mode"] != fmt.Sprintf("%#o", mode) {
			t.Fatalf("%#o: warnings %v", mode, warned)
		}
	}
}

// An open server on loopback answers only for its own names: a page that
// rebinds its name to 127.0.0.1 is refused, the browser on the machine is
// not. --allowed-hosts replaces the default; with tokens there is none.
func TestOpenLoopbackServerChecksHost(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := startRun(t, ctx, t.TempDir())
	_, port, _ := net.SplitHostPort(s.addr)
	if got := statusFor(t, s.addr, "/v1/caches", "rebind.attacker.example:"+port); got != http.StatusMisdirectedRequest {
		t.Fatalf("rebind.attacker.example: %d", got)
	}
	if got := statusFor(t, s.addr, "/", "rebind.attacker.example"); got != http.StatusMisdirectedRequest {
		t.Fatalf("the dashboard for rebind.attacker.example: %d", got)
	}
	if got := statusFor(t, s.addr, "/v1/caches", "localhost:1"); got != http.StatusMisdirectedRequest {
		t.Fatalf("localhost on another port: %d", got)
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port} {
		if got := statusFor(t, s.addr, "/v1/caches", host); got != http.StatusOK {
			t.Fatalf("%s: %d", host, got)
		}
	}
	if got := statusFor(t, s.addr, "/healthz", "10.0.0.7:"+port); got != http.StatusOK {
		t.Fatalf("healthz for a probe's Host: %d", got)
	}
	stopRun(t, cancel, s)

	ctx, cancel = context.WithCancel(context.Background())
	s = startRun(t, ctx, t.TempDir(), "--allowed-hosts", "api.example.com, other.example:8080")
	_, port, _ = net.SplitHostPort(s.addr)
	if got := statusFor(t, s.addr, "/v1/caches", "api.example.com:"+port); got != http.StatusOK {
		t.Fatalf("--allowed-hosts api.example.com: %d", got)
	}
	if got := statusFor(t, s.addr, "/v1/caches", "localhost:"+port); got != http.StatusMisdirectedRequest {
		t.Fatalf("localhost, not in --allowed-hosts: %d", got)
	}
	stopRun(t, cancel, s)

	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("read a-very-long-secret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	s = startRun(t, ctx, t.TempDir(), "--auth-tokens-file", path)
	if got := statusFor(t, s.addr, "/healthz", "anything.example"); got != http.StatusOK {
		t.Fatalf("with tokens, any Host: %d", got)
	}
	if got := statusFor(t, s.addr, "/v1/caches", "anything.example"); got != http.StatusUnauthorized {
		t.Fatalf("with tokens, /v1 for any Host: %d, want 401 (no Host check)", got)
	}
	stopRun(t, cancel, s)
}

func TestAllowedHostsDefaults(t *testing.T) {
	lo := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	lo6 := &net.TCPAddr{IP: net.IPv6loopback, Port: 8080}
	all := &net.TCPAddr{IP: net.IPv4zero, Port: 8080}
	for _, c := range []struct {
		name   string
		cfg    config
		tokens bool
		addr   net.Addr
		want   []string
	}{
		{"open on loopback", config{}, false, lo, []string{"127.0.0.1:8080", "localhost:8080", "127.0.0.1:8080"}},
		{"open on ::1", config{}, false, lo6, []string{"[::1]:8080", "localhost:8080", "127.0.0.1:8080"}},
		{"open on every address", config{}, false, all, nil},
		{"tokens on loopback", config{}, true, lo, nil},
		{"flag wins", config{allowedHosts: []string{"a.example"}}, true, all, []string{"a.example"}},
	} {
		if got := allowedHosts(c.cfg, c.tokens, c.addr); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	cfg, err := parseConfig([]string{"x"}, func(k string) string {
		if k == "AUTOREFRESH_ALLOWED_HOSTS" {
			return "a.example, b.example:80,"
		}
		return ""
	}, io.Discard)
	if err != nil || !reflect.DeepEqual(cfg.allowedHosts, []string{"a.example", "b.example:80"}) {
		t.Fatalf("AUTOREFRESH_ALLOWED_HOSTS: %q %v", cfg.allowedHosts, err)
	}
}
