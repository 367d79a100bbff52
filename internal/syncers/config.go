package syncers

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/webhook"
)

// Limits and defaults of a WebhookConfig.
const (
	// DefaultTimeout bounds one exchange (connect, send, reply) when
	// WebhookConfig.Timeout is zero.
	DefaultTimeout = 10 * time.Second
	// MaxTimeout is the largest Timeout a config may ask for.
	MaxTimeout = 5 * time.Minute
	// DefaultMaxReplyBytes bounds a reply body when MaxReplyBytes is zero.
	DefaultMaxReplyBytes int64 = 4 << 20
	// MaxMaxReplyBytes is the largest MaxReplyBytes a config may ask for.
	MaxMaxReplyBytes int64 = 64 << 20
	// MaxHeaders is the number of extra headers a config may carry.
	MaxHeaders = 32
	// minKeyBytes and maxKeyBytes are the signing key sizes Standard
	// Webhooks recommends (192 to 512 bits).
	minKeyBytes, maxKeyBytes = 24, 64
)

// WebhookConfig is what a user registers for a cache's upstream.
//
// String and GoString redact the secret, header values and the URL's query,
// so a config may be logged with %v or zap.Stringer. Encoding it as JSON does
// include the secret; never send it back to a client that way.
type WebhookConfig struct {
	// URL receives the POSTs; http or https only, checked by an
	// egress.Policy.
	URL string
	// Secret, when set, signs every request per Standard Webhooks v1. It is
	// "whsec_" followed by the standard base64 encoding of a 24 to 64 byte key.
	Secret string
	// Headers are sent with every request as given, e.g. Authorization.
	// Values are secret. Headers the protocol sets itself may not be given.
	Headers map[string]string
	// Timeout bounds one exchange; zero means DefaultTimeout.
	Timeout time.Duration
	// MaxReplyBytes bounds a reply body; zero means DefaultMaxReplyBytes.
	MaxReplyBytes int64
}

// reservedHeaders may not be configured: the protocol sets them, the
// transport owns them, or (Accept-Encoding) changing them would switch off
// transparent decompression and break reply parsing.
var reservedHeaders = []string{
	"Accept-Encoding", "Connection", "Content-Length", "Content-Type", "Expect",
	"Host", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Te",
	"Trailer", "Transfer-Encoding", "Upgrade",
	"Webhook-Id", "Webhook-Signature", "Webhook-Timestamp",
}

// Validate checks the config against the egress policy p (nil: public
// addresses only). Errors have code errs.Invalid and name the field
// ("webhook.url: ..."); they never contain the secret or a header value.
func (c WebhookConfig) Validate(p *egress.Policy) error {
	if err := p.CheckURL(c.URL); err != nil {
		msg := strings.TrimPrefix(errs.MessageOf(err), "url ") // "url host ..." -> "webhook.url: host ..."
		// Keep only the cause (egress.ErrRefused or nil); the message says it all.
		return &errs.Error{Code: errs.Invalid, Message: "webhook.url: " + msg, Err: errors.Unwrap(err)}
	}
	if c.Secret != "" {
		key, err := webhook.ParseSecret(c.Secret)
		if err != nil {
			return errs.Errorf(errs.Invalid, "webhook.secret: must be %q followed by standard base64", webhook.SecretPrefix)
		}
		if len(key) < minKeyBytes || len(key) > maxKeyBytes {
			return errs.Errorf(errs.Invalid, "webhook.secret: key must be %d to %d bytes, got %d", minKeyBytes, maxKeyBytes, len(key))
		}
	}
	if len(c.Headers) > MaxHeaders {
		return errs.Errorf(errs.Invalid, "webhook.headers: at most %d headers", MaxHeaders)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		if err := checkHeader(name, c.Headers[name]); err != nil {
			return err
		}
	}
	if c.Timeout < 0 || c.Timeout > MaxTimeout {
		return errs.Errorf(errs.Invalid, "webhook.timeout: must be between 0 (default %s) and %s", DefaultTimeout, MaxTimeout)
	}
	if c.MaxReplyBytes < 0 || c.MaxReplyBytes > MaxMaxReplyBytes {
		return errs.Errorf(errs.Invalid, "webhook.maxReplyBytes: must be between 0 (default %d) and %d", DefaultMaxReplyBytes, MaxMaxReplyBytes)
	}
	return nil
}

// checkHeader validates one configured header. Only the name appears in
// errors; the value is secret.
func checkHeader(name, value string) error {
	if name == "" || !isToken(name) {
		return errs.Errorf(errs.Invalid, "webhook.headers: %q is not a valid header name", name)
	}
	canon := http.CanonicalHeaderKey(name)
	if slices.Contains(reservedHeaders, canon) || strings.HasPrefix(canon, "Proxy-") {
		return errs.Errorf(errs.Invalid, "webhook.headers: %q is set by the service and cannot be configured", canon)
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return errs.Errorf(errs.Invalid, "webhook.headers: the value of %q contains control characters", canon)
		}
	}
	return nil
}

// isToken reports whether s is an RFC 9110 token, the syntax of header names.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// withDefaults fills in the zero Timeout and MaxReplyBytes.
func (c WebhookConfig) withDefaults() WebhookConfig {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxReplyBytes == 0 {
		c.MaxReplyBytes = DefaultMaxReplyBytes
	}
	return c
}

// String returns a description safe to log: the URL with its query values
// redacted (RedactURL), whether a secret is set, and the header names only.
func (c WebhookConfig) String() string {
	secret := "none"
	if c.Secret != "" {
		secret = "[redacted]"
	}
	return fmt.Sprintf("WebhookConfig{URL: %s, Secret: %s, Headers: %v, Timeout: %s, MaxReplyBytes: %d}",
		RedactURL(c.URL), secret, slices.Sorted(maps.Keys(c.Headers)), c.Timeout, c.MaxReplyBytes)
}

// GoString makes %#v as safe as %v.
func (c WebhookConfig) GoString() string { return c.String() }

// RedactedValue replaces every secret value shown to clients or written to
// logs: header values, and the query values of a webhook URL.
const RedactedValue = "***"

// RedactURL returns a webhook URL as it may be shown to anyone who can read a
// cache: tokens often ride in the query string, so every query value (and a
// query word without "=", which may be the token itself) becomes
// RedactedValue, as do the fragment and any credentials. Keys, host and path
// stay readable. It works on the parsed URL, not on patterns, so no spelling
// of a token slips through; a URL with nothing to hide is returned as given.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparseable]"
	}
	if u.RawQuery == "" && !u.ForceQuery && u.Fragment == "" && u.User == nil {
		return raw
	}
	if u.User != nil {
		u.User = url.User(RedactedValue)
	}
	if u.Fragment != "" {
		u.Fragment, u.RawFragment = RedactedValue, ""
	}
	u.RawQuery = redactQuery(u.RawQuery)
	return u.String()
}

// redactQuery keeps the keys of a raw query, in order, and replaces every
// value. A key that does not unescape is replaced too: it is not a key the
// reader could use, and it might be a value.
func redactQuery(raw string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		key, _, hasValue := strings.Cut(part, "=")
		if !hasValue {
			b.WriteString(RedactedValue)
			continue
		}
		if k, err := url.QueryUnescape(key); err == nil {
			b.WriteString(url.QueryEscape(k))
		} else {
			b.WriteString(RedactedValue)
		}
		b.WriteString("=" + RedactedValue)
	}
	return b.String()
}
