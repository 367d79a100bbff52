package syncers

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
)

const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// TestStandardWebhooksVector is the test vector of the Standard Webhooks
// specification.
func TestStandardWebhooksVector(t *testing.T) {
	sig, err := Sign(vectorSecret, vectorID, vectorTS, []byte(vectorBody))
	if err != nil || sig != vectorSig {
		t.Fatalf("Sign = %q, %v; want %q", sig, err, vectorSig)
	}
	if err := Verify(vectorSecret, vectorID, vectorTS, []byte(vectorBody), vectorSig); err != nil {
		t.Fatal(err)
	}
	// Several signatures (secret rotation): one match is enough.
	if err := Verify(vectorSecret, vectorID, vectorTS, []byte(vectorBody), "v1,bm9wZQ== v2,x "+vectorSig); err != nil {
		t.Fatal(err)
	}
	for name, tamper := range map[string]func() error{
		"body":      func() error { return Verify(vectorSecret, vectorID, vectorTS, []byte(vectorBody+" "), vectorSig) },
		"id":        func() error { return Verify(vectorSecret, vectorID+"x", vectorTS, []byte(vectorBody), vectorSig) },
		"timestamp": func() error { return Verify(vectorSecret, vectorID, vectorTS+1, []byte(vectorBody), vectorSig) },
		"no v1": func() error {
			return Verify(vectorSecret, vectorID, vectorTS, []byte(vectorBody), strings.TrimPrefix(vectorSig, "v1,"))
		},
		"empty": func() error { return Verify(vectorSecret, vectorID, vectorTS, []byte(vectorBody), "") },
	} {
		if err := tamper(); !errors.Is(err, ErrBadSignature) {
			t.Errorf("tampered %s: %v", name, err)
		}
	}
}

func TestBadSecretsAreNotEchoed(t *testing.T) {
	for _, s := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not*base64*SECRETVALUE"} {
		_, err := Sign(s, "id", 1, nil)
		if err == nil {
			t.Errorf("Sign accepted secret %q", s)
			continue
		}
		if strings.Contains(err.Error(), "MfKQ9r8G") || strings.Contains(err.Error(), "SECRETVALUE") {
			t.Errorf("error %q repeats the secret", err)
		}
	}
}

func TestSecretPaddingIsOptional(t *testing.T) {
	padded := "whsec_" + base64.StdEncoding.EncodeToString([]byte("twenty-five bytes of key!"))
	if !strings.HasSuffix(padded, "=") {
		t.Fatal("test secret needs padding")
	}
	a, err1 := Sign(padded, "id", 1, []byte("x"))
	b, err2 := Sign(strings.TrimRight(padded, "="), "id", 1, []byte("x"))
	if err1 != nil || err2 != nil || a != b {
		t.Fatalf("padded %q %v, unpadded %q %v", a, err1, b, err2)
	}
}

// TestSignedRequestVerifiedIndependently checks the headers the way an
// upstream in another language would: with crypto/hmac directly.
func TestSignedRequestVerifiedIndependently(t *testing.T) {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(vectorSecret, "whsec_"))
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + ts + "."))
		mac.Write(body)
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(r.Header.Get("webhook-signature")), []byte(want)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	h := newHarness(t, up.URL, func(o *Options) { o.Webhook.Secret = vectorSecret })
	ids := map[string]bool{}
	for i := range 3 {
		h.clock.Step(time.Second)
		if _, err := h.sync(t, batchOf(rec("a", `{"n":1}`, false, int64(i+1)))); err != nil {
			t.Fatalf("upstream rejected the signature: %v", err)
		}
		got := up.last(t)
		if ts := got.header.Get(HeaderTimestamp); ts != strconv.FormatInt(h.clock.Now().Unix(), 10) {
			t.Fatalf("timestamp %s, want the fake clock's %d", ts, h.clock.Now().Unix())
		}
		id := got.header.Get(HeaderID)
		if !strings.HasPrefix(id, "msg_") || len(id) < 20 || ids[id] {
			t.Fatalf("webhook-id %q is not fresh", id)
		}
		ids[id] = true
		if err := VerifyRequest(vectorSecret, got.header, got.body, h.clock.Now()); err != nil {
			t.Fatalf("VerifyRequest: %v", err)
		}
	}
}

func TestVerifyRequest(t *testing.T) {
	now := time.Unix(vectorTS, 0)
	hdr := func(id, ts, sig string) http.Header {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		return h
	}
	body := []byte(vectorBody)
	good := hdr(vectorID, strconv.Itoa(vectorTS), vectorSig)
	if err := VerifyRequest(vectorSecret, good, body, now.Add(SignatureTolerance)); err != nil {
		t.Fatal(err)
	}
	bad := map[string]struct {
		h   http.Header
		now time.Time
	}{
		"too old":     {good, now.Add(SignatureTolerance + time.Second)},
		"from future": {good, now.Add(-SignatureTolerance - time.Second)},
		"no id":       {hdr("", strconv.Itoa(vectorTS), vectorSig), now},
		"bad ts":      {hdr(vectorID, "yesterday", vectorSig), now},
		"no sig":      {hdr(vectorID, strconv.Itoa(vectorTS), ""), now},
		"wrong sig":   {hdr(vectorID, strconv.Itoa(vectorTS), "v1,AAAA"), now},
	}
	for name, tc := range bad {
		if err := VerifyRequest(vectorSecret, tc.h, body, tc.now); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
