package egress

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// FuzzCheckURL checks that CheckURL never panics, that everything it accepts
// is an http(s) URL whose literal address (if any) the policy allows, and
// that allowing private addresses never turns an acceptance into a refusal.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1/", "http://[::ffff:127.0.0.1]/", "http://0x7f.1/",
		"http://2130706433/", "http://169.254.169.254/", "http://localhost/",
		"ftp://x", "http://[::1]/", "http://10.0.0.1/", "https://example.com/a?b=c",
		"http://[fe80::1%25eth0]:80/", "http://u:p@example.com/", "http://0177.1/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := (&Policy{}).CheckURL(raw)
		errPriv := (&Policy{AllowPrivate: true}).CheckURL(raw)
		if err == nil && errPriv != nil {
			t.Fatalf("accepted by default but refused with AllowPrivate: %v", errPriv)
		}
		if err != nil {
			if errPriv == nil && !errors.Is(err, ErrRefused) {
				t.Fatalf("AllowPrivate lifted a non-policy error: %v", err)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil {
			t.Fatalf("accepted an unparseable URL: %v", perr)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Hostname() == "" || u.User != nil {
			t.Fatalf("accepted %q", raw)
		}
		host := strings.TrimSuffix(u.Hostname(), ".")
		if a, aerr := netip.ParseAddr(host); aerr == nil && Classify(a) != "" {
			t.Fatalf("accepted non-public address %s", a)
		}
		if a, ok := parseLooseIPv4(strings.ToLower(host)); ok && (a.String() != host || Classify(a) != "") {
			t.Fatalf("accepted numeric host %q (%s)", host, a)
		}
	})
}
