package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/webhook"
)

// The test vector of the Standard Webhooks specification.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var vectorTime = time.Unix(vectorTS, 0)

func header(id, ts, sig string) http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderID, id)
	h.Set(webhook.HeaderTimestamp, ts)
	h.Set(webhook.HeaderSignature, sig)
	return h
}

func vectorHeader(sig string) http.Header {
	return header(vectorID, strconv.Itoa(vectorTS), sig)
}

func TestStandardWebhooksVector(t *testing.T) {
	sig, err := webhook.Sign(vectorSecret, vectorID, vectorTime, []byte(vectorBody))
	if err != nil || sig != vectorSig {
		t.Fatalf("Sign = %q, %v; want %q", sig, err, vectorSig)
	}
	// Sub-second parts of the time are not signed.
	if sig2, _ := webhook.Sign(vectorSecret, vectorID, vectorTime.Add(999*time.Millisecond), []byte(vectorBody)); sig2 != vectorSig {
		t.Fatalf("Sign with milliseconds = %q", sig2)
	}
	if err := webhook.Verify(vectorSecret, vectorHeader(vectorSig), []byte(vectorBody), vectorTime, 0); err != nil {
		t.Fatal(err)
	}
	// Several signatures (secret rotation): one match is enough, others of
	// any version or shape are skipped.
	for _, sigs := range []string{
		"v1,bm9wZQ== v2,x " + vectorSig,
		"v2,abc v1,AAAA " + vectorSig + " v1,!!!",
		"  " + vectorSig + "  ",
	} {
		if err := webhook.Verify(vectorSecret, vectorHeader(sigs), []byte(vectorBody), vectorTime, 0); err != nil {
			t.Errorf("%q: %v", sigs, err)
		}
	}
	for name, tc := range map[string]struct {
		h    http.Header
		body string
	}{
		"body":       {vectorHeader(vectorSig), vectorBody + " "},
		"id":         {header(vectorID+"x", strconv.Itoa(vectorTS), vectorSig), vectorBody},
		"timestamp":  {header(vectorID, strconv.Itoa(vectorTS+1), vectorSig), vectorBody},
		"no v1":      {vectorHeader(strings.TrimPrefix(vectorSig, "v1,")), vectorBody},
		"v2":         {vectorHeader("v2," + strings.TrimPrefix(vectorSig, "v1,")), vectorBody},
		"truncated":  {vectorHeader(vectorSig[:len(vectorSig)-1]), vectorBody},
		"other key":  {vectorHeader("v1,2dckXy+/+II5a/wE3fA7NieTWjRq7TfgQ6XAv+YQ/fk="), vectorBody},
		"whole list": {vectorHeader("v1,AAAA,v1," + vectorSig), vectorBody},
	} {
		err := webhook.Verify(vectorSecret, tc.h, []byte(tc.body), vectorTime, 0)
		if !errors.Is(err, webhook.ErrNoMatchingSignature) || !errors.Is(err, webhook.ErrVerification) {
			t.Errorf("tampered %s: %v", name, err)
		}
	}
}

// TestOpenAPIExampleSignature is the signature example in api/openapi.yaml,
// computed outside Go.
func TestOpenAPIExampleSignature(t *testing.T) {
	const (
		secret = "whsec_gRAhcgqryWbjCholqSkw506kCMX+9rI1"
		id     = "msg_2xQ7VfN3kLbT0pR9sWmYc4HdJ1"
		ts     = 1748779230
		body   = `{"cache":"jobs","items":[{"id":"item1","data":{"status":"Not-started"},"terminal":false,"version":1},` +
			`{"id":"item2","data":{"status":"Started"},"terminal":false,"version":2}]}`
		sig = "v1,2dckXy+/+II5a/wE3fA7NieTWjRq7TfgQ6XAv+YQ/fk="
	)
	if got, err := webhook.Sign(secret, id, time.Unix(ts, 0), []byte(body)); err != nil || got != sig {
		t.Fatalf("Sign = %q, %v; want %q", got, err, sig)
	}
	if err := webhook.Verify(secret, header(id, strconv.Itoa(ts), sig), []byte(body), time.Unix(ts, 0), 0); err != nil {
		t.Fatal(err)
	}
}

// TestSignMatchesIndependentHMAC checks Sign the way an upstream in another
// language would: with crypto/hmac directly, over the header texts.
func TestSignMatchesIndependentHMAC(t *testing.T) {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(vectorSecret, webhook.SecretPrefix))
	for _, body := range []string{"", "x", `{"cache":"jobs","items":[]}`, "a.b.c\n\x00\xff"} {
		id := webhook.NewMessageID()
		ts := time.Unix(1748779230, 0)
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "." + body))
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if got, err := webhook.Sign(vectorSecret, id, ts, []byte(body)); err != nil || got != want {
			t.Errorf("body %q: Sign = %q, %v; want %q", body, got, err, want)
		}
	}
}

func TestVerifyTimestampAndHeaders(t *testing.T) {
	body := []byte(vectorBody)
	good := vectorHeader(vectorSig)
	const tol = webhook.DefaultTolerance
	for name, at := range map[string]time.Time{
		"now":              vectorTime,
		"exactly tol old":  vectorTime.Add(tol),
		"exactly tol new":  vectorTime.Add(-tol),
		"4m59s old":        vectorTime.Add(tol - time.Second),
		"sub-second early": vectorTime.Add(-500 * time.Millisecond),
	} {
		if err := webhook.Verify(vectorSecret, good, body, at, tol); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A custom tolerance is honoured; zero or less means the default.
	if err := webhook.Verify(vectorSecret, good, body, vectorTime.Add(time.Hour), 2*time.Hour); err != nil {
		t.Errorf("2h tolerance: %v", err)
	}
	for _, tolerance := range []time.Duration{0, -time.Second} {
		if err := webhook.Verify(vectorSecret, good, body, vectorTime.Add(tol+time.Second), tolerance); !errors.Is(err, webhook.ErrTimestampTooOld) {
			t.Errorf("tolerance %v: %v", tolerance, err)
		}
	}
	for name, tc := range map[string]struct {
		h    http.Header
		now  time.Time
		want error
	}{
		"too old":           {good, vectorTime.Add(tol + time.Second), webhook.ErrTimestampTooOld},
		"from the future":   {good, vectorTime.Add(-tol - time.Second), webhook.ErrTimestampTooNew},
		"far future":        {header(vectorID, "9223372036854775807", vectorSig), vectorTime, webhook.ErrTimestampTooNew},
		"far past":          {header(vectorID, "-9223372036854775808", vectorSig), vectorTime, webhook.ErrTimestampTooOld},
		"no headers":        {http.Header{}, vectorTime, webhook.ErrMissingHeader},
		"no id":             {header("", strconv.Itoa(vectorTS), vectorSig), vectorTime, webhook.ErrMissingHeader},
		"no timestamp":      {header(vectorID, "", vectorSig), vectorTime, webhook.ErrMissingHeader},
		"no signature":      {header(vectorID, strconv.Itoa(vectorTS), ""), vectorTime, webhook.ErrMissingHeader},
		"timestamp as date": {header(vectorID, "2021-02-25T15:02:10Z", vectorSig), vectorTime, webhook.ErrInvalidTimestamp},
		"timestamp float":   {header(vectorID, strconv.Itoa(vectorTS)+".0", vectorSig), vectorTime, webhook.ErrInvalidTimestamp},
		"wrong signature":   {header(vectorID, strconv.Itoa(vectorTS), "v1,AAAA"), vectorTime, webhook.ErrNoMatchingSignature},
	} {
		err := webhook.Verify(vectorSecret, tc.h, body, tc.now, tol)
		if !errors.Is(err, tc.want) || !errors.Is(err, webhook.ErrVerification) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestBadSecretsAreNotEchoed(t *testing.T) {
	for _, s := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not*base64*SECRETVALUE", "whsec_not base64!", "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} {
		_, perr := webhook.ParseSecret(s)
		_, serr := webhook.Sign(s, "id", vectorTime, nil)
		verr := webhook.Verify(s, vectorHeader(vectorSig), []byte(vectorBody), vectorTime, 0)
		for _, err := range []error{perr, serr, verr} {
			if !errors.Is(err, webhook.ErrInvalidSecret) || errors.Is(err, webhook.ErrVerification) {
				t.Errorf("secret %q: %v", s, err)
				continue
			}
			if strings.Contains(err.Error(), "MfKQ9r8G") || strings.Contains(err.Error(), "SECRETVALUE") {
				t.Errorf("error %q repeats the secret", err)
			}
		}
	}
}

func TestSecretPaddingIsOptional(t *testing.T) {
	padded := webhook.SecretPrefix + base64.StdEncoding.EncodeToString([]byte("twenty-five bytes of key!"))
	if !strings.HasSuffix(padded, "=") {
		t.Fatal("test secret needs padding")
	}
	a, err1 := webhook.Sign(padded, "id", vectorTime, []byte("x"))
	b, err2 := webhook.Sign(strings.TrimRight(padded, "="), "id", vectorTime, []byte("x"))
	if err1 != nil || err2 != nil || a != b {
		t.Fatalf("padded %q %v, unpadded %q %v", a, err1, b, err2)
	}
	key, err := webhook.ParseSecret(strings.TrimRight(padded, "="))
	if err != nil || string(key) != "twenty-five bytes of key!" {
		t.Fatalf("ParseSecret = %q, %v", key, err)
	}
}

func TestMessageIDsAreFresh(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := webhook.NewMessageID()
		if !strings.HasPrefix(id, "msg_") || len(id) < 20 || seen[id] {
			t.Fatalf("webhook-id %q is not fresh", id)
		}
		seen[id] = true
	}
}
