package egress

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// MaxURLLength bounds the length of a URL that CheckURL accepts.
const MaxURLLength = 2048

// CheckURL validates a user-supplied URL against the policy without any
// network access. It accepts only absolute http and https URLs without
// credentials, and refuses hosts it can already tell are not allowed:
// literal addresses the policy refuses (including IPv4-mapped IPv6 forms),
// "localhost" and its subdomains, and numeric hosts that are not plain
// dotted-decimal IPv4 (0x7f.1, 2130706433, 127.1, 0177.0.0.1). Resolvers
// disagree on how to read those spellings, so they are refused even when the
// address they denote would be allowed.
//
// Hostnames are not resolved here: the dial-time Control check is what keeps
// a name that resolves to a refused address out.
//
// Errors have code errs.Invalid; refusals of the destination also match
// ErrRefused. Messages quote the host but never the rest of the URL, which
// may carry tokens.
func (p *Policy) CheckURL(raw string) error {
	if raw == "" {
		return errs.Errorf(errs.Invalid, "url is empty")
	}
	if len(raw) > MaxURLLength {
		return errs.Errorf(errs.Invalid, "url is longer than %d bytes", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, so its text is not used.
		return errs.Errorf(errs.Invalid, "url is not a valid absolute URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errs.Errorf(errs.Invalid, "url scheme must be http or https")
	}
	if u.Opaque != "" || u.Host == "" {
		return errs.Errorf(errs.Invalid, "url has no host")
	}
	if u.User != nil {
		return errs.Errorf(errs.Invalid, "url must not contain credentials; send them in a header")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return errs.Errorf(errs.Invalid, "url port must be between 1 and 65535")
		}
	}
	return p.checkHost(u.Hostname())
}

// checkHost applies the policy to the host part of a URL.
func (p *Policy) checkHost(host string) error {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "" {
		return errs.Errorf(errs.Invalid, "url has no host")
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if err := p.CheckAddr(a); err != nil {
			return refused("url host %q is a %s address", host, Classify(a))
		}
		return nil
	}
	if endsInNumber(h) {
		// WHATWG URL parsers and inet_aton read such hosts as IPv4 addresses;
		// Go's own resolver would look them up as names. Either way the
		// result is not what a reader of the URL expects.
		a, ok := parseLooseIPv4(h)
		if !ok {
			return refused("url host %q is not a valid IPv4 address", host)
		}
		return refused("url host %q is a non-canonical spelling of %s; write IPv4 addresses in dotted-decimal form", host, a)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			// Non-ASCII names are refused because the HTTP transport maps
			// them through IDNA (fullwidth "ｌｏｃａｌｈｏｓｔ" becomes
			// "localhost"); punycode works.
			return errs.Errorf(errs.Invalid, "url host %q must be an ASCII name (use punycode) or an IP address", host)
		}
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		// RFC 6761: these names always resolve to loopback.
		if p.CheckAddr(netip.AddrFrom4([4]byte{127, 0, 0, 1})) != nil {
			return refused("url host %q is a loopback name", host)
		}
	}
	return nil
}

// refused builds an errs.Invalid error that also matches ErrRefused.
func refused(format string, args ...any) error {
	e := errs.Errorf(errs.Invalid, format, args...)
	e.Err = ErrRefused
	return e
}

// endsInNumber reports whether the last label of host is numeric (decimal, or
// hexadecimal with a 0x prefix), which is how the WHATWG URL standard decides
// that a host must be an IPv4 address.
func endsInNumber(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if allDigits(last, 10) {
		return true
	}
	return (strings.HasPrefix(last, "0x") || strings.HasPrefix(last, "0X")) && allDigits(last[2:], 16)
}

// allDigits reports whether every byte of s is a digit in base 10 or 16.
// The empty string qualifies, as "0x" alone means zero.
func allDigits(s string, base int) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		hex := c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
		if !(c >= '0' && c <= '9' || base == 16 && hex) {
			return false
		}
	}
	return true
}

// parseLooseIPv4 parses the legacy IPv4 forms accepted by inet_aton and the
// WHATWG URL standard: one to four parts, each decimal, octal (leading 0) or
// hexadecimal (0x), the last part filling the remaining bytes.
func parseLooseIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var ip uint64
	for i, part := range parts {
		v, ok := parseLooseNumber(part)
		if !ok {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			if v > 255 {
				return netip.Addr{}, false
			}
			ip |= v << (8 * (3 - i))
			continue
		}
		if v >= 1<<(8*(5-len(parts))) {
			return netip.Addr{}, false
		}
		ip |= v
	}
	return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}), true
}

// parseLooseNumber parses one part of a legacy IPv4 address.
func parseLooseNumber(s string) (uint64, bool) {
	base := 10
	switch {
	case s == "":
		return 0, false
	case len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X"):
		s, base = s[2:], 16
		if s == "" {
			return 0, true
		}
	case len(s) >= 2 && s[0] == '0':
		s, base = s[1:], 8
	}
	if !allDigits(s, base) {
		return 0, false // ParseUint alone would also accept "_" and signs in some bases
	}
	v, err := strconv.ParseUint(s, base, 32)
	return v, err == nil
}
