package handlers_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/autorefresh/autorefresh/internal/handlers"
)

// withAllowedHosts sets the Host check as cmd/server does on loopback.
func withAllowedHosts(hosts ...string) func(*handlers.Deps) {
	return func(d *handlers.Deps) { d.AllowedHosts = hosts }
}

// A page that rebinds its own name to the loopback server is refused; the
// names the server listens on work, and the health checks answer any Host.
func TestHostCheckRefusesRebinding(t *testing.T) {
	// Bare names match every port: the port of this test server is only
	// known once it listens (cmd/server's test checks the default, with
	// the port).
	e := newEnvWith(t, nil, withAllowedHosts("localhost", "127.0.0.1"))
	u, _ := url.Parse(e.srv.URL)
	port := u.Port()

	for _, path := range []string{"/v1/caches", "/", "/openapi.yaml", "/metrics"} {
		r := e.send("GET", path, map[string]string{"Host": "rebind.attacker.example:" + port}, "")
		if r.status != http.StatusMisdirectedRequest || r.json(t)["code"] != "MISDIRECTED_REQUEST" {
			t.Fatalf("GET %s for rebind.attacker.example: %d %s", path, r.status, r.body)
		}
	}
	r := e.send("POST", "/v1/caches/jobs/sync", map[string]string{"Host": "rebind.attacker.example:" + port}, "")
	if r.status != http.StatusMisdirectedRequest {
		t.Fatalf("POST for rebind.attacker.example: %d %s", r.status, r.body)
	}
	for _, host := range []string{"localhost:" + port, "LOCALHOST:" + port, "127.0.0.1:" + port} {
		if r := e.send("GET", "/v1/caches", map[string]string{"Host": host}, ""); r.status != http.StatusOK {
			t.Fatalf("GET for %s: %d %s", host, r.status, r.body)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := e.send("GET", path, map[string]string{"Host": "10.1.2.3:" + port}, ""); r.status != http.StatusOK {
			t.Fatalf("%s for a probe's Host: %d", path, r.status)
		}
	}
}

// A bare name matches every port, host:port only that port.
func TestHostCheckPorts(t *testing.T) {
	e := newEnvWith(t, nil, withAllowedHosts("api.example.com", "[::1]:8080", "admin.example.com:8443"))
	if r := e.send("GET", "/v1/caches", map[string]string{"Host": "api.example.com"}, ""); r.status != http.StatusOK {
		t.Fatalf("api.example.com: %d", r.status)
	}
	if r := e.send("GET", "/v1/caches", map[string]string{"Host": "api.example.com:8443"}, ""); r.status != http.StatusOK {
		t.Fatalf("api.example.com:8443: %d", r.status)
	}
	for _, host := range []string{"[::1]:8080", "admin.example.com:8443", "Admin.Example.com:8443"} {
		if r := e.send("GET", "/v1/caches", map[string]string{"Host": host}, ""); r.status != http.StatusOK {
			t.Fatalf("%s: %d", host, r.status)
		}
	}
	for _, host := range []string{"example.com", "[::1]:8081", "admin.example.com", "admin.example.com:443", "api.example.com.evil"} {
		if r := e.send("GET", "/v1/caches", map[string]string{"Host": host}, ""); r.status != http.StatusMisdirectedRequest {
			t.Fatalf("%s: %d", host, r.status)
		}
	}
}

// A form that another site posts to the open server is refused, whether the
// browser says so in Sec-Fetch-Site or only in Origin, and so is a form's
// content type on a write without a body; same-origin JSON still works.
func TestCrossSiteWritesRefused(t *testing.T) {
	e := newEnv(t)
	e.putCache("jobs", e.webhookBody(`, "syncOnCreate": false`))
	form := "application/x-www-form-urlencoded"
	cases := []struct {
		name   string
		header map[string]string
		body   string
		status int
		code   string
	}{
		{"Sec-Fetch-Site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": form}, "a=b", 403, "FORBIDDEN"},
		{"Sec-Fetch-Site same-site", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:3000", "Content-Type": "application/json"}, "", 403, "FORBIDDEN"},
		{"foreign Origin", map[string]string{"Origin": "https://evil.example", "Content-Type": form}, "a=b", 403, "FORBIDDEN"},
		{"foreign Origin, JSON", map[string]string{"Origin": "https://evil.example", "Content-Type": "application/json"}, "", 403, "FORBIDDEN"},
		{"form, no browser headers", map[string]string{"Content-Type": form}, "a=b", 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"empty form", map[string]string{"Content-Type": form}, "", 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"multipart", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, "", 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"text/plain", map[string]string{"Content-Type": "text/plain"}, "{}", 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"a body without a type", nil, "a=b", 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"same-origin JSON", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": e.srv.URL, "Content-Type": "application/json"}, "", 202, ""},
		{"Origin of this server", map[string]string{"Origin": e.srv.URL}, "", 202, ""},
		{"curl, no headers", nil, "", 202, ""},
		{"typed in the address bar", map[string]string{"Sec-Fetch-Site": "none"}, "", 202, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.send("POST", "/v1/caches/jobs/sync", c.header, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if c.code != "" && r.json(t)["code"] != c.code {
				t.Fatalf("body %s, want code %s", r.body, c.code)
			}
		})
	}
	// Deletes too; reads are not refused (the Host check covers those).
	if r := e.send("DELETE", "/v1/caches/jobs", map[string]string{"Sec-Fetch-Site": "cross-site"}, ""); r.status != 403 {
		t.Fatalf("cross-site DELETE: %d %s", r.status, r.body)
	}
	if r := e.send("DELETE", "/v1/caches/jobs", map[string]string{"Content-Type": "text/plain"}, ""); r.status != 415 {
		t.Fatalf("text/plain DELETE: %d %s", r.status, r.body)
	}
	if r := e.send("GET", "/v1/caches/jobs", map[string]string{"Sec-Fetch-Site": "cross-site"}, ""); r.status != 200 {
		t.Fatalf("cross-site GET: %d %s", r.status, r.body)
	}
	if r := e.send("PUT", "/v1/caches/other", map[string]string{"Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}, e.webhookBody("")); r.status != 201 {
		t.Fatalf("same-origin JSON PUT: %d %s", r.status, r.body)
	}
}
