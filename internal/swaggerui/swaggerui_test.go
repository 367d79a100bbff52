package swaggerui_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/autorefresh/autorefresh/internal/swaggerui"
)

// server mounts the handler the way the package documents, behind chi, so the
// test also proves that the documented mount works.
func server(t *testing.T) *httptest.Server {
	t.Helper()
	h := swaggerui.New("/openapi.yaml")
	r := chi.NewRouter()
	r.Handle(swaggerui.MountPath, h)
	r.Handle(swaggerui.MountPath+"/*", h)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// A bare transport, so that Go does not ask for and undo gzip by itself
	// and the test sees what a browser would.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

var assetRef = regexp.MustCompile(`(?i)\b(?:src|href)\s*=\s*["']([^"']*)["']`)

func page(t *testing.T, srv *httptest.Server, path string) []string {
	t.Helper()
	resp, body := get(t, srv.URL+path, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", path, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET %s Content-Type = %q", path, ct)
	}
	html := string(body)
	if !strings.Contains(html, `"/openapi.yaml"`) {
		t.Errorf("page does not point at /openapi.yaml")
	}
	var refs []string
	for _, m := range assetRef.FindAllStringSubmatch(html, -1) {
		refs = append(refs, m[1])
	}
	return refs
}

func TestPageUsesOnlyLocalAssets(t *testing.T) {
	srv := server(t)
	for _, path := range []string{"/docs", "/docs/"} {
		refs := page(t, srv, path)
		if len(refs) < 3 {
			t.Fatalf("GET %s: found only %d src/href references: %v", path, len(refs), refs)
		}
		for _, ref := range refs {
			if strings.Contains(ref, "//") || !strings.HasPrefix(ref, swaggerui.MountPath+"/") {
				t.Errorf("GET %s references %q, which is not a local asset under /docs/", path, ref)
			}
		}
	}
}

func TestAssetsAreServed(t *testing.T) {
	srv := server(t)
	wantType := map[string]string{
		".js":  "javascript",
		".css": "text/css",
		".png": "image/png",
	}
	refs := page(t, srv, "/docs")
	var sawJS, sawCSS bool
	for _, ref := range refs {
		ext := ref[strings.LastIndex(ref, "."):]
		sawJS = sawJS || ext == ".js"
		sawCSS = sawCSS || ext == ".css"

		// Plain, as a client that does not accept gzip gets it.
		resp, body := get(t, srv.URL+ref, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", ref, resp.StatusCode)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, wantType[ext]) {
			t.Errorf("GET %s Content-Type = %q, want %s", ref, ct, wantType[ext])
		}
		if len(body) == 0 || resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("GET %s: %d bytes, Content-Encoding %q; want a plain body", ref, len(body), resp.Header.Get("Content-Encoding"))
		}

		// Compressed, as a browser gets it.
		resp, body = get(t, srv.URL+ref, map[string]string{"Accept-Encoding": "gzip"})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s (gzip) = %d", ref, resp.StatusCode)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, wantType[ext]) {
			t.Errorf("GET %s (gzip) Content-Type = %q, want %s", ref, ct, wantType[ext])
		}
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(strings.NewReader(string(body)))
			if err != nil {
				t.Errorf("GET %s (gzip): %v", ref, err)
				continue
			}
			if _, err := io.Copy(io.Discard, zr); err != nil {
				t.Errorf("GET %s (gzip): %v", ref, err)
			}
		}
	}
	if !sawJS || !sawCSS {
		t.Errorf("page references no JS or no CSS: %v", refs)
	}
}

func TestUnknownAssetIsNotFound(t *testing.T) {
	srv := server(t)
	resp, _ := get(t, srv.URL+"/docs/nope.js", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /docs/nope.js = %d, want 404", resp.StatusCode)
	}
}

func TestOnlyGetAndHead(t *testing.T) {
	h := swaggerui.New("/openapi.yaml")

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/docs", strings.NewReader("{}")))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") == "" {
		t.Errorf("POST /docs = %d, Allow %q; want 405 with Allow", rec.Code, rec.Header().Get("Allow"))
	}
	if !strings.Contains(rec.Body.String(), `"METHOD_NOT_ALLOWED"`) {
		t.Errorf("POST /docs body = %s", rec.Body)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/docs/swagger-ui.css", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("HEAD /docs/swagger-ui.css = %d", rec.Code)
	}
}

// The page must run under its Content-Security-Policy without inline script
// or style (the browser test, e2e/docs.test.mjs, proves it renders), and
// every response under /docs carries the policy and nosniff.
func TestSecurityHeaders(t *testing.T) {
	srv := server(t)
	for _, path := range []string{"/docs", "/docs/", "/docs/init.js", "/docs/page.css", "/docs/swagger-ui-bundle.js", "/docs/nope.js"} {
		resp, body := get(t, srv.URL+path, nil)
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self';", "style-src 'self';", "connect-src 'self';", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: Content-Security-Policy %q allows unsafe sources", path, csp)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options = %q, want nosniff", path, got)
		}
		if path == "/docs" || path == "/docs/" {
			html := string(body)
			if regexp.MustCompile(`<script(\s[^>]*)?>\s*[^<\s]`).MatchString(html) || strings.Contains(html, "<style") ||
				strings.Contains(html, "style=") || regexp.MustCompile(`\son[a-z]+\s*=`).MatchString(html) {
				t.Errorf("GET %s has inline script or style, which the policy refuses:\n%s", path, html)
			}
		}
	}
}
