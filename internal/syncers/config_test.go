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
