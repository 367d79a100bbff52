package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var notFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "custom 404", http.StatusNotFound)
})

func TestServesThePageAndAssets(t *testing.T) {
	h := Handler(notFound)
	for path, ctype := range map[string]string{
		"/":               "text/html; charset=utf-8",
		"/ui/app.js":      "text/javascript; charset=utf-8",
		"/ui/style.css":   "text/css; charset=utf-8",
		"/ui/favicon.svg": "image/svg+xml",
	} {
		res := get(t, h, path)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != ctype {
			t.Errorf("%s: %d %q", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") ||
			res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: security headers %v", path, res.Header)
		}
		again := get(t, h, path, "If-None-Match", res.Header.Get("ETag"))
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("%s with its ETag: %d", path, again.StatusCode)
		}
	}
	for _, path := range []string{"/ui/", "/ui/index.html", "/index.html", "/ui/nope.js", "/ui/../go.mod"} {
		if res := get(t, h, path); res.StatusCode != http.StatusNotFound || body(t, res) != "custom 404\n" {
			t.Errorf("%s: %d", path, res.StatusCode)
		}
	}
}

// files returns every embedded file's text by name.
func files(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, p)
		out[strings.TrimPrefix(p, "static/")] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEveryReferenceResolves(t *testing.T) {
	all := files(t)
	refs := regexp.MustCompile(`(?:src|href)="/ui/([^"]+)"`).FindAllStringSubmatch(all["index.html"], -1)
	if len(refs) < 3 {
		t.Fatalf("index.html references only %v", refs)
	}
	for _, m := range refs {
		if _, ok := all[m[1]]; !ok {
			t.Errorf("index.html refers to /ui/%s, which is not embedded", m[1])
		}
	}
	imports := regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"]([^'"]+)['"]`)
	for name, text := range all {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		for _, m := range imports.FindAllStringSubmatch(text, -1) {
			if !strings.HasPrefix(m[1], "./") {
				t.Errorf("%s imports %q: only the dashboard's own modules may be imported", name, m[1])
			} else if _, ok := all[strings.TrimPrefix(m[1], "./")]; !ok {
				t.Errorf("%s imports %q, which is not embedded", name, m[1])
			}
		}
	}
}

// TestNoOutsideResourcesOrInlineCode keeps the page within its CSP: nothing
// from another host, no inline script, style or event handler.
func TestNoOutsideResourcesOrInlineCode(t *testing.T) {
	all := files(t)
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for name, text := range all {
		// The SVG namespace is a name, not a resource: markup declares it,
		// and scripts pass it to createElementNS.
		text = strings.ReplaceAll(text, `xmlns="http://www.w3.org/2000/svg"`, "")
		text = strings.ReplaceAll(text, `'http://www.w3.org/2000/svg'`, "")
		if strings.HasSuffix(name, ".js") {
			// Comments may name documents; code may not load them.
			text = regexp.MustCompile(`(?m)^\s*//.*$`).ReplaceAllString(text, "")
		}
		if m := url.FindString(text); m != "" {
			t.Errorf("%s refers to %s", name, m)
		}
	}
	html := all["index.html"]
	scripts := regexp.MustCompile(`(?s)<script\b([^>]*)>(.*?)</script>`).FindAllStringSubmatch(html, -1)
	if len(scripts) == 0 {
		t.Error("index.html loads no script")
	}
	for _, m := range scripts {
		if !strings.Contains(m[1], `src="/ui/`) || strings.TrimSpace(m[2]) != "" {
			t.Errorf("index.html has an inline script: %s", m[0])
		}
	}
	if regexp.MustCompile(`(?i)\s(style|on[a-z]+)\s*=`).MatchString(html) {
		t.Error("index.html has an inline style or event handler attribute")
	}
	if strings.Contains(html, "<style") {
		t.Error("index.html has a <style> element")
	}
}

// TestTokenStaysInSessionStorage keeps the access token where the dashboard
// promises: in sessionStorage, sent in a header. EventSource cannot send
// one, so the event stream must be read with fetch.
func TestTokenStaysInSessionStorage(t *testing.T) {
	comment := regexp.MustCompile(`(?m)^\s*(//|\*|/\*).*$`)
	for name, text := range files(t) {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		code := comment.ReplaceAllString(text, "")
		for _, banned := range []string{"localStorage", "document.cookie", "EventSource", "indexedDB"} {
			if strings.Contains(code, banned) {
				t.Errorf("%s uses %s", name, banned)
			}
		}
	}
	api := files(t)["api.js"]
	if !strings.Contains(api, "sessionStorage") || !strings.Contains(api, "Authorization") {
		t.Error("api.js no longer keeps the token in sessionStorage and sends it in Authorization")
	}
}
