// Package webhook signs and verifies webhook requests per Standard Webhooks
// v1 (https://www.standardwebhooks.com/), as autorefresh sends them to an
// upstream.
//
// A signed request carries three headers:
//
//	webhook-id:        msg_...     a fresh id per request, for dropping duplicates
//	webhook-timestamp: 1614265330  when it was sent, in Unix seconds
//	webhook-signature: v1,<base64> HMAC-SHA256 of "<id>.<timestamp>.<body>"
//
// The HMAC key is the base64 text of a "whsec_" secret. The signature header
// may list several space-separated signatures (a sender lists more than one
// while it rotates secrets); one matching v1 signature is enough.
//
// An upstream written in Go serves Handler, which verifies, bounds and
// decodes each batch and calls a function with it; one that does its own
// HTTP calls Verify on the raw body before decoding it. autorefresh itself
// signs with Sign, so both sides share this one implementation.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks v1 header names, as written on the wire, and the prefix
// of a secret.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	SecretPrefix    = "whsec_"
)

// DefaultTolerance is how far a request's timestamp may be from the
// receiver's clock, either way, when Verify is given a tolerance of zero.
// Older requests are refused so that a captured request cannot be replayed
// later; newer ones so that a sender with a skewed clock is noticed.
const DefaultTolerance = 5 * time.Minute

// ErrInvalidSecret is returned by ParseSecret, Sign and Verify when the
// secret is not "whsec_" followed by non-empty standard base64 (padded or
// not). It never repeats the secret.
var ErrInvalidSecret = errors.New(`webhook secret must be "whsec_" followed by base64`)

// ErrVerification matches (with errors.Is) every error of Verify about the
// request rather than the secret; ErrMissingHeader, ErrInvalidTimestamp,
// ErrTimestampTooOld, ErrTimestampTooNew and ErrNoMatchingSignature say why.
var ErrVerification = errors.New("webhook signature verification failed")

// The reasons Verify refuses a request. Each also matches ErrVerification.
var (
	// ErrMissingHeader: webhook-id, webhook-timestamp or webhook-signature
	// is absent or empty.
	ErrMissingHeader error = &verifyError{"missing webhook-id, webhook-timestamp or webhook-signature header"}
	// ErrInvalidTimestamp: webhook-timestamp is not an integer.
	ErrInvalidTimestamp error = &verifyError{"webhook-timestamp is not a Unix time in seconds"}
	// ErrTimestampTooOld: webhook-timestamp is further in the past than the
	// tolerance.
	ErrTimestampTooOld error = &verifyError{"webhook-timestamp is too old"}
	// ErrTimestampTooNew: webhook-timestamp is further in the future than
	// the tolerance.
	ErrTimestampTooNew error = &verifyError{"webhook-timestamp is in the future"}
	// ErrNoMatchingSignature: no v1 signature in webhook-signature matches.
	ErrNoMatchingSignature error = &verifyError{"no valid v1 signature"}
)

// verifyError is a reason for refusing a request; it unwraps to
// ErrVerification.
type verifyError struct{ msg string }

func (e *verifyError) Error() string { return e.msg }
func (e *verifyError) Unwrap() error { return ErrVerification }

// ParseSecret returns the HMAC key of a "whsec_<base64>" secret, or
// ErrInvalidSecret. Padded and unpadded base64 are both accepted because
// secrets get copied around. The key length is not limited here; Standard
// Webhooks recommends 24 to 64 bytes.
func ParseSecret(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok || enc == "" {
		return nil, ErrInvalidSecret
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(enc)
	}
	if err != nil || len(key) == 0 {
		return nil, ErrInvalidSecret
	}
	return key, nil
}

// Sign returns the webhook-signature header value, "v1,<base64>", of a
// message with id msgID sent at ts (whole seconds count; the rest is
// dropped), or ErrInvalidSecret.
func Sign(secret, msgID string, ts time.Time, body []byte) (string, error) {
	key, err := ParseSecret(secret)
	if err != nil {
		return "", err
	}
	return "v1," + sign(key, msgID, ts.Unix(), body), nil
}

// sign returns the base64 HMAC-SHA256 of "<id>.<ts>.<body>".
func sign(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Verify checks the Standard Webhooks headers in h against the raw request
// body, and refuses a webhook-timestamp more than tolerance away from now
// (zero or less means DefaultTolerance), which bounds replays. It returns
// nil, ErrInvalidSecret, or an error matching ErrVerification and one of
// the reasons above. Signatures are compared in constant time.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := ParseSecret(secret)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeader
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrInvalidTimestamp
	}
	// Far-off timestamps are told apart in whole seconds first, where
	// time.Unix cannot overflow.
	nowSec, slack := now.Unix(), int64(tolerance/time.Second)+1
	switch d := now.Sub(time.Unix(ts, 0)); {
	case ts < nowSec-slack:
		return ErrTimestampTooOld
	case ts > nowSec+slack:
		return ErrTimestampTooNew
	case d > tolerance:
		return ErrTimestampTooOld
	case d < -tolerance:
		return ErrTimestampTooNew
	}
	want := []byte(sign(key, id, ts, body))
	for sig := range strings.FieldsSeq(sigs) {
		// hmac.Equal takes the same time whatever matches, so a caller
		// cannot learn the signature a byte at a time.
		if b64, ok := strings.CutPrefix(sig, "v1,"); ok && hmac.Equal([]byte(b64), want) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}

// NewMessageID returns a fresh webhook-id, "msg_" and 130 random bits.
// Receivers use the id to drop duplicates, so every request needs a new one.
func NewMessageID() string {
	return "msg_" + rand.Text()
}
