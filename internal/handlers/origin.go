package handlers

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// codeMisdirected answers a request whose Host the server does not serve.
const codeMisdirected errs.Code = "MISDIRECTED_REQUEST"

// hostCheck is the --allowed-hosts list. A page on a name its attacker
// controls can rebind that name to 127.0.0.1 and then read and write an
// open server on loopback as same-origin; the browser still sends the
// attacker's name in Host, so refusing unknown hosts ends it.
type hostCheck struct {
	// exact holds "host:port" entries, anyPort bare hosts that match on
	// every port; both lower-case, IPv6 without brackets in anyPort.
	exact, anyPort map[string]bool
}

// newHostCheck parses host[:port] entries; nil or empty means no check.
func newHostCheck(list []string) (*hostCheck, error) {
	if len(list) == 0 {
		return nil, nil
	}
	c := &hostCheck{exact: map[string]bool{}, anyPort: map[string]bool{}}
	for _, entry := range list {
		e := strings.ToLower(strings.TrimSpace(entry))
		if e == "" || strings.ContainsAny(e, "/ \t") {
			return nil, fmt.Errorf("allowed hosts: %q is not a host or host:port", entry)
		}
		if host, port, err := net.SplitHostPort(e); err == nil {
			if host == "" || port == "" {
				return nil, fmt.Errorf("allowed hosts: %q is not a host or host:port", entry)
			}
			c.exact[net.JoinHostPort(host, port)] = true
			continue
		}
		c.anyPort[strings.Trim(e, "[]")] = true
	}
	return c, nil
}

// allows reports whether the request's Host is listed. A Host without a
// port is on the scheme's default port, as the browser meant it.
func (c *hostCheck) allows(r *http.Request) bool {
	// A Host as it is listed, the usual case, is found without building
	// the host:port key below (an allocation per request). Every exact
	// entry has a port, so a Host that matches one splits into it.
	if c.exact[r.Host] {
		return true
	}
	h := strings.ToLower(r.Host)
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		host, port = strings.Trim(h, "[]"), "80"
		if r.TLS != nil {
			port = "443"
		}
	}
	return c.anyPort[host] || c.exact[net.JoinHostPort(host, port)]
}

// checkHost refuses requests for hosts not in AllowedHosts with 421. The
// health checks stay open whatever the Host: probes address the server by
// whatever IP they have, and the checks reveal nothing.
func (s *server) checkHost(next http.Handler) http.Handler {
	if s.hosts == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && !s.hosts.allows(r) {
			// The Host is not quoted back: it is the caller's text.
			s.writeError(w, r, &errs.Error{Code: codeMisdirected, Message: "this server does not answer for the host named in the request (see --allowed-hosts)"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// crossOrigin refuses writes that a browser sends on behalf of another
// site (CSRF): Sec-Fetch-Site other than same-origin or none or, from a
// browser too old to send it, an Origin whose host is not the request's
// Host. Safe methods, and clients that are not browsers (no such headers),
// pass. It is on with and without tokens: a page elsewhere cannot send a
// bearer token, so nothing legitimate is refused.
func (s *server) crossOrigin(next http.Handler) http.Handler {
	p := http.NewCrossOriginProtection()
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, &errs.Error{Code: codeForbidden, Message: "a cross-site browser request may not change anything"})
	}))
	return p.Handler(next)
}
