package handlers_test

import (
	"net/http"
	"testing"

	"github.com/autorefresh/autorefresh/internal/auth"
	"github.com/autorefresh/autorefresh/internal/handlers"
)

// A flood of bad tokens is limited by IP before it is told 401, even with
// no --rate-limit; a good token from the same address keeps working.
func TestBadTokenFloodIsRateLimited(t *testing.T) {
	for _, limit := range []int{0, 5} {
		e := newEnvWith(t, nil, func(d *handlers.Deps) {
			withTokens(false)(d)
			d.RateLimit = limit
		})
		statuses := map[int]int{}
		for range 50 {
			r := e.doAs("bad-token-0123456789", "GET", "/v1/caches", "", "")
			statuses[r.status]++
			if r.status == http.StatusTooManyRequests && (r.json(t)["code"] != "RATE_LIMITED" || r.header.Get("Retry-After") == "") {
				t.Fatalf("429 without the error form or Retry-After: %v %s", r.header, r.body)
			}
		}
		if statuses[http.StatusTooManyRequests] < 25 || statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != 50 {
			t.Fatalf("--rate-limit %d: 50 bad tokens got %v, want mostly 429", limit, statuses)
		}
		if r := e.doAs(reader, "GET", "/v1/caches", "", ""); r.status != http.StatusOK {
			t.Fatalf("--rate-limit %d: a good token after the flood: %d %s", limit, r.status, r.body)
		}
	}
}

// Two tokens with one name have a bucket each: the bucket is the token's
// hash, not the name in the file.
func TestTokensNamedAlikeDoNotShareABucket(t *testing.T) {
	const first, second = "first-token-0123456789", "second-token-0123456789"
	e := newEnvWith(t, nil, func(d *handlers.Deps) {
		toks, err := auth.Parse([]byte("read " + first + " ci\nread " + second + " ci\n"))
		if err != nil {
			t.Fatal(err)
		}
		d.Tokens, d.RateLimit = toks, 5
	})
	limited := 0
	for range 20 {
		if r := e.doAs(first, "GET", "/v1/caches", "", ""); r.status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited < 10 {
		t.Fatalf("the first token: %d of 20 limited at 5 req/s", limited)
	}
	if r := e.doAs(second, "GET", "/v1/caches", "", ""); r.status != http.StatusOK {
		t.Fatalf("the second token, named as the first, after the first used its bucket: %d %s", r.status, r.body)
	}
}
