package exampleupstream_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/exampleupstream"
)

// pacedReply is a reply with the per-item protocol's fields.
type pacedReply struct {
	Items []struct {
		ID     string `json:"id"`
		Action string `json:"action"`
		Error  string `json:"error"`
	} `json:"items"`
	NextSyncAfter string `json:"nextSyncAfter"`
}

func decodePaced(t *testing.T, body []byte) pacedReply {
	t.Helper()
	var rep pacedReply
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("reply %q: %v", body, err)
	}
	return rep
}

// By default neither field is sent: the example behaves as it always did.
func TestDefaultSendsNoNextSyncAfterNorErrors(t *testing.T) {
	u := mustNew(t, exampleupstream.Options{})
	rec := serve(u, newRequest(batchBody(t, "fail-1", "a")))
	rep := decodePaced(t, rec.Body.Bytes())
	if rep.NextSyncAfter != "" || len(rep.Items) != 2 || rep.Items[0].Action != "update" || rep.Items[1].Action != "update" {
		t.Fatalf("reply %s", rec.Body)
	}
}

func TestNextSyncAfterOption(t *testing.T) {
	u := mustNew(t, exampleupstream.Options{NextSyncAfter: 90 * time.Second})
	rep := decodePaced(t, serve(u, newRequest(batchBody(t, "a"))).Body.Bytes())
	if rep.NextSyncAfter != "1m30s" || len(rep.Items) != 1 {
		t.Fatalf("first reply %+v", rep)
	}
	serve(u, newRequest(batchBody(t, "a"))) // Completed
	// Nothing changes any more, but the pace is still said: a 200, not a 204.
	rec := serve(u, newRequest(batchBody(t, "a")))
	if rec.Code != http.StatusOK {
		t.Fatalf("unchanged batch answered %d", rec.Code)
	}
	if rep := decodePaced(t, rec.Body.Bytes()); rep.NextSyncAfter != "1m30s" || len(rep.Items) != 0 {
		t.Fatalf("unchanged reply %s", rec.Body)
	}
}

func TestErrorPrefixOption(t *testing.T) {
	u := mustNew(t, exampleupstream.Options{ErrorPrefix: "missing-"})
	rec := serve(u, newRequest(batchBody(t, "missing-7", "ok")))
	rep := decodePaced(t, rec.Body.Bytes())
	if len(rep.Items) != 2 {
		t.Fatalf("reply %s", rec.Body)
	}
	if e := rep.Items[0]; e.ID != "missing-7" || e.Action != "error" || e.Error != exampleupstream.ErrorMessage {
		t.Errorf("missing-7: %+v", e)
	}
	if r := rep.Items[1]; r.ID != "ok" || r.Action != "update" {
		t.Errorf("ok: %+v", r)
	}
	if got := u.Status("missing-7"); got != exampleupstream.StatusNotStarted {
		t.Errorf("an id in error moved on to %q", got)
	}
}
