package record

import (
	"encoding/json"
	"fmt"
	"time"
)

// State says where an item is in its life. It is written as its name on
// the wire and in storage.
type State uint8

// The states of an item. An item is terminal in every state but
// StateActive.
const (
	// StateUnset is the zero value, read from records stored before
	// states existed; StateOf derives the state from Terminal.
	StateUnset State = iota
	// StateActive: synced until it becomes terminal.
	StateActive
	// StateCompleted: made terminal by its upstream, a PATCH or its create.
	StateCompleted
	// StateFailed: given up after Policy.MaxAttempts consecutive failures.
	StateFailed
	// StateExpired: its deadline (ExpiresAt) passed before it finished.
	StateExpired
	// NumStates is one past the last state, for arrays indexed by State.
	NumStates
)

// States lists every state a client can see, in their wire order.
var States = []State{StateActive, StateCompleted, StateFailed, StateExpired}

var stateNames = [NumStates]string{"", "active", "completed", "failed", "expired"}

// String returns the state's wire name.
func (s State) String() string {
	if s < NumStates {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ParseState reads a wire name.
func ParseState(name string) (State, bool) {
	for _, s := range States {
		if stateNames[s] == name {
			return s, true
		}
	}
	return StateUnset, false
}

// MarshalText writes the wire name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the wire name; "" is StateUnset.
func (s *State) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*s = StateUnset
		return nil
	}
	v, ok := ParseState(string(b))
	if !ok {
		return fmt.Errorf("unknown item state %q", b)
	}
	*s = v
	return nil
}

// MaxErrorBytes bounds an item's LastError (a reply's "error" entry may
// carry up to 1 KiB; longer text is cut, at a rune boundary).
const MaxErrorBytes = 1024

// Policy is a cache's per-item schedule: how far apart syncs are, how
// failures back off, and when an item is given up. Both storage modes ask
// it, so an item is scheduled alike in each.
type Policy struct {
	// ResyncPeriod is the time between syncs of a healthy item that its
	// upstream gave no nextSyncAfter.
	ResyncPeriod time.Duration
	// MaxAttempts gives an item up after that many consecutive failed
	// attempts; 0 retries for ever.
	MaxAttempts int
	// MaxBackoff caps the wait after failures; 0 means 10 × ResyncPeriod.
	MaxBackoff time.Duration
}

// Clamp bounds an upstream's nextSyncAfter to [ResyncPeriod/10,
// 100 × ResyncPeriod]: an upstream can slow an item down or speed it up,
// but neither without limit.
func (p Policy) Clamp(d time.Duration) time.Duration {
	return min(max(d, p.ResyncPeriod/10), 100*p.ResyncPeriod)
}

// Backoff is the wait before the next attempt after attempts consecutive
// failures (attempts >= 1): min(MaxBackoff, ResyncPeriod × 2^(attempts-1)),
// scaled by 1 + 0.2 × jitter. jitter is in [-1, 1]; callers draw it at
// random so that items failed together do not come back together.
func (p Policy) Backoff(attempts int32, jitter float64) time.Duration {
	maxB := p.MaxBackoff
	if maxB <= 0 {
		maxB = 10 * p.ResyncPeriod
	}
	d := p.ResyncPeriod
	for i := int32(1); i < attempts && d < maxB; i++ {
		d *= 2
	}
	d = min(d, maxB)
	jitter = min(max(jitter, -1), 1)
	return time.Duration(float64(d) * (1 + 0.2*jitter))
}

// Fail returns the record after one more failed attempt with message msg,
// and the wait before the next attempt. When that attempt was the
// MaxAttempts-th in a row, the record is given up instead: terminal, in
// StateFailed, and the wait is 0 (it is never synced again).
func (r *Record) Fail(msg string, p Policy, now time.Time, jitter float64) (*Record, time.Duration) {
	n := r.next(now)
	n.Attempts++
	n.LastError = truncate(msg, MaxErrorBytes)
	if p.MaxAttempts > 0 && int(n.Attempts) >= p.MaxAttempts {
		n.Terminal, n.State = true, StateFailed
		return n, 0
	}
	return n, p.Backoff(n.Attempts, jitter)
}

// Recovered returns the record after a successful answer that changed
// nothing, if it had failed attempts to clear; otherwise r itself, with
// changed false, and nothing is written.
func (r *Record) Recovered(now time.Time) (n *Record, changed bool) {
	if r.Attempts == 0 && r.LastError == "" {
		return r, false
	}
	n = r.next(now)
	n.Attempts, n.LastError = 0, ""
	return n, true
}

// Expired reports whether r is an active item past its deadline.
func (r *Record) Expired(now time.Time) bool {
	return !r.Terminal && !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt)
}

// Expire returns r made terminal in StateExpired.
func (r *Record) Expire(now time.Time) *Record {
	n := r.next(now)
	n.Terminal, n.State = true, StateExpired
	return n
}

// Patch returns the record a PATCH produces: data (nil keeps it) and the
// terminal flag (nil keeps it) as a sync reply's update would set them. A
// PATCH that leaves the flag alone keeps the state too, so that editing
// the data of a failed item does not pass it off as completed.
func (r *Record) Patch(data json.RawMessage, terminal *bool, now time.Time) *Record {
	if data == nil {
		data = r.Data
	}
	if terminal != nil || !r.Terminal {
		t := r.Terminal
		if terminal != nil {
			t = *terminal
		}
		return r.Next(data, t, now)
	}
	n := r.next(now)
	n.Data = data
	return n
}

// Retry returns a failed or expired item made active again, with its
// failures cleared and its deadline set to expiresAt (zero for none). ok
// is false for a completed item, which a retry must not reopen. An active
// item is returned as it is (changed false): a retry only makes it due.
func (r *Record) Retry(expiresAt time.Time, now time.Time) (n *Record, changed, ok bool) {
	switch r.StateOf() {
	case StateCompleted:
		return r, false, false
	case StateActive:
		return r, false, true
	}
	n = r.next(now)
	n.Terminal, n.State = false, StateActive
	n.Attempts, n.LastError = 0, ""
	n.ExpiresAt = expiresAt
	return n, true, true
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i]
}
