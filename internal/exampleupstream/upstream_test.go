package exampleupstream_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/exampleupstream"
)

func TestItemsProgressInThreeSteps(t *testing.T) {
	u := mustNew(t, exampleupstream.Options{})
	if got := u.Status("item1"); got != exampleupstream.StatusNotStarted {
		t.Fatalf("unseen id: status %q", got)
	}

	steps := []struct {
		status   string
		terminal bool
	}{
		{exampleupstream.StatusStarted, false},
		{exampleupstream.StatusCompleted, true},
	}
	for i, want := range steps {
		rec := serve(u, newRequest(batchBody(t, "item1")))
		if rec.Code != http.StatusOK {
			t.Fatalf("call %d: status %d, body %s", i+1, rec.Code, rec.Body)
		}
		rep := decodeReply(t, rec)
		if len(rep.Items) != 1 {
			t.Fatalf("call %d: %d items, want 1", i+1, len(rep.Items))
		}
		got := rep.Items[0]
		if got.ID != "item1" || got.Action != "update" || got.Data.Status != want.status || got.Terminal != want.terminal {
			t.Errorf("call %d: got %+v, want update to %s terminal=%v", i+1, got, want.status, want.terminal)
		}
		if s := u.Status("item1"); s != want.status {
			t.Errorf("call %d: Status = %q, want %q", i+1, s, want.status)
		}
	}

	// Completed is final: nothing changes, so the reply is 204.
	rec := serve(u, newRequest(batchBody(t, "item1")))
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Errorf("third call: status %d, body %q; want 204 and no body", rec.Code, rec.Body)
	}
	if got := u.Calls(); got != 3 {
		t.Errorf("Calls = %d, want 3", got)
	}
}

func TestReplyLeavesOutUnchangedItems(t *testing.T) {
	u := mustNew(t, exampleupstream.Options{})
	for range 2 {
		serve(u, newRequest(batchBody(t, "done")))
	}
	rec := serve(u, newRequest(batchBody(t, "done", "new", "started")))
	rep := decodeReply(t, rec)
	if len(rep.Items) != 2 || rep.Items[0].ID != "new" || rep.Items[1].ID != "started" {
		t.Fatalf("reply %+v, want updates for new and started only", rep.Items)
	}
	if rep.Items[0].Data.Status != exampleupstream.StatusStarted {
		t.Errorf("new: %+v", rep.Items[0])
	}
}

func TestOldestIDsAreForgotten(t *testing.T) {
	u := mustNew(t, exampleupstream.Options{MaxIDs: 3})
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		serve(u, newRequest(batchBody(t, id)))
	}
	for id, want := range map[string]string{
		"a": exampleupstream.StatusNotStarted, "b": exampleupstream.StatusNotStarted,
		"c": exampleupstream.StatusStarted, "d": exampleupstream.StatusStarted, "e": exampleupstream.StatusStarted,
	} {
		if got := u.Status(id); got != want {
			t.Errorf("Status(%s) = %q, want %q", id, got, want)
		}
	}
	// Advancing a held id neither adds to the table nor evicts.
	serve(u, newRequest(batchBody(t, "c")))
	if got := u.Status("d"); got != exampleupstream.StatusStarted {
		t.Errorf("d was evicted by a repeat of c")
	}
}

func TestConcurrentCalls(t *testing.T) {
	u := mustNew(t, exampleupstream.Options{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				serve(u, newRequest(batchBody(t, fmt.Sprintf("w%d-%d", i, j), "shared")))
			}
		})
	}
	wg.Wait()
	if got := u.Calls(); got != 160 {
		t.Errorf("Calls = %d, want 160", got)
	}
	if got := u.Status("shared"); got != exampleupstream.StatusCompleted {
		t.Errorf("shared = %q", got)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, opts := range []exampleupstream.Options{
		{Secret: "gRAhcgqryWbjCholqSkw506kCMX+9rI1"},
		{Secret: "whsec_not base64!"},
		{Secret: "whsec_"},
		{MaxIDs: -1},
		{NextSyncAfter: -time.Second},
	} {
		if _, err := exampleupstream.New(opts); err == nil {
			t.Errorf("New(%+v) succeeded", opts)
		}
	}
}
