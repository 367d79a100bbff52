package servicetest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
)

// replyMode is how a scriptUpstream answers a whole call.
type replyMode int

const (
	// replyEntries answers 200 with the scripted entries.
	replyEntries replyMode = iota
	// reply204 answers 204: nothing changed, and no nextSyncAfter.
	reply204
	// reply500 fails the call.
	reply500
	// replyGarbage answers 200 with a body that is no reply.
	replyGarbage
)

// scriptUpstream answers each call as the case scripts it, and may be
// rescripted between calls: per id an entry (its raw JSON members without
// the id, or none: the id is left out of the reply), top-level members added
// to the reply (such as a "nextSyncAfter"), or a failure of the whole call.
// It records when each id arrived, before its gate, so that a case can
// compare send times with the schedule the service shows; the gate parks
// calls.
type scriptUpstream struct {
	gate
	url string

	mu      sync.Mutex
	entries map[string]string
	top     string
	mode    replyMode
	sent    map[string][]time.Time
}

func newScriptUpstream(t *testing.T, entries map[string]string) *scriptUpstream {
	u := &scriptUpstream{entries: map[string]string{}, sent: map[string][]time.Time{}}
	for id, e := range entries {
		u.entries[id] = e
	}
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	// Released before the server closes (cleanups run last first), so that
	// Close does not wait for parked calls.
	t.Cleanup(u.release)
	u.url = srv.URL + "/sync"
	return u
}

func (u *scriptUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ids, ok := batchIDs(w, r)
	if !ok {
		return
	}
	now := time.Now()
	u.mu.Lock()
	for _, id := range ids {
		u.sent[id] = append(u.sent[id], now)
	}
	u.mu.Unlock()
	if !u.pass(r.Context()) {
		return
	}
	// Read the script after the gate: a case rescripts a parked call.
	u.mu.Lock()
	mode, top := u.mode, u.top
	var entries []string
	for _, id := range ids {
		if e, ok := u.entries[id]; ok {
			quoted, _ := json.Marshal(id)
			entries = append(entries, `{"id": `+string(quoted)+`, `+e+`}`)
		}
	}
	u.mu.Unlock()
	switch mode {
	case reply204:
		w.WriteHeader(http.StatusNoContent)
		return
	case reply500:
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
		return
	case replyGarbage:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"items": [{"id": `)
		return
	}
	body := `{"items": [` + strings.Join(entries, ", ") + `]`
	if top != "" {
		body += ", " + top
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, body+"}")
}

// set scripts id's entry; "" leaves id out of the reply.
func (u *scriptUpstream) set(id, entry string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if entry == "" {
		delete(u.entries, id)
		return
	}
	u.entries[id] = entry
}

func (u *scriptUpstream) setMode(m replyMode) {
	u.mu.Lock()
	u.mode = m
	u.mu.Unlock()
}

func (u *scriptUpstream) setTop(top string) {
	u.mu.Lock()
	u.top = top
	u.mu.Unlock()
}

// sends returns when id arrived, in order.
func (u *scriptUpstream) sends(id string) []time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]time.Time(nil), u.sent[id]...)
}

func (u *scriptUpstream) count(id string) int { return len(u.sends(id)) }

// retryCfg is cfg with a retry policy.
func retryCfg(url string, resync time.Duration, syncOnCreate bool, maxAttempts int, maxBackoff time.Duration) autorefresh.Config {
	c := cfg(url, resync, syncOnCreate)
	c.Retry = &autorefresh.Retry{MaxAttempts: maxAttempts, MaxBackoff: autorefresh.Duration(maxBackoff)}
	return c
}

// getItem reads an item or fails the case.
func getItem(t *testing.T, s Service, name, id string) autorefresh.Item {
	t.Helper()
	it, err := s.GetItem(ctxT(t), name, id)
	if err != nil {
		t.Fatalf("GetItem %s/%s: %v", name, id, err)
	}
	return it
}

// waitItem polls an item until cond holds and returns it; on timeout it
// fails with what the item last looked like.
func waitItem(t *testing.T, s Service, name, id, what string, cond func(autorefresh.Item) bool) autorefresh.Item {
	t.Helper()
	var last autorefresh.Item
	var lastErr error
	deadline := time.Now().Add(15 * time.Second)
	for {
		last, lastErr = s.GetItem(ctxT(t), name, id)
		if lastErr == nil && cond(last) {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s/%s: %s; last: %s", name, id, what, describe(last, lastErr))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// describe shows the per-item fields of an item for a failure message.
func describe(it autorefresh.Item, err error) string {
	if err != nil {
		return "error " + err.Error()
	}
	if it.Record == nil {
		return "no record"
	}
	next := "nil"
	if it.NextSyncAt != nil {
		next = time.Until(*it.NextSyncAt).Round(time.Millisecond).String() + " from now"
	}
	exp := "none"
	if !it.ExpiresAt.IsZero() {
		exp = time.Until(it.ExpiresAt).Round(time.Millisecond).String() + " from now"
	}
	b, _ := json.Marshal(struct {
		Version   int64
		Terminal  bool
		State     string
		Attempts  int32
		LastError string
		Next      string
		Expires   string
		Data      json.RawMessage
	}{it.Version, it.Terminal, it.StateOf().String(), it.Attempts, it.LastError, next, exp, it.Data})
	return string(b)
}

// clockSlack is what a comparison between the service's clock and the
// case's allows for: PostgreSQL keeps microseconds, and a service may take
// its now a little before the reply it acts on has reached the case.
const clockSlack = 50 * time.Millisecond

// wantDue checks that an item's next sync is d after an instant in [from,
// to], give or take the fraction jitter of d: the service takes its now
// somewhere between the upstream's answer (from) and the case's read of
// the result (to).
func wantDue(t *testing.T, what string, it autorefresh.Item, from, to time.Time, d time.Duration, jitter float64) {
	t.Helper()
	if it.NextSyncAt == nil {
		t.Fatalf("%s: no next sync: %s", what, describe(it, nil))
	}
	lo := from.Add(time.Duration(float64(d)*(1-jitter)) - clockSlack)
	hi := to.Add(time.Duration(float64(d)*(1+jitter)) + clockSlack)
	if at := *it.NextSyncAt; at.Before(lo) || at.After(hi) {
		t.Fatalf("%s: next sync %s after the answer, want %s (±%.0f%%), between %s and %s after it",
			what, at.Sub(from).Round(time.Millisecond), d, jitter*100,
			lo.Sub(from).Round(time.Millisecond), hi.Sub(from).Round(time.Millisecond))
	}
}

// near reports whether a and b are at most d apart.
func near(a, b time.Time, d time.Duration) bool {
	diff := a.Sub(b)
	return diff <= d && diff >= -d
}
