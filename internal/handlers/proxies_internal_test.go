package handlers

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestForwardedClient(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, c := range []struct {
		name, peer string
		xff        []string
		want       string // "" : the peer stays the client
	}{
		{"untrusted peer, forged header", "192.0.2.1:5000", []string{"203.0.113.7"}, ""},
		{"trusted peer, no header", "10.0.0.2:5000", nil, ""},
		{"trusted peer names the client", "10.0.0.2:5000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"a client's own entry is left of the one the proxy vouches for", "10.0.0.2:5000", []string{"6.6.6.6, 203.0.113.7"}, "203.0.113.7"},
		{"past a chain of trusted proxies", "10.0.0.2:5000", []string{"203.0.113.7, 10.1.1.1", "10.2.2.2"}, "203.0.113.7"},
		{"every hop trusted: the first", "10.0.0.2:5000", []string{"10.9.9.9, 10.1.1.1"}, "10.9.9.9"},
		{"a malformed hop ends the trust", "10.0.0.2:5000", []string{"203.0.113.7, not-an-ip"}, ""},
		{"IPv6 peer and client", "[fd00::1]:5000", []string{"2001:db8::7"}, "2001:db8::7"},
		{"IPv4 in IPv6", "[::ffff:10.0.0.2]:5000", []string{"::ffff:203.0.113.7"}, "203.0.113.7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: c.peer, Header: http.Header{}}
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got, ok := forwardedClient(r, trusted)
			switch {
			case c.want == "" && ok:
				t.Fatalf("client %s, want the peer", got)
			case c.want != "" && (!ok || got != netip.MustParseAddr(c.want)):
				t.Fatalf("client %s (%v), want %s", got, ok, c.want)
			}
		})
	}
}
