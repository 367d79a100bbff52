package handlers_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/watch"
)

// poll is a long-poll GET under way; its answer arrives on the channel.
func (w *watchEnv) poll(query string) <-chan resp {
	out := make(chan resp, 1)
	go func() {
		out <- w.do("GET", "/v1/caches/jobs/items/a?"+query, "", "")
	}()
	return out
}

func answer(t *testing.T, ch <-chan resp) resp {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no answer within 10s")
	}
	return resp{}
}

// waiting blocks until n long-polls wait on the cache "jobs".
func (w *watchEnv) waiting(n float64) {
	w.t.Helper()
	eventually(w.t, "long-polls to wait", func() bool { return w.metric("autorefresh_watch_waiting_requests", "jobs") == n })
}

func TestLongPollAnswersAtOnceWhenAlreadyNewer(t *testing.T) {
	w := newWatchEnv(t, watchConfig{})
	w.jobs()
	w.create("a")
	r := answer(t, w.poll("waitForChange=true&version=0&timeout=30s"))
	if r.status != http.StatusOK || r.json(t)["version"].(float64) != 1 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// Gone (or never there): 404 at once.
	if r := w.do("GET", "/v1/caches/jobs/items/nope?waitForChange=true&timeout=30s", "", ""); r.status != http.StatusNotFound {
		t.Fatalf("missing item: %d %s", r.status, r.body)
	}
	// waitForChange=false is a plain GET.
	if r := w.do("GET", "/v1/caches/jobs/items/a?waitForChange=false&version=5", "", ""); r.status != http.StatusOK {
		t.Fatalf("plain GET: %d %s", r.status, r.body)
	}
}

func TestLongPollWaitsForTheChange(t *testing.T) {
	w := newWatchEnv(t, watchConfig{})
	w.jobs()
	w.create("a")
	w.create("b")
	explicit := w.poll("waitForChange=true&version=1&timeout=30s")
	current := w.poll("waitForChange=true&timeout=30s") // version defaults to the current one
	w.waiting(2)
	// Another item's change does not answer them.
	if r := w.do("DELETE", "/v1/caches/jobs/items/b", "", ""); r.status != http.StatusAccepted {
		t.Fatal(r.status)
	}
	w.sync() // a: v2; b: removed
	for _, ch := range []<-chan resp{explicit, current} {
		r := answer(t, ch)
		if m := r.json(t); r.status != http.StatusOK || m["version"].(float64) != 2 || m["data"].(map[string]any)["status"] != "Started" {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	w.waiting(0)
}

func TestLongPollEndsWhenTheItemGoes(t *testing.T) {
	w := newWatchEnv(t, watchConfig{})
	w.jobs()
	w.create("a")
	ch := w.poll("waitForChange=true&version=1&timeout=30s")
	w.waiting(1)
	// Marking for deletion is not a change; the removal is.
	if r := w.do("DELETE", "/v1/caches/jobs/items/a", "", ""); r.status != http.StatusAccepted {
		t.Fatal(r.status)
	}
	select {
	case r := <-ch:
		t.Fatalf("answered on the mark: %d %s", r.status, r.body)
	default:
	}
	w.sync()
	if r := answer(t, ch); r.status != http.StatusNotFound {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestLongPollTimeoutAndCap(t *testing.T) {
	w := newWatchEnv(t, watchConfig{maxWait: 200 * time.Millisecond,
		readTimeout: 50 * time.Millisecond, writeTimeout: 100 * time.Millisecond})
	w.jobs()
	w.create("a")
	r := answer(t, w.poll("waitForChange=true&version=1&timeout=20ms"))
	if r.status != http.StatusOK || r.json(t)["version"].(float64) != 1 {
		t.Fatalf("timeout: %d %s", r.status, r.body)
	}
	// 1h is cut to the 200ms cap, which outlasts the server's 100ms
	// WriteTimeout: the poll moves its write deadline.
	start := time.Now()
	r = answer(t, w.poll("waitForChange=true&version=1&timeout=1h"))
	if r.status != http.StatusOK || r.json(t)["version"].(float64) != 1 {
		t.Fatalf("capped: %d %s", r.status, r.body)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("capped wait answered after %v", d)
	}
}

func TestLongPollBadRequestsAndCap(t *testing.T) {
	w := newWatchEnv(t, watchConfig{hub: watch.Options{MaxWaiters: 1}})
	w.jobs()
	w.create("a")
	for _, q := range []string{"waitForChange=true&version=-1", "waitForChange=true&version=x",
		"waitForChange=true&timeout=soon", "waitForChange=maybe"} {
		if r := w.do("GET", "/v1/caches/jobs/items/a?"+q, "", ""); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
	ch := w.poll("waitForChange=true&timeout=30s")
	w.waiting(1)
	r := w.do("GET", "/v1/caches/jobs/items/a?waitForChange=true&timeout=30s", "", "")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("over the cap: %d %s", r.status, r.body)
	}
	w.sync()
	if r := answer(t, ch); r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
