package exampleupstream

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names and limits.
const (
	headerID        = "webhook-id"
	headerTimestamp = "webhook-timestamp"
	headerSignature = "webhook-signature"

	secretPrefix = "whsec_"

	// SignatureTolerance is how far a request's timestamp may be from the
	// upstream's clock, either way. Older requests are refused so that a
	// captured request cannot be replayed later; newer ones so that a
	// request signed with a skewed clock is noticed.
	SignatureTolerance = 5 * time.Minute
)

// parseSecret returns the HMAC key of a "whsec_<base64>" secret.
func parseSecret(secret string) ([]byte, error) {
	encoded, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, errors.New(`exampleupstream: secret must start with "whsec_"`)
	}
	// Some generators drop the padding; accept both forms.
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(encoded)
	}
	if err != nil {
		return nil, errors.New("exampleupstream: secret after whsec_ is not base64")
	}
	if len(key) == 0 {
		return nil, errors.New("exampleupstream: secret is empty")
	}
	return key, nil
}

// verify checks the Standard Webhooks v1 signature of a request: the base64
// HMAC-SHA256, keyed with key, of "id.timestamp.body". The signature header
// may list several space-separated "version,signature" pairs (senders list
// more than one while they rotate keys); one matching v1 pair is enough.
func verify(key []byte, h http.Header, body []byte, now time.Time) error {
	id := h.Get(headerID)
	timestamp := h.Get(headerTimestamp)
	signatures := h.Get(headerSignature)
	if id == "" || timestamp == "" || signatures == "" {
		return unauthorized("missing webhook-id, webhook-timestamp or webhook-signature header")
	}

	seconds, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return unauthorized("webhook-timestamp is not a Unix time in seconds")
	}
	sent := time.Unix(seconds, 0)
	if now.Sub(sent) > SignatureTolerance {
		return unauthorized("webhook-timestamp is too old")
	}
	if sent.Sub(now) > SignatureTolerance {
		return unauthorized("webhook-timestamp is in the future")
	}

	want := sign(key, id, timestamp, body)
	for pair := range strings.FieldsSeq(signatures) {
		version, sig, ok := strings.Cut(pair, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		// hmac.Equal takes the same time whatever matches, so a caller
		// cannot learn the signature a byte at a time.
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return unauthorized("no valid v1 signature")
}

// sign returns the raw HMAC-SHA256 of "id.timestamp.body".
func sign(key []byte, id, timestamp string, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}
