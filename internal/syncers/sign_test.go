package syncers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/webhook"
)

// vectorSecret is the secret of the Standard Webhooks specification's test
// vector (tested in package webhook), used here as a valid secret.
const vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestSignedRequestVerifiedIndependently checks the headers the way an
// upstream in another language would: with crypto/hmac directly. The
// signing itself is tested in package webhook.
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
		if ts := got.header.Get(webhook.HeaderTimestamp); ts != strconv.FormatInt(h.clock.Now().Unix(), 10) {
			t.Fatalf("timestamp %s, want the fake clock's %d", ts, h.clock.Now().Unix())
		}
		id := got.header.Get(webhook.HeaderID)
		if !strings.HasPrefix(id, "msg_") || len(id) < 20 || ids[id] {
			t.Fatalf("webhook-id %q is not fresh", id)
		}
		ids[id] = true
		if err := webhook.Verify(vectorSecret, got.header, got.body, h.clock.Now(), 0); err != nil {
			t.Fatalf("webhook.Verify: %v", err)
		}
	}
}
