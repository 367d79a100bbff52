package handlers_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDashboardRoutes checks that the dashboard is mounted: the page at /,
// its assets under /ui/, and the API's JSON errors for anything else.
func TestDashboardRoutes(t *testing.T) {
	w := newWatchEnv(t, watchConfig{})
	r := w.do("GET", "/", "", "")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(r.body), `src="/ui/app.js"`) || r.header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET /: %d %v", r.status, r.header)
	}
	// Assets are not API operations, so they are fetched without the spec
	// check that e.do makes.
	res, err := http.Get(w.srv.URL + "/ui/app.js")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "import") {
		t.Fatalf("GET /ui/app.js: %d", res.StatusCode)
	}
	// Unknown assets and other methods answer in the API's error form.
	if r := w.do("GET", "/ui/nope.js", "", ""); r.status != http.StatusNotFound || r.json(t)["code"] != "NOT_FOUND" {
		t.Fatalf("unknown asset: %d %s", r.status, r.body)
	}
	if r := w.do("POST", "/", "", ""); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET" {
		t.Fatalf("POST /: %d %v", r.status, r.header)
	}
}
