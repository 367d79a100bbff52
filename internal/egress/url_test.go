package egress

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/autorefresh/autorefresh/internal/errs"
)

func TestCheckURLRefusesByDefault(t *testing.T) {
	cases := []struct {
		url     string
		refused bool   // matches ErrRefused (a destination refusal)
		msg     string // part of the message
	}{
		{"http://127.0.0.1/", true, "loopback"},
		{"http://127.0.0.1:8080/hook", true, "loopback"},
		{"http://[::ffff:127.0.0.1]/", true, "loopback"},
		{"http://[::ffff:7f00:1]/", true, "loopback"},
		{"http://0x7f.1/", true, "non-canonical spelling of 127.0.0.1"},
		{"http://2130706433/", true, "non-canonical spelling of 127.0.0.1"},
		{"http://0177.0.0.1/", true, "non-canonical spelling of 127.0.0.1"},
		{"http://127.1/", true, "non-canonical"},
		{"http://127.000.000.001/", true, "non-canonical"},
		{"http://0x08.0x08.0x08.0x08/", true, "non-canonical spelling of 8.8.8.8"},
		{"http://99999999999/", true, "not a valid IPv4 address"},
		{"http://1.2.3.09/", true, "not a valid IPv4 address"},
		{"http://example.0x1/", true, "not a valid IPv4 address"},
		{"http://169.254.169.254/latest/meta-data", true, "link-local"},
		{"http://localhost/", true, "loopback name"},
		{"http://LocalHost./", true, "loopback name"},
		{"http://api.localhost:9000/", true, "loopback name"},
		{"http://[::1]/", true, "loopback"},
		{"http://[::]/", true, "unspecified"},
		{"http://0.0.0.0/", true, "unspecified"},
		{"http://10.0.0.1/", true, "private"},
		{"http://192.168.0.10/", true, "private"},
		{"http://[fe80::1%25eth0]/", true, "link-local"},
		{"http://224.0.0.1/", true, "multicast"},
		{"ftp://x", false, "scheme must be http or https"},
		{"file:///etc/passwd", false, "scheme"},
		{"gopher://example.com/", false, "scheme"},
		{"example.com/hook", false, "scheme"},
		{"http://", false, "no host"},
		{"http:example.com", false, "no host"},
		{"http://:80/", false, "no host"},
		{"", false, "empty"},
		{"http://user:hunter2@example.com/", false, "credentials"},
		{"http://example.com:0/", false, "port"},
		{"http://example.com:99999/", false, "port"},
		{"http://ｌｏｃａｌｈｏｓｔ/", false, "ASCII"},
		{"http://exa mple.com/", false, "not a valid"},
		{"http://example.com/" + strings.Repeat("a", MaxURLLength), false, "longer than"},
	}
	for _, tc := range cases {
		err := (*Policy)(nil).CheckURL(tc.url)
		if err == nil {
			t.Errorf("CheckURL(%q) accepted", tc.url)
			continue
		}
		if errs.CodeOf(err) != errs.Invalid {
			t.Errorf("CheckURL(%q) code %s, want INVALID", tc.url, errs.CodeOf(err))
		}
		if got := errors.Is(err, ErrRefused); got != tc.refused {
			t.Errorf("CheckURL(%q) refused=%v, want %v (%v)", tc.url, got, tc.refused, err)
		}
		if !strings.Contains(errs.MessageOf(err), tc.msg) {
			t.Errorf("CheckURL(%q) message %q, want it to contain %q", tc.url, errs.MessageOf(err), tc.msg)
		}
	}
}

func TestCheckURLNeverEchoesPathOrQuery(t *testing.T) {
	err := (&Policy{}).CheckURL("http://127.0.0.1/hook?token=s3cr3t-token")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "/hook") {
		t.Fatalf("error %v", err)
	}
	err = (&Policy{}).CheckURL("http://bad host/?token=s3cr3t-token")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("error %v", err)
	}
}

func TestCheckURLAccepts(t *testing.T) {
	for _, u := range []string{
		"https://example.com/hook",
		"http://example.com:8080/a/b?c=d#frag",
		"HTTPS://EXAMPLE.COM/",
		"https://93.184.216.34/",
		"https://[2606:4700::1111]:8443/",
		"https://xn--bcher-kva.example/",
		"https://my_host.internal.example/",
		"https://127.0.0.1.example.com/", // a name: decided at dial time
	} {
		if err := (&Policy{}).CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q) = %v", u, err)
		}
	}
}

func TestCheckURLWithExplicitSettings(t *testing.T) {
	priv := &Policy{AllowPrivate: true}
	for _, u := range []string{"http://127.0.0.1:1234/", "http://localhost/", "http://[::1]/", "http://10.0.0.1/", "http://169.254.169.254/"} {
		if err := priv.CheckURL(u); err != nil {
			t.Errorf("AllowPrivate CheckURL(%q) = %v", u, err)
		}
	}
	// Ambiguous spellings stay refused whatever the policy.
	for _, u := range []string{"http://0x7f.1/", "http://2130706433/", "ftp://127.0.0.1/"} {
		if err := priv.CheckURL(u); err == nil {
			t.Errorf("AllowPrivate CheckURL(%q) accepted", u)
		}
	}

	allow := &Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	for _, u := range []string{"http://127.0.0.1:1234/", "http://[::ffff:127.0.0.1]/", "http://localhost:1/"} {
		if err := allow.CheckURL(u); err != nil {
			t.Errorf("allowlist CheckURL(%q) = %v", u, err)
		}
	}
	for _, u := range []string{"http://10.0.0.1/", "http://[::1]/"} {
		if err := allow.CheckURL(u); !errors.Is(err, ErrRefused) {
			t.Errorf("allowlist CheckURL(%q) = %v", u, err)
		}
	}
}

func TestParseLooseIPv4(t *testing.T) {
	cases := map[string]string{
		"2130706433":           "127.0.0.1",
		"0x7f.1":               "127.0.0.1",
		"0x7F000001":           "127.0.0.1",
		"017700000001":         "127.0.0.1",
		"0177.0.0.1":           "127.0.0.1",
		"127.1":                "127.0.0.1",
		"127.0.1":              "127.0.0.1",
		"10.0x10.0x1010":       "10.16.16.16",
		"0x":                   "0.0.0.0",
		"0":                    "0.0.0.0",
		"255.255.255.255":      "255.255.255.255",
		"4294967295":           "255.255.255.255",
		"1.2.3.4.5":            "",
		"4294967296":           "",
		"256.1":                "",
		"1.16777216":           "",
		"1.2.65536":            "",
		"08":                   "",
		"0x1g":                 "",
		"":                     "",
		"1..2":                 "",
		"99999999999999999999": "",
	}
	for in, want := range cases {
		a, ok := parseLooseIPv4(in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != want {
			t.Errorf("parseLooseIPv4(%q) = %q, want %q", in, got, want)
		}
	}
}
