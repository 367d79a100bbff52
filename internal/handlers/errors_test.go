package handlers_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/handlers"
)

// failingStorage is a service whose item storage fails as a journal that
// cannot write, or a database that is gone, makes it fail: Unavailable.
// Everything else is the real service.
type failingStorage struct{ autorefresh.Service }

func errStorage() error { return errs.Errorf(errs.Unavailable, "storage is failing") }

func (failingStorage) CreateItem(context.Context, string, autorefresh.NewItem) (autorefresh.Item, bool, error) {
	return autorefresh.Item{}, false, errStorage()
}

func (failingStorage) GetItem(context.Context, string, string) (autorefresh.Item, error) {
	return autorefresh.Item{}, errStorage()
}

// TestUnavailableCarriesRetryAfter: every 503 the error writer answers says
// when to try again, not only the watch caps' (a failing store here, on a
// write and on a read), and the other errors do not.
func TestUnavailableCarriesRetryAfter(t *testing.T) {
	e := newEnvWith(t, nil, func(d *handlers.Deps) { d.Service = failingStorage{d.Service} })
	for _, r := range []resp{
		e.do("POST", "/v1/caches/jobs/items", "application/json", `{"id": "a"}`),
		e.do("GET", "/v1/caches/jobs/items/a", "", ""),
	} {
		if r.status != http.StatusServiceUnavailable || r.json(t)["code"] != "UNAVAILABLE" || r.header.Get("Retry-After") != "5" {
			t.Fatalf("%d (Retry-After %q) %s, want 503 UNAVAILABLE with Retry-After: 5", r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	if r := e.do("GET", "/v1/caches/nope", "", ""); r.status != http.StatusNotFound || r.header.Get("Retry-After") != "" {
		t.Fatalf("a 404: %d (Retry-After %q) %s, want 404 without Retry-After", r.status, r.header.Get("Retry-After"), r.body)
	}
}
