package exampleupstream_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/exampleupstream"
)

// reply is the upstream's answer as a test sees it.
type reply struct {
	Items []struct {
		ID     string `json:"id"`
		Action string `json:"action"`
		Data   struct {
			Status string `json:"status"`
		} `json:"data"`
		Terminal bool `json:"terminal"`
	} `json:"items"`
}

// batchBody builds a request body naming ids, shaped as autorefresh sends it.
func batchBody(t *testing.T, ids ...string) string {
	t.Helper()
	items := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		items = append(items, map[string]any{
			"id": id, "data": map[string]string{"status": "Not-started"}, "terminal": false, "version": 1,
		})
	}
	b, err := json.Marshal(map[string]any{"cache": "jobs", "items": items})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/sync", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// signRequest adds Standard Webhooks headers to r, computed here rather than
// with the package's code so that the two are checked against each other.
func signRequest(t *testing.T, r *http.Request, secret, id string, at time.Time, body string) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + body))
	r.Header.Set("webhook-id", id)
	r.Header.Set("webhook-timestamp", ts)
	r.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
}

func serve(u *exampleupstream.Upstream, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	u.ServeHTTP(rec, r)
	return rec
}

func decodeReply(t *testing.T, rec *httptest.ResponseRecorder) reply {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	var rep reply
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		t.Fatalf("reply %q: %v", rec.Body, err)
	}
	return rep
}

func mustNew(t *testing.T, opts exampleupstream.Options) *exampleupstream.Upstream {
	t.Helper()
	u, err := exampleupstream.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return u
}
