// Package egress decides which network destinations the service may connect
// to on behalf of its users.
//
// Webhook URLs are user input, so a careless HTTP client would let any user
// make the service call its own admin ports, other hosts of the private
// network or a cloud metadata endpoint (server-side request forgery). The
// policy here refuses every address that is not publicly routable unless an
// operator explicitly allows it.
//
// The check runs twice: CheckURL rejects what it can see in the URL itself
// (literal addresses, odd numeric spellings, "localhost") so that users get a
// clear error when they register a URL; Control runs on the address the
// dialler is about to connect to, after DNS resolution, and is the
// authoritative check: a name that resolves to a private address, or starts
// resolving to one later (DNS rebinding), is refused before a packet is sent.
package egress

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrRefused is matched (errors.Is) by every error that refuses a destination
// because of the policy, both from CheckURL and from a refused dial.
var ErrRefused = errors.New("egress: destination refused by policy")

// Policy says which destinations are allowed. The zero value, and a nil
// *Policy, allow public addresses only.
//
// A Policy must not be changed while it is in use; NewTransport takes a copy.
type Policy struct {
	// AllowPrivate switches the address check off: loopback, private,
	// link-local and every other non-public address become reachable. Meant
	// for tests and for single-host deployments whose upstreams run beside
	// the service.
	AllowPrivate bool
	// Allow lists networks that are reachable even though they are not
	// public, e.g. 10.20.0.0/16 for an internal upstream. Narrower than
	// AllowPrivate and preferred in production.
	Allow []netip.Prefix
}

// RefusedError is the error for an address the policy refuses. Its text names
// the address and its class, never a URL (URLs may carry tokens).
type RefusedError struct {
	// Addr is the refused address (zero when the address was unparseable).
	Addr netip.Addr
	// Class says why: "loopback", "private", "link-local", "unspecified",
	// "multicast", "reserved" or "invalid".
	Class string
}

// Error implements error.
func (e *RefusedError) Error() string {
	if !e.Addr.IsValid() {
		return "egress: refusing to connect: " + e.Class + " address"
	}
	return fmt.Sprintf("egress: refusing to connect to %s (%s address)", e.Addr, e.Class)
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// CheckAddr returns nil if the policy allows connecting to a, or a
// *RefusedError.
func (p *Policy) CheckAddr(a netip.Addr) error {
	if !a.IsValid() {
		return &RefusedError{Class: "invalid"}
	}
	class := Classify(a)
	if class == "" || p.allows(a) {
		return nil
	}
	return &RefusedError{Addr: a.WithZone(""), Class: class}
}

// allows reports whether the operator's settings let a through even though it
// is not public.
func (p *Policy) allows(a netip.Addr) bool {
	if p == nil {
		return false
	}
	if p.AllowPrivate {
		return true
	}
	a = a.WithZone("") // Prefix.Contains never matches a zoned address
	plain := a.Unmap()
	for _, pfx := range p.Allow {
		if pfx.Contains(a) || pfx.Contains(plain) {
			return true
		}
	}
	return false
}

// clone returns a private copy so that a transport is not affected by later
// changes to the caller's Policy.
func (p *Policy) clone() *Policy {
	if p == nil {
		return &Policy{}
	}
	c := *p
	c.Allow = append([]netip.Prefix(nil), p.Allow...)
	return &c
}

// reserved lists non-public ranges that the netip predicates do not cover.
// Each is either unroutable on the internet or commonly used for internal
// infrastructure (100.64.0.0/10 hosts some clouds' metadata services).
var reserved = []struct {
	pfx   netip.Prefix
	class string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"}, // Linux connects 0.x.x.x to the local host
	{netip.MustParsePrefix("100.64.0.0/10"), "private"}, // carrier-grade NAT, cloud internals
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("192.0.2.0/24"), "reserved"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved"},
	{netip.MustParsePrefix("198.51.100.0/24"), "reserved"},
	{netip.MustParsePrefix("203.0.113.0/24"), "reserved"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // includes 255.255.255.255
	{netip.MustParsePrefix("::/96"), "reserved"},       // deprecated IPv4-compatible form
	{netip.MustParsePrefix("100::/64"), "reserved"},
	{netip.MustParsePrefix("2001::/32"), "reserved"}, // Teredo tunnels
	{netip.MustParsePrefix("2001:db8::/32"), "reserved"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "private"}, // local-use NAT64
	{netip.MustParsePrefix("fec0::/10"), "private"},      // deprecated site-local
}

// IPv6 ranges that carry an IPv4 address which a translator or tunnel would
// end up connecting to; the embedded address is checked like a plain one.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// Classify returns "" for a publicly routable address and otherwise the class
// that makes it non-public. IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) are
// classified as the IPv4 address they denote, because that is what the kernel
// connects to.
func Classify(a netip.Addr) string {
	if !a.IsValid() {
		return "invalid"
	}
	a = a.WithZone("").Unmap()
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast(): // 169.254.0.0/16 (metadata services), fe80::/10
		return "link-local"
	case a.IsMulticast():
		return "multicast"
	}
	for _, r := range reserved {
		if r.pfx.Contains(a) {
			return r.class
		}
	}
	if v4, ok := embeddedIPv4(a); ok {
		return Classify(v4)
	}
	return ""
}

// embeddedIPv4 extracts the IPv4 address of a NAT64 or 6to4 address.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}
