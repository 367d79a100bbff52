package syncers

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/errs"
)

func TestValidate(t *testing.T) {
	good := WebhookConfig{URL: "https://example.com/hook", Secret: vectorSecret,
		Headers: map[string]string{"Authorization": "Bearer x", "X-Api-Key": "k"}, Timeout: time.Second, MaxReplyBytes: 1 << 20}
	if err := good.Validate(nil); err != nil {
		t.Fatal(err)
	}
	if err := (WebhookConfig{URL: "https://example.com"}).Validate(nil); err != nil {
		t.Fatal(err)
	}
	key := func(n int) string { return "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, n)) }
	cases := []struct {
		name  string
		mod   func(*WebhookConfig)
		field string
	}{
		{"bad url", func(c *WebhookConfig) { c.URL = "http://10.1.2.3/" }, "webhook.url"},
		{"no url", func(c *WebhookConfig) { c.URL = "" }, "webhook.url"},
		{"secret prefix", func(c *WebhookConfig) { c.Secret = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }, "webhook.secret"},
		{"secret base64", func(c *WebhookConfig) { c.Secret = "whsec_***" }, "webhook.secret"},
		{"short key", func(c *WebhookConfig) { c.Secret = key(23) }, "webhook.secret"},
		{"long key", func(c *WebhookConfig) { c.Secret = key(65) }, "webhook.secret"},
		{"header name", func(c *WebhookConfig) { c.Headers = map[string]string{"Bad Name": "v"} }, "webhook.headers"},
		{"empty header name", func(c *WebhookConfig) { c.Headers = map[string]string{"": "v"} }, "webhook.headers"},
		{"header CRLF", func(c *WebhookConfig) { c.Headers = map[string]string{"X-A": "v\r\nX-B: w"} }, "webhook.headers"},
		{"header NUL", func(c *WebhookConfig) { c.Headers = map[string]string{"X-A": "v\x00"} }, "webhook.headers"},
		{"reserved content-type", func(c *WebhookConfig) { c.Headers = map[string]string{"content-type": "text/plain"} }, "webhook.headers"},
		{"reserved signature", func(c *WebhookConfig) { c.Headers = map[string]string{"Webhook-Signature": "v1,x"} }, "webhook.headers"},
		{"reserved host", func(c *WebhookConfig) { c.Headers = map[string]string{"HOST": "internal"} }, "webhook.headers"},
		{"reserved proxy", func(c *WebhookConfig) { c.Headers = map[string]string{"Proxy-Foo": "x"} }, "webhook.headers"},
		{"too many headers", func(c *WebhookConfig) {
			c.Headers = map[string]string{}
			for i := range MaxHeaders + 1 {
				c.Headers["X-H"+strings.Repeat("a", i)] = "v"
			}
		}, "webhook.headers"},
		{"negative timeout", func(c *WebhookConfig) { c.Timeout = -time.Second }, "webhook.timeout"},
		{"huge timeout", func(c *WebhookConfig) { c.Timeout = MaxTimeout + 1 }, "webhook.timeout"},
		{"negative reply limit", func(c *WebhookConfig) { c.MaxReplyBytes = -1 }, "webhook.maxReplyBytes"},
		{"huge reply limit", func(c *WebhookConfig) { c.MaxReplyBytes = MaxMaxReplyBytes + 1 }, "webhook.maxReplyBytes"},
	}
	for _, tc := range cases {
		c := good
		tc.mod(&c)
		err := c.Validate(nil)
		if errs.CodeOf(err) != errs.Invalid || !strings.HasPrefix(errs.MessageOf(err), tc.field+": ") {
			t.Errorf("%s: %v, want an INVALID error naming %s", tc.name, err, tc.field)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	c := WebhookConfig{}.withDefaults()
	if c.Timeout != DefaultTimeout || c.MaxReplyBytes != DefaultMaxReplyBytes {
		t.Fatalf("%+v", c)
	}
	c = WebhookConfig{Timeout: time.Second, MaxReplyBytes: 5}.withDefaults()
	if c.Timeout != time.Second || c.MaxReplyBytes != 5 {
		t.Fatalf("%+v", c)
	}
}

func TestNewRequiresCacheName(t *testing.T) {
	_, err := New(Options{Webhook: WebhookConfig{URL: "https://example.com/"}})
	if errs.CodeOf(err) != errs.Invalid {
		t.Fatalf("got %v", err)
	}
}

// TestRedactURL: every query value (and a bare query word, which may be the
// token itself) is replaced, the keys, path and host stay readable, and a URL
// with nothing to hide comes back as given.
func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"https://example.com/hook":                          "https://example.com/hook",
		"http://127.0.0.1:9000/sync?token=qs-secret":        "http://127.0.0.1:9000/sync?token=***",
		"https://example.com/h?a=1&token=qs-secret&a=2":     "https://example.com/h?a=***&token=***&a=***",
		"https://example.com/h?qs-secret":                   "https://example.com/h?***",
		"https://example.com/h?k%20ey=qs-secret&=x&&e=":     "https://example.com/h?k+ey=***&=***&e=***",
		"https://example.com/h?%zz=qs-secret":               "https://example.com/h?***=***",
		"https://example.com/h#qs-secret":                   "https://example.com/h#***",
		"https://u:qs-secret@example.com/h?token=qs-secret": "https://%2A%2A%2A@example.com/h?token=***",
		"http://[::1]:80/a%2Fb?t=qs-secret":                 "http://[::1]:80/a%2Fb?t=***",
		"%zz://bad?token=qs-secret":                         "[unparseable]",
	}
	for in, want := range cases {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(RedactURL(in), "qs-secret") {
			t.Errorf("RedactURL(%q) leaks the token", in)
		}
	}
}
