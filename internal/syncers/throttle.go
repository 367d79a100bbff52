package syncers

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxRetryAfter caps the hold a Retry-After header can impose. An upstream
// (or a proxy in front of it) asking for hours would otherwise freeze the
// cache; ten minutes is long enough to relieve an overloaded upstream and
// short enough that a mistake heals by itself.
const MaxRetryAfter = 10 * time.Minute

// parseRetryAfter reads a Retry-After value, either delta-seconds or an
// HTTP-date, as a duration from now capped at MaxRetryAfter. ok is false for
// a missing, malformed, zero or past value, which impose no hold.
func parseRetryAfter(value string, now time.Time) (d time.Duration, ok bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(value, 10, 64); err == nil {
		if secs == 0 {
			return 0, false
		}
		if secs > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	d = at.Sub(now)
	if d <= 0 {
		return 0, false
	}
	return min(d, MaxRetryAfter), true
}

// hold remembers until when an upstream asked not to be called. It is
// shared by the concurrent Sync calls of one Webhook.
type hold struct {
	mu    sync.Mutex
	until time.Time
}

// active returns the end of the hold if now is before it.
func (h *hold) active(now time.Time) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.until, now.Before(h.until)
}

// extend makes the hold last at least until t. Concurrent replies may
// arrive out of order, so the hold only ever grows.
func (h *hold) extend(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t.After(h.until) {
		h.until = t
	}
}
