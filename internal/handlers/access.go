package handlers

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/httprate"

	"github.com/autorefresh/autorefresh/internal/auth"
	"github.com/autorefresh/autorefresh/internal/errs"
)

// Codes for callers that are refused before any handler runs.
const (
	codeUnauthorized errs.Code = "UNAUTHORIZED"
	codeForbidden    errs.Code = "FORBIDDEN"
	codeRateLimited  errs.Code = "RATE_LIMITED"
)

type principalKey struct{}

// principalOf returns the caller a request was authenticated as.
func principalOf(r *http.Request) (auth.Principal, bool) {
	p, ok := r.Context().Value(principalKey{}).(auth.Principal)
	return p, ok
}

// DefaultUnauthenticatedRate is how many requests per second one IP may make
// without a valid token when the server has tokens and RateLimit is 0: a
// flood of guessed tokens then gets 429s, not an endless stream of 401s.
const DefaultUnauthenticatedRate = 10

// limits are the rate limiters of the API, built once and shared by every
// route that uses them so that a client has one bucket, not one per route.
// httprate keeps each key's count for two windows only (two seconds), so
// the map holds at most the keys seen in the last two seconds: the tokens
// in the file and the IPs (IPv6 by /64) that called without one.
type limits struct {
	// byToken limits callers with a valid token, keyed by the token's
	// hash; nil without a limit.
	byToken *httprate.RateLimiter
	// byIP limits callers without a valid token (every caller in open
	// mode), keyed by their remote IP; nil without a limit.
	byIP *httprate.RateLimiter
}

func (s *server) newLimits() limits {
	var l limits
	onLimit := httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
		// httprate has set Retry-After already.
		s.writeError(w, r, &errs.Error{Code: codeRateLimited, Message: "too many requests; retry after the Retry-After delay"})
	})
	if s.deps.RateLimit > 0 {
		l.byToken = httprate.NewRateLimiter(s.deps.RateLimit, time.Second, onLimit)
	}
	switch {
	case s.deps.RateLimit > 0:
		l.byIP = httprate.NewRateLimiter(s.deps.RateLimit, time.Second, onLimit)
	case s.deps.Tokens != nil:
		l.byIP = httprate.NewRateLimiter(DefaultUnauthenticatedRate, time.Second, onLimit)
	}
	return l
}

// authenticate demands a bearer token of the needed role when the server has
// tokens: read for GET and HEAD, write for everything else. Without tokens
// it lets everything through (the server logs at start that it is open).
// It also applies the rate limits: a caller without a valid token is counted
// against its IP before it is told 401, so guessing tokens is limited too; a
// caller with one is counted against the token's own bucket, so a flood of
// bad tokens from a shared address does not shut the good ones out.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.deps.Tokens == nil {
			if s.limits.byIP != nil && s.limits.byIP.RespondOnLimit(w, r, ipKey(r)) {
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		p, ok := s.principal(r)
		if !ok {
			if s.limits.byIP != nil && s.limits.byIP.RespondOnLimit(w, r, ipKey(r)) {
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="autorefresh"`)
			s.writeError(w, r, &errs.Error{Code: codeUnauthorized, Message: "a valid bearer token is required"})
			return
		}
		if a := accessOf(w); a != nil {
			a.client = p.Name // for the access log, written by observe
		}
		if s.limits.byToken != nil && s.limits.byToken.RespondOnLimit(w, r, "token:"+p.Key) {
			return
		}
		need := auth.Write
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			need = auth.Read
		}
		if p.Role < need {
			s.writeError(w, r, &errs.Error{Code: codeForbidden, Message: "this token may only read"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// principal checks the Authorization header.
func (s *server) principal(r *http.Request) (auth.Principal, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return auth.Principal{}, false
	}
	return s.deps.Tokens.Authenticate(strings.TrimSpace(token))
}

// ipKey is the rate-limit key of a caller without a token: its remote IP
// (the client's, behind trusted proxies: see behindProxies), IPv6 by /64
// since one host commonly holds a whole /64.
func ipKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip:" + httprate.CanonicalizeIP(host)
}

// protectMetrics puts /metrics behind a read token when asked to.
func (s *server) protectMetrics(next http.Handler) http.Handler {
	if !s.deps.ProtectMetrics || s.deps.Tokens == nil {
		return next
	}
	return s.authenticate(next)
}
