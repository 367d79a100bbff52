package record

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var (
	created = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	later   = created.Add(time.Hour)
)

// base is an active record at version 3 with the given failures.
func base(attempts int32, lastError string) *Record {
	return &Record{ID: "a", Data: json.RawMessage(`{"v":1}`), Version: 3, CreatedAt: created, UpdatedAt: created,
		State: StateActive, Attempts: attempts, LastError: lastError}
}

// bumped checks what every change does: version +1, UpdatedAt now, the
// original left alone (records are shared between readers).
func bumped(t *testing.T, old, n *Record, now time.Time) {
	t.Helper()
	if n == old {
		t.Fatal("changed record is the original pointer")
	}
	if n.Version != old.Version+1 || !n.UpdatedAt.Equal(now) || !n.CreatedAt.Equal(old.CreatedAt) {
		t.Errorf("version %d updatedAt %v createdAt %v, want %d %v %v",
			n.Version, n.UpdatedAt, n.CreatedAt, old.Version+1, now, old.CreatedAt)
	}
}

func TestClamp(t *testing.T) {
	p := Policy{ResyncPeriod: time.Minute}
	for _, c := range []struct{ in, want time.Duration }{
		{time.Nanosecond, 6 * time.Second},
		{time.Second, 6 * time.Second},
		{6 * time.Second, 6 * time.Second},
		{7 * time.Second, 7 * time.Second},
		{5 * time.Minute, 5 * time.Minute},
		{100 * time.Minute, 100 * time.Minute},
		{101 * time.Minute, 100 * time.Minute},
		{1000 * time.Hour, 100 * time.Minute},
	} {
		if got := p.Clamp(c.in); got != c.want {
			t.Errorf("Clamp(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		name     string
		p        Policy
		attempts int32
		jitter   float64
		want     time.Duration
	}{
		{"first failure waits a period", Policy{ResyncPeriod: time.Minute}, 1, 0, time.Minute},
		{"doubles", Policy{ResyncPeriod: time.Minute}, 2, 0, 2 * time.Minute},
		{"doubles again", Policy{ResyncPeriod: time.Minute}, 4, 0, 8 * time.Minute},
		{"default cap is 10 periods", Policy{ResyncPeriod: time.Minute}, 5, 0, 10 * time.Minute},
		{"no overflow however many", Policy{ResyncPeriod: time.Minute}, 1 << 30, 0, 10 * time.Minute},
		{"configured cap", Policy{ResyncPeriod: time.Minute, MaxBackoff: 3 * time.Minute}, 3, 0, 3 * time.Minute},
		{"below the configured cap", Policy{ResyncPeriod: time.Minute, MaxBackoff: 3 * time.Minute}, 2, 0, 2 * time.Minute},
		{"cap below the period", Policy{ResyncPeriod: time.Minute, MaxBackoff: 30 * time.Second}, 1, 0, 30 * time.Second},
		{"jitter +1 is +20%", Policy{ResyncPeriod: time.Minute}, 1, 1, 72 * time.Second},
		{"jitter -1 is -20%", Policy{ResyncPeriod: time.Minute}, 1, -1, 48 * time.Second},
		{"jitter applies after the cap", Policy{ResyncPeriod: time.Minute}, 9, 1, 12 * time.Minute},
		{"jitter above 1 is 1", Policy{ResyncPeriod: time.Minute}, 1, 7, 72 * time.Second},
		{"jitter below -1 is -1", Policy{ResyncPeriod: time.Minute}, 1, -7, 48 * time.Second},
	} {
		if got := c.p.Backoff(c.attempts, c.jitter); got != c.want {
			t.Errorf("%s: Backoff(%d, %v) = %v, want %v", c.name, c.attempts, c.jitter, got, c.want)
		}
	}
	p := Policy{ResyncPeriod: time.Minute}
	for j := -1.0; j <= 1.0; j += 0.125 {
		if got := p.Backoff(3, j); got < 192*time.Second || got > 288*time.Second {
			t.Errorf("Backoff(3, %v) = %v, outside 4m ±20%%", j, got)
		}
	}
}

func TestFail(t *testing.T) {
	p := Policy{ResyncPeriod: time.Minute, MaxAttempts: 3}
	r := base(0, "")
	n, wait := r.Fail("upstream down", p, later, 0)
	bumped(t, r, n, later)
	if n.Attempts != 1 || n.LastError != "upstream down" || n.Terminal || n.StateOf() != StateActive || wait != time.Minute {
		t.Fatalf("first failure: %+v wait %v", n, wait)
	}
	if r.Attempts != 0 || r.LastError != "" {
		t.Fatal("Fail changed the original")
	}
	n, wait = n.Fail("still down", p, later, 0)
	if n.Attempts != 2 || n.LastError != "still down" || n.Terminal || wait != 2*time.Minute {
		t.Fatalf("second failure: %+v wait %v", n, wait)
	}
	n, wait = n.Fail("gone", p, later, 1)
	if n.Attempts != 3 || !n.Terminal || n.StateOf() != StateFailed || n.LastError != "gone" || wait != 0 {
		t.Fatalf("MaxAttempts-th failure: %+v wait %v, want failed, wait 0", n, wait)
	}
	if !n.IsTerminal() {
		t.Fatal("a failed record is not terminal")
	}

	forever := Policy{ResyncPeriod: time.Minute}
	n = base(0, "")
	for range 100 {
		n, wait = n.Fail("x", forever, later, 0)
	}
	if n.Terminal || n.Attempts != 100 || wait != 10*time.Minute {
		t.Fatalf("MaxAttempts 0 gave up: %+v wait %v", n, wait)
	}
}

func TestFailTruncatesTheMessage(t *testing.T) {
	p := Policy{ResyncPeriod: time.Minute}
	for _, c := range []struct {
		name string
		msg  string
		want int
	}{
		{"exactly the limit", strings.Repeat("a", MaxErrorBytes), MaxErrorBytes},
		{"ASCII past it", strings.Repeat("a", 5000), MaxErrorBytes},
		{"two-byte runes", strings.Repeat("é", 600), MaxErrorBytes},
		{"cut inside a rune backs off", "a" + strings.Repeat("é", 600), MaxErrorBytes - 1},
		{"four-byte runes", strings.Repeat("😀", 300), MaxErrorBytes},
		{"cut inside a four-byte rune", "ab" + strings.Repeat("😀", 300), MaxErrorBytes - 2},
	} {
		n, _ := base(0, "").Fail(c.msg, p, later, 0)
		if len(n.LastError) != c.want || !utf8.ValidString(n.LastError) || !strings.HasPrefix(c.msg, n.LastError) {
			t.Errorf("%s: kept %d bytes (valid %v), want %d", c.name, len(n.LastError), utf8.ValidString(n.LastError), c.want)
		}
	}
}

func TestRecovered(t *testing.T) {
	r := base(0, "")
	if n, changed := r.Recovered(later); changed || n != r {
		t.Fatalf("clean record: changed %v, same %v", changed, n == r)
	}
	for _, r := range []*Record{base(2, "boom"), base(1, ""), base(0, "left over")} {
		n, changed := r.Recovered(later)
		if !changed || n.Attempts != 0 || n.LastError != "" || n.StateOf() != StateActive || string(n.Data) != `{"v":1}` {
			t.Fatalf("Recovered of %d/%q: %+v changed %v", r.Attempts, r.LastError, n, changed)
		}
		bumped(t, r, n, later)
	}
}

func TestExpired(t *testing.T) {
	deadline := later
	withDeadline := func(terminal bool, at time.Time) *Record {
		r := base(0, "")
		r.Terminal, r.ExpiresAt = terminal, at
		return r
	}
	for _, c := range []struct {
		name string
		r    *Record
		now  time.Time
		want bool
	}{
		{"before the deadline", withDeadline(false, deadline), deadline.Add(-time.Nanosecond), false},
		{"at the deadline", withDeadline(false, deadline), deadline, true},
		{"past the deadline", withDeadline(false, deadline), deadline.Add(time.Hour), true},
		{"no deadline", withDeadline(false, time.Time{}), deadline.Add(1000 * time.Hour), false},
		{"terminal", withDeadline(true, deadline), deadline.Add(time.Hour), false},
	} {
		if got := c.r.Expired(c.now); got != c.want {
			t.Errorf("%s: Expired = %v, want %v", c.name, got, c.want)
		}
	}
	r := withDeadline(false, deadline)
	n := r.Expire(deadline)
	bumped(t, r, n, deadline)
	if !n.Terminal || n.StateOf() != StateExpired || n.Expired(deadline) {
		t.Fatalf("Expire: %+v", n)
	}
}

func TestPatch(t *testing.T) {
	yes, no := true, false
	failed := base(3, "gone")
	failed.Terminal, failed.State = true, StateFailed
	completed := base(0, "")
	completed.Terminal, completed.State = true, StateCompleted
	for _, c := range []struct {
		name     string
		r        *Record
		data     string // "" passes nil
		terminal *bool
		wantData string
		wantTerm bool
		want     State
		attempts int32
	}{
		{"data of an active item", base(2, "x"), `{"v":2}`, nil, `{"v":2}`, false, StateActive, 0},
		{"nothing but the version", base(0, ""), "", nil, `{"v":1}`, false, StateActive, 0},
		{"terminal completes", base(2, "x"), "", &yes, `{"v":1}`, true, StateCompleted, 0},
		{"data of a failed item keeps it failed", failed, `{"v":2}`, nil, `{"v":2}`, true, StateFailed, 3},
		{"terminal patch of a failed item completes it", failed, `{"v":2}`, &yes, `{"v":2}`, true, StateCompleted, 0},
		{"non-terminal patch of a failed item reopens it", failed, "", &no, `{"v":1}`, false, StateActive, 0},
		{"data of a completed item keeps it completed", completed, `{"v":2}`, nil, `{"v":2}`, true, StateCompleted, 0},
	} {
		var data json.RawMessage
		if c.data != "" {
			data = json.RawMessage(c.data)
		}
		n := c.r.Patch(data, c.terminal, later)
		bumped(t, c.r, n, later)
		if string(n.Data) != c.wantData || n.Terminal != c.wantTerm || n.StateOf() != c.want || n.Attempts != c.attempts {
			t.Errorf("%s: data %s terminal %v state %v attempts %d, want %s %v %v %d",
				c.name, n.Data, n.Terminal, n.StateOf(), n.Attempts, c.wantData, c.wantTerm, c.want, c.attempts)
		}
	}
}

func TestRetry(t *testing.T) {
	deadline := later.Add(time.Hour)
	of := func(s State, terminal bool) *Record {
		r := base(4, "gone")
		r.State, r.Terminal, r.ExpiresAt = s, terminal, created
		return r
	}
	completed := of(StateCompleted, true)
	if n, changed, ok := completed.Retry(deadline, later); ok || changed || n != completed {
		t.Fatalf("completed: ok %v changed %v", ok, changed)
	}
	legacy := &Record{ID: "old", Terminal: true, Version: 2} // stored before states: completed
	if _, _, ok := legacy.Retry(deadline, later); ok {
		t.Fatal("a terminal record without a state was reopened")
	}
	active := of(StateActive, false)
	if n, changed, ok := active.Retry(deadline, later); !ok || changed || n != active {
		t.Fatalf("active: ok %v changed %v same %v", ok, changed, n == active)
	}
	for _, s := range []State{StateFailed, StateExpired} {
		r := of(s, true)
		n, changed, ok := r.Retry(deadline, later)
		if !ok || !changed {
			t.Fatalf("%v: ok %v changed %v", s, ok, changed)
		}
		bumped(t, r, n, later)
		if n.Terminal || n.StateOf() != StateActive || n.Attempts != 0 || n.LastError != "" || !n.ExpiresAt.Equal(deadline) {
			t.Errorf("%v retried: %+v", s, n)
		}
		if n, _, _ := r.Retry(time.Time{}, later); !n.ExpiresAt.IsZero() {
			t.Errorf("%v retried without a deadline keeps %v", s, n.ExpiresAt)
		}
	}
}

func TestStateText(t *testing.T) {
	for _, s := range States {
		b, err := s.MarshalText()
		if err != nil || string(b) != s.String() || s.String() == "" {
			t.Fatalf("MarshalText(%d) = %q, %v", s, b, err)
		}
		var back State
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Fatalf("round trip of %q: %v, %v", b, back, err)
		}
		if p, ok := ParseState(string(b)); !ok || p != s {
			t.Fatalf("ParseState(%q) = %v, %v", b, p, ok)
		}
	}
	want := []string{"active", "completed", "failed", "expired"}
	for i, s := range States {
		if s.String() != want[i] {
			t.Errorf("States[%d] = %q, want %q", i, s, want[i])
		}
	}
	var s State = StateFailed
	if err := s.UnmarshalText(nil); err != nil || s != StateUnset {
		t.Fatalf(`"" reads as %v, %v`, s, err)
	}
	if err := s.UnmarshalText([]byte("FAILED")); err == nil {
		t.Fatal("unknown state name accepted")
	}
	if _, ok := ParseState(""); ok {
		t.Fatal(`ParseState("") accepted`)
	}
	if got := State(9).String(); got != "State(9)" {
		t.Fatalf("String of an unknown state = %q", got)
	}
}

func TestStateJSON(t *testing.T) {
	r := base(2, "boom")
	r.State = StateFailed
	b, err := json.Marshal(r)
	if err != nil || !strings.Contains(string(b), `"state":"failed"`) || !strings.Contains(string(b), `"attempts":2`) {
		t.Fatalf("marshal: %s, %v", b, err)
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil || back.State != StateFailed || back.Attempts != 2 || back.LastError != "boom" {
		t.Fatalf("unmarshal: %+v, %v", back, err)
	}
	// A record stored before states existed has none and reads by Terminal.
	var old Record
	if err := json.Unmarshal([]byte(`{"id":"x","terminal":true,"version":1}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.State != StateUnset || old.StateOf() != StateCompleted {
		t.Fatalf("legacy terminal record: state %v, StateOf %v", old.State, old.StateOf())
	}
	if b, _ := json.Marshal(&Record{ID: "x"}); strings.Contains(string(b), "state") || strings.Contains(string(b), "attempts") {
		t.Fatalf("zero state and attempts written: %s", b)
	}
}
