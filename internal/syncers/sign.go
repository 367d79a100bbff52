package syncers

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

// Standard Webhooks v1 header names and the secret prefix.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	secretPrefix    = "whsec_"
)

// SignatureTolerance is how far a request's timestamp may be from the
// receiver's clock before VerifyRequest rejects it, which bounds replays.
const SignatureTolerance = 5 * time.Minute

// ErrBadSignature is returned (possibly wrapped) by Verify and VerifyRequest.
var ErrBadSignature = errors.New("webhook signature verification failed")

// errBadSecret is deliberately vague: the secret itself must never be echoed.
var errBadSecret = errors.New(`webhook secret must be "whsec_" followed by base64`)

// decodeSecret returns the HMAC key of a "whsec_<base64>" secret. Padded and
// unpadded base64 are both accepted because secrets get copied around.
func decodeSecret(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok || enc == "" {
		return nil, errBadSecret
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(enc)
	}
	if err != nil || len(key) == 0 {
		return nil, errBadSecret
	}
	return key, nil
}

// signature computes the v1 signature "v1,<base64 HMAC-SHA256>" of
// "<id>.<timestamp>.<body>".
func signature(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Sign returns the webhook-signature header value for a message, per
// Standard Webhooks v1. ts is in Unix seconds.
func Sign(secret, id string, ts int64, body []byte) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	return signature(key, id, ts, body), nil
}

// Verify checks a webhook-signature header value, which may list several
// space-separated signatures (senders list more than one while rotating
// secrets); one matching "v1" signature is enough. The comparison is
// constant-time. It does not check the timestamp's age; VerifyRequest does.
func Verify(secret, id string, ts int64, body []byte, signatures string) error {
	key, err := decodeSecret(secret)
	if err != nil {
		return err
	}
	want := []byte(signature(key, id, ts, body))
	for _, sig := range strings.Fields(signatures) {
		if strings.HasPrefix(sig, "v1,") && hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return ErrBadSignature
}

// VerifyRequest verifies the Standard Webhooks headers of a received request
// against its body, and rejects timestamps more than SignatureTolerance away
// from now. It is what an upstream written in Go calls first.
func VerifyRequest(secret string, h http.Header, body []byte, now time.Time) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return errors.Join(ErrBadSignature, errors.New("missing webhook-id, webhook-timestamp or webhook-signature header"))
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return errors.Join(ErrBadSignature, errors.New("webhook-timestamp is not a Unix time in seconds"))
	}
	if d := now.Sub(time.Unix(ts, 0)); d > SignatureTolerance || d < -SignatureTolerance {
		return errors.Join(ErrBadSignature, errors.New("webhook-timestamp is too far from the current time"))
	}
	return Verify(secret, id, ts, body, sigs)
}

// newMessageID returns a fresh webhook-id. Receivers use it to drop
// duplicates, so it must be unique per request: 130 random bits.
func newMessageID() string {
	return "msg_" + rand.Text()
}
