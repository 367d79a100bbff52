package exampleupstream_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/autorefresh/autorefresh/internal/exampleupstream"
)

// A refused body changes no state. Which bodies webhook.Handler refuses is
// tested in package webhook; a few kinds are enough here.
func TestBadBodiesAreRejected(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":    `cache=jobs`,
		"empty items": `{"cache":"jobs","items":[]}`,
		"repeated id": `{"cache":"jobs","items":[{"id":"a"},{"id":"a"}]}`,
	} {
		u := mustNew(t, exampleupstream.Options{})
		rec := serve(u, newRequest(body))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"INVALID"`) {
			t.Errorf("%s: status %d, body %s; want 400 INVALID", name, rec.Code, rec.Body)
		}
		if u.Calls() != 0 || u.Status("a") != exampleupstream.StatusNotStarted {
			t.Errorf("%s: a rejected call changed state", name)
		}
	}
}

func TestUnknownFieldsAreTolerated(t *testing.T) {
	u := mustNew(t, exampleupstream.Options{})
	rec := serve(u, newRequest(`{"cache":"jobs","attempt":2,"items":[{"id":"a","extra":true}]}`))
	if rec.Code != http.StatusOK {
		t.Errorf("status %d, body %s", rec.Code, rec.Body)
	}
}

func TestWrongMethod(t *testing.T) {
	u := mustNew(t, exampleupstream.Options{})
	rec := serve(u, httptest.NewRequest(http.MethodGet, "/sync", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost {
		t.Errorf("GET: status %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestContentType(t *testing.T) {
	u := mustNew(t, exampleupstream.Options{})
	for ct, want := range map[string]int{
		"application/json; charset=utf-8": http.StatusOK,
		"Application/JSON":                http.StatusOK,
		"":                                http.StatusUnsupportedMediaType,
		"text/plain":                      http.StatusUnsupportedMediaType,
		"application/jsonx":               http.StatusUnsupportedMediaType,
	} {
		r := newRequest(batchBody(t, "id"+strings.NewReplacer("/", "", " ", "", ";", "", "=", "", "-", "").Replace(ct)))
		r.Header.Set("Content-Type", ct)
		if rec := serve(u, r); rec.Code != want {
			t.Errorf("Content-Type %q: status %d, want %d", ct, rec.Code, want)
		}
	}
}

func TestBodyTooLarge(t *testing.T) {
	u := mustNew(t, exampleupstream.Options{})
	body := `{"cache":"jobs","items":[{"id":"a","data":"` + strings.Repeat("x", exampleupstream.MaxBodyBytes) + `"}]}`
	rec := serve(u, newRequest(body))
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), `"TOO_LARGE"`) {
		t.Errorf("status %d, body %.200s; want 413 TOO_LARGE", rec.Code, rec.Body)
	}
}
