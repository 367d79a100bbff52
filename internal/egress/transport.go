package egress

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Control is a net.Dialer.Control function that refuses connections to
// addresses the policy does not allow. The dialler calls it after DNS
// resolution and after creating the socket but before connect(2), with the
// literal address being dialled, so no packet reaches a refused address and
// DNS rebinding cannot slip past it.
func (p *Policy) Control(network, address string, _ syscall.RawConn) error {
	if !strings.HasPrefix(network, "tcp") {
		return &RefusedError{Class: "invalid"} // webhooks speak HTTP over TCP only
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Class: "invalid"}
	}
	return p.CheckAddr(ap.Addr())
}

// NewDialer returns a dialler whose connections are checked by the policy.
// The policy is copied, so later changes to p do not affect it.
func NewDialer(p *Policy) *net.Dialer {
	return &net.Dialer{
		// A safety net only: callers bound each request with a context.
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
		Control:   p.clone().Control,
	}
}

// DialContext dials like net.Dialer.DialContext under the policy. It is meant
// for callers that build their own transport.
func (p *Policy) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return NewDialer(p).DialContext(ctx, network, address)
}

// NewTransport returns an HTTP transport that only connects where the policy
// allows. It never uses a proxy: with a proxy the policy would check the
// proxy's address instead of the upstream's, and the environment's proxy
// settings are not ours to trust for user-supplied URLs.
//
// The transport has no per-host connection limit, so one slow upstream
// cannot starve requests to others; callers bound each request with a
// context deadline instead.
func NewTransport(p *Policy) *http.Transport {
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            NewDialer(p).DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    16,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// NewClient returns an HTTP client that uses NewTransport(p) and never follows
// redirects: a redirect target is another user-influenced destination, and
// following it silently would also resend the body and custom headers there.
// The client has no overall timeout; bound each request with a context.
func NewClient(p *Policy) *http.Client {
	return &http.Client{
		Transport:     NewTransport(p),
		CheckRedirect: NoRedirect,
	}
}

// NoRedirect is an http.Client CheckRedirect function that makes the client
// return a redirect response to the caller instead of following it.
func NoRedirect(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}
