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

// authenticate demands a bearer token of the needed role when the server has
// tokens: read for GET and HEAD, write for everything else. Without tokens
// it lets everything through (the server logs at start that it is open).
func (s *server) authenticate(next http.Handler) http.Handler {
	if s.deps.Tokens == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.principal(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="autorefresh"`)
			s.writeError(w, r, &errs.Error{Code: codeUnauthorized, Message: "a valid bearer token is required"})
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
		if a := accessOf(w); a != nil {
			a.client = p.Name // for the access log, written by observe
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

// rateLimiter limits each client to RateLimit requests per second: a client
// is its token when it has one, else its remote IP (proxies are not trusted
// for this: put the limit in the proxy when there is one).
func (s *server) rateLimiter() func(http.Handler) http.Handler {
	if s.deps.RateLimit <= 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	key := func(r *http.Request) (string, error) {
		if p, ok := principalOf(r); ok {
			return "token:" + p.Name, nil
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		return "ip:" + httprate.CanonicalizeIP(host), nil
	}
	return httprate.LimitBy(s.deps.RateLimit, time.Second, key,
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			// httprate has set Retry-After already.
			s.writeError(w, r, &errs.Error{Code: codeRateLimited, Message: "too many requests; retry after the Retry-After delay"})
		}))
}

// protectMetrics puts /metrics behind a read token when asked to.
func (s *server) protectMetrics(next http.Handler) http.Handler {
	if !s.deps.ProtectMetrics || s.deps.Tokens == nil {
		return next
	}
	return s.authenticate(next)
}
