package handlers

import (
	"net/http"
	"net/netip"
	"strings"
)

// behindProxies makes the client of a request the address that the trusted
// proxies in front of the server name in X-Forwarded-For, when, and only
// when, the TCP peer is one of them (Deps.TrustedProxies). Everything that
// names a client by address reads it from RemoteAddr after this: the rate
// limits, the per-client caps on streams and long-polls, and the access
// log. A request from anyone else keeps its peer address, whatever it
// claims: the header is trivially forged.
func (s *server) behindProxies(next http.Handler) http.Handler {
	trusted := s.deps.TrustedProxies
	if len(trusted) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if client, ok := forwardedClient(r, trusted); ok {
			r = r.WithContext(r.Context()) // a copy: the caller's request is not changed under it
			r.RemoteAddr = netip.AddrPortFrom(client, 0).String()
		}
		next.ServeHTTP(w, r)
	})
}

// forwardedClient reads the client's address from X-Forwarded-For, sent by
// a trusted peer. Each proxy appends the address it got the request from,
// so only the right end of the list is vouched for: the list is read from
// the right, past the trusted proxies, and the first address they did not
// vouch for is the client (one the client put in the header itself stays
// to its left, unread). A malformed entry ends the trust: the peer stays
// the client.
func forwardedClient(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !within(peer.Addr(), trusted) {
		return netip.Addr{}, false
	}
	// Several header lines are one list, in order.
	var hops []string
	for _, line := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(line, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}, false
		}
		if a = a.Unmap(); i == 0 || !within(a, trusted) {
			return a, true
		}
	}
	return netip.Addr{}, false // no header: the peer is the client
}

func within(a netip.Addr, prefixes []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
