package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy says how the Client retries a request that the service
// refused for now (429 RATE_LIMITED, 503 UNAVAILABLE) or that never got an
// answer (a connection error).
//
// A 429 or 503 means the service did nothing, so every request may be sent
// again. A connection error leaves it unknown whether the service acted,
// so only requests that are safe to repeat are retried after one: GET,
// PUT, DELETE, and the POSTs whose effect does not add up (createItem is
// get-or-create, so a repeat returns the item the first made; the batch
// create is many of those; sync, pause and resume set a state). PATCH and
// POST .../retry are never retried after a connection error.
type RetryPolicy struct {
	// MaxAttempts bounds the tries of one call, the first included; 1 (or
	// less) never retries.
	MaxAttempts int
	// BaseDelay is the wait before the first retry; each further retry
	// doubles it, up to MaxDelay, and each wait is jittered by ±20% so
	// that clients refused together do not come back together.
	BaseDelay time.Duration
	// MaxDelay caps the wait between two tries. A Retry-After longer than
	// MaxDelay is not waited for: the call fails with the *APIError.
	MaxDelay time.Duration
}

// DefaultRetryPolicy is what New uses without WithRetry: 4 tries, 200ms
// doubling to at most 30s.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 4, BaseDelay: 200 * time.Millisecond, MaxDelay: 30 * time.Second}
}

// NoRetry is a policy that tries every call once.
func NoRetry() RetryPolicy { return RetryPolicy{MaxAttempts: 1} }

// backoff is the wait before retry number n (n >= 1), jitter in [-1, 1].
func (p RetryPolicy) backoff(n int, jitter float64) time.Duration {
	d := max(p.BaseDelay, time.Millisecond)
	for i := 1; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	if p.MaxDelay > 0 {
		d = min(d, p.MaxDelay)
	}
	return time.Duration(float64(d) * (1 + 0.2*min(max(jitter, -1), 1)))
}

// retryDelay decides whether try number n (1-based) that ended with err
// (and, when answered, the *APIError in it) is tried again, and after how
// long. idempotent says whether a connection error may be retried.
func (p RetryPolicy) retryDelay(n int, err error, idempotent bool) (time.Duration, bool) {
	if n >= p.MaxAttempts {
		return 0, false
	}
	wait := p.backoff(n, rand.Float64()*2-1)
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr):
		if apiErr.Status != http.StatusTooManyRequests && apiErr.Status != http.StatusServiceUnavailable {
			return 0, false
		}
		if apiErr.RetryAfter > 0 {
			if p.MaxDelay > 0 && apiErr.RetryAfter > p.MaxDelay {
				return 0, false
			}
			wait = apiErr.RetryAfter
		}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return 0, false
	case !idempotent:
		return 0, false
	}
	return wait, true
}

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date
// (taken relative to now). It returns zero when there is none or it is
// malformed or past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// sleepCtx waits d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
