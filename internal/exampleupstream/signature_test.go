package exampleupstream_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/autorefresh/autorefresh/internal/exampleupstream"
)

const secret = "whsec_gRAhcgqryWbjCholqSkw506kCMX+9rI1"

var now = time.Date(2025, 6, 1, 12, 0, 30, 0, time.UTC)

func signedUpstream(t *testing.T) *exampleupstream.Upstream {
	t.Helper()
	return mustNew(t, exampleupstream.Options{Secret: secret, Clock: clocktesting.NewFakePassiveClock(now)})
}

// TestSpecExampleSignature checks the upstream against the signature example
// in api/openapi.yaml, computed outside Go.
func TestSpecExampleSignature(t *testing.T) {
	u := mustNew(t, exampleupstream.Options{
		Secret: secret,
		Clock:  clocktesting.NewFakePassiveClock(time.Unix(1748779230, 0)),
	})
	body := `{"cache":"jobs","items":[{"id":"item1","data":{"status":"Not-started"},"terminal":false,"version":1},` +
		`{"id":"item2","data":{"status":"Started"},"terminal":false,"version":2}]}`
	r := newRequest(body)
	r.Header.Set("webhook-id", "msg_2xQ7VfN3kLbT0pR9sWmYc4HdJ1")
	r.Header.Set("webhook-timestamp", "1748779230")
	r.Header.Set("webhook-signature", "v1,2dckXy+/+II5a/wE3fA7NieTWjRq7TfgQ6XAv+YQ/fk=")
	if rec := serve(u, r); rec.Code != http.StatusOK {
		t.Fatalf("status %d, body %s", rec.Code, rec.Body)
	}
}

func TestSignatureAccepted(t *testing.T) {
	u := signedUpstream(t)
	for name, at := range map[string]time.Time{
		"now":              now,
		"4m59s old":        now.Add(-4*time.Minute - 59*time.Second),
		"4m59s in future":  now.Add(4*time.Minute + 59*time.Second),
		"exactly 5m old":   now.Add(-exampleupstream.SignatureTolerance),
		"exactly 5m ahead": now.Add(exampleupstream.SignatureTolerance),
	} {
		body := batchBody(t, "id-"+strings.ReplaceAll(name, " ", "_"))
		r := newRequest(body)
		signRequest(t, r, secret, "msg_1", at, body)
		if rec := serve(u, r); rec.Code != http.StatusOK {
			t.Errorf("%s: status %d, body %s", name, rec.Code, rec.Body)
		}
	}
}

func TestSignatureAmongOthersAccepted(t *testing.T) {
	u := signedUpstream(t)
	body := batchBody(t, "item1")
	r := newRequest(body)
	signRequest(t, r, secret, "msg_1", now, body)
	// A sender rotating keys lists several signatures; one good v1 is enough.
	r.Header.Set("webhook-signature", "v2,abc v1,AAAA "+r.Header.Get("webhook-signature")+" v1,!!!")
	if rec := serve(u, r); rec.Code != http.StatusOK {
		t.Errorf("status %d, body %s", rec.Code, rec.Body)
	}
}

func TestSignatureRejected(t *testing.T) {
	const otherSecret = "whsec_c2Vjb25kLXNlY3JldC1vZi10ZXN0LXNpemU="
	body := batchBody(t, "item1")
	cases := map[string]func(r *http.Request){
		"unsigned": func(r *http.Request) {},
		"wrong key": func(r *http.Request) {
			signRequest(t, r, otherSecret, "msg_1", now, body)
		},
		"body changed after signing": func(r *http.Request) {
			signRequest(t, r, secret, "msg_1", now, batchBody(t, "item2"))
		},
		"id changed after signing": func(r *http.Request) {
			signRequest(t, r, secret, "msg_1", now, body)
			r.Header.Set("webhook-id", "msg_2")
		},
		"timestamp changed after signing": func(r *http.Request) {
			signRequest(t, r, secret, "msg_1", now, body)
			r.Header.Set("webhook-timestamp", "1748779231")
		},
		"too old": func(r *http.Request) {
			signRequest(t, r, secret, "msg_1", now.Add(-exampleupstream.SignatureTolerance-time.Second), body)
		},
		"too far in the future": func(r *http.Request) {
			signRequest(t, r, secret, "msg_1", now.Add(exampleupstream.SignatureTolerance+time.Second), body)
		},
		"timestamp not a number": func(r *http.Request) {
			signRequest(t, r, secret, "msg_1", now, body)
			r.Header.Set("webhook-timestamp", "2025-06-01T12:00:30Z")
		},
		"wrong version": func(r *http.Request) {
			signRequest(t, r, secret, "msg_1", now, body)
			r.Header.Set("webhook-signature", "v2"+strings.TrimPrefix(r.Header.Get("webhook-signature"), "v1"))
		},
		"missing id": func(r *http.Request) {
			signRequest(t, r, secret, "msg_1", now, body)
			r.Header.Del("webhook-id")
		},
	}
	u := signedUpstream(t)
	for name, tamper := range cases {
		r := newRequest(body)
		tamper(r)
		rec := serve(u, r)
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `"UNAUTHORIZED"`) {
			t.Errorf("%s: status %d, body %s; want 401 UNAUTHORIZED", name, rec.Code, rec.Body)
		}
	}
	if got := u.Status("item1"); got != exampleupstream.StatusNotStarted {
		t.Errorf("a rejected call advanced item1 to %q", got)
	}
	if got := u.Calls(); got != 0 {
		t.Errorf("Calls = %d after only rejected calls", got)
	}
}
