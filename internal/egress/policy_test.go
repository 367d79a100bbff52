package egress

import (
	"errors"
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	cases := map[string]string{
		"8.8.8.8":                "",
		"93.184.216.34":          "",
		"2606:4700::1111":        "",
		"127.0.0.1":              "loopback",
		"127.255.255.254":        "loopback",
		"::1":                    "loopback",
		"::ffff:127.0.0.1":       "loopback",
		"::ffff:10.1.2.3":        "private",
		"10.0.0.1":               "private",
		"172.16.0.1":             "private",
		"192.168.1.1":            "private",
		"fd00::1":                "private",
		"100.100.100.200":        "private",
		"fec0::1":                "private",
		"169.254.169.254":        "link-local",
		"::ffff:169.254.169.254": "link-local",
		"fe80::1":                "link-local",
		"fe80::1%eth0":           "link-local",
		"0.0.0.0":                "unspecified",
		"0.1.2.3":                "unspecified",
		"::":                     "unspecified",
		"224.0.0.1":              "multicast",
		"ff02::1":                "multicast",
		"255.255.255.255":        "reserved",
		"240.0.0.1":              "reserved",
		"198.18.0.1":             "reserved",
		"::7f00:1":               "reserved",
		"2001:db8::1":            "reserved",
		"64:ff9b::7f00:1":        "loopback", // NAT64 of 127.0.0.1
		"64:ff9b::808:808":       "",         // NAT64 of 8.8.8.8
		"2002:a00:1::1":          "private",  // 6to4 of 10.0.0.1
		"2002:808:808::1":        "",
	}
	for in, want := range cases {
		if got := Classify(netip.MustParseAddr(in)); got != want {
			t.Errorf("Classify(%s) = %q, want %q", in, got, want)
		}
	}
	if got := Classify(netip.Addr{}); got != "invalid" {
		t.Errorf("Classify(zero) = %q", got)
	}
}

func TestCheckAddr(t *testing.T) {
	loop := netip.MustParseAddr("127.0.0.1")
	mapped := netip.MustParseAddr("::ffff:127.0.0.1")
	internal := netip.MustParseAddr("10.20.1.2")
	public := netip.MustParseAddr("8.8.4.4")

	var nilPolicy *Policy
	for _, p := range []*Policy{nilPolicy, {}} {
		if err := p.CheckAddr(public); err != nil {
			t.Errorf("public address refused: %v", err)
		}
		for _, a := range []netip.Addr{loop, mapped, internal, {}} {
			err := p.CheckAddr(a)
			if !errors.Is(err, ErrRefused) {
				t.Errorf("CheckAddr(%v) = %v, want ErrRefused", a, err)
			}
		}
	}
	var re *RefusedError
	if err := (&Policy{}).CheckAddr(mapped); !errors.As(err, &re) || re.Class != "loopback" {
		t.Errorf("mapped loopback: %v", err)
	} else if want := "egress: refusing to connect to ::ffff:127.0.0.1 (loopback address)"; err.Error() != want {
		t.Errorf("error text %q, want %q", err.Error(), want)
	}

	priv := &Policy{AllowPrivate: true}
	for _, a := range []netip.Addr{loop, mapped, internal, public} {
		if err := priv.CheckAddr(a); err != nil {
			t.Errorf("AllowPrivate refused %v: %v", a, err)
		}
	}
	if err := priv.CheckAddr(netip.Addr{}); err == nil {
		t.Error("AllowPrivate accepted the zero address")
	}

	allow := &Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.20.0.0/16")}}
	for _, a := range []netip.Addr{loop, mapped, internal, public} {
		if err := allow.CheckAddr(a); err != nil {
			t.Errorf("allowlist refused %v: %v", a, err)
		}
	}
	for _, s := range []string{"127.0.0.2", "10.21.0.1", "::1", "169.254.169.254"} {
		if err := allow.CheckAddr(netip.MustParseAddr(s)); !errors.Is(err, ErrRefused) {
			t.Errorf("allowlist accepted %s: %v", s, err)
		}
	}
}

func TestCloneIsIndependent(t *testing.T) {
	p := &Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	c := p.clone()
	p.Allow[0] = netip.MustParsePrefix("10.0.0.0/8")
	p.AllowPrivate = true
	if c.AllowPrivate || c.Allow[0].String() != "127.0.0.1/32" {
		t.Fatalf("clone follows the original: %+v", c)
	}
}
