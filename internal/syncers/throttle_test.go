package syncers

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := t0
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 120 * time.Second, true},
		{" 1 ", time.Second, true},
		{"600", MaxRetryAfter, true},
		{"601", MaxRetryAfter, true},
		{"99999999999999999999999", 0, false}, // overflows: malformed
		{"18446744073709551615", MaxRetryAfter, true},
		{"0", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(time.Hour).Format(http.TimeFormat), MaxRetryAfter, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, false},
		{now.Add(2 * time.Minute).Format(time.RFC850), 2 * time.Minute, true},
	}
	for _, tc := range cases {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// throttlingUpstream answers status with Retry-After while throttling is
// on, and 204 otherwise.
func throttlingUpstream(t *testing.T, status int, retryAfter func() string) (*upstream, *atomic.Bool) {
	var on atomic.Bool
	on.Store(true)
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		if on.Load() {
			w.Header().Set("Retry-After", retryAfter())
			w.WriteHeader(status)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return up, &on
}

func TestRetryAfterHoldsTheUpstreamBack(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		reason     string
		retryAfter func(h *harness) string
		hold       time.Duration
	}{
		{"429 seconds", 429, ReasonStatus4xx, func(*harness) string { return "120" }, 120 * time.Second},
		{"503 HTTP-date", 503, ReasonStatus5xx, func(h *harness) string {
			return h.clock.Now().Add(45 * time.Second).Format(http.TimeFormat)
		}, 45 * time.Second},
		{"429 capped", 429, ReasonStatus4xx, func(*harness) string { return "86400" }, MaxRetryAfter},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h *harness
			up, throttling := throttlingUpstream(t, tc.status, func() string { return tc.retryAfter(h) })
			h = newHarness(t, up.URL, nil)
			b := batchOf(rec("a", "", false, 1))

			_, err := h.sync(t, b)
			e := syncError(t, err, tc.reason)
			if want := t0.Add(tc.hold); !e.HeldUntil.Equal(want) {
				t.Fatalf("HeldUntil %v, want %v", e.HeldUntil, want)
			}
			throttling.Store(false) // the upstream would answer now, but must not be asked

			for _, step := range []time.Duration{0, tc.hold / 2, tc.hold/2 - time.Second} {
				h.clock.Step(step)
				_, err := h.sync(t, b)
				e := syncError(t, err, ReasonThrottled)
				if !e.HeldUntil.Equal(t0.Add(tc.hold)) || e.Status != 0 {
					t.Fatalf("throttled error %+v", e)
				}
			}
			if n := up.hits.Load(); n != 1 {
				t.Fatalf("upstream reached %d times while held", n)
			}
			if n := h.outcomes(ReasonThrottled); n != 3 {
				t.Fatalf("throttled outcomes = %v, want 3", n)
			}

			h.clock.Step(time.Second) // the hold has passed
			if _, err := h.sync(t, b); err != nil {
				t.Fatalf("after the hold: %v", err)
			}
			if n := up.hits.Load(); n != 2 {
				t.Fatalf("hits = %d, want 2", n)
			}
		})
	}
}

func TestRetryAfterIgnoredWhereItDoesNotApply(t *testing.T) {
	for _, tc := range []struct {
		status     int
		retryAfter string
	}{
		{500, "120"},   // only 429 and 503 hold
		{429, "later"}, // malformed
		{503, "0"},
	} {
		up, _ := throttlingUpstream(t, tc.status, func() string { return tc.retryAfter })
		h := newHarness(t, up.URL, nil)
		for range 2 {
			_, err := h.sync(t, batchOf(rec("a", "", false, 1)))
			if e := syncError(t, err, statusReason(tc.status)); !e.HeldUntil.IsZero() {
				t.Fatalf("%d Retry-After %q held until %v", tc.status, tc.retryAfter, e.HeldUntil)
			}
		}
		if up.hits.Load() != 2 {
			t.Fatalf("%d Retry-After %q: hits %d, want 2", tc.status, tc.retryAfter, up.hits.Load())
		}
	}
}

func TestHoldOnlyGrows(t *testing.T) {
	var h hold
	h.extend(t0.Add(time.Minute))
	h.extend(t0.Add(time.Second))
	if until, held := h.active(t0.Add(30 * time.Second)); !held || !until.Equal(t0.Add(time.Minute)) {
		t.Fatalf("hold %v %v", until, held)
	}
	if _, held := h.active(t0.Add(time.Minute)); held {
		t.Fatal("hold lasts past its end")
	}
}
