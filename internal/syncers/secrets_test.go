package syncers

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/errs"
)

const (
	apiKey    = "k3y-0123456789abcdef"
	bearer    = "tok-SUPERSECRET-987654"
	authValue = "Bearer " + bearer
)

// secretsIn lists the secret strings found in s.
func secretsIn(s string) []string {
	var found []string
	for _, secret := range []string{vectorSecret, strings.TrimPrefix(vectorSecret, "whsec_"), apiKey, bearer, "qs-secret"} {
		if strings.Contains(s, secret) {
			found = append(found, secret)
		}
	}
	return found
}

// echoing replies with a malformed status line that repeats the API key, so
// the transport's own error would quote it.
func echoing(w http.ResponseWriter, r *http.Request, _ []byte) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %s %s\r\n\r\n", r.Header.Get("X-Api-Key"), r.Header.Get("Authorization"))
	buf.Flush()
}

func TestSecretsNeverLeak(t *testing.T) {
	handlers := map[string]func(http.ResponseWriter, *http.Request, []byte){
		"500": func(w http.ResponseWriter, r *http.Request, _ []byte) {
			http.Error(w, r.Header.Get("Authorization"), 500)
		},
		"bad reply": func(w http.ResponseWriter, r *http.Request, _ []byte) {
			fmt.Fprintf(w, "{%q: 1", r.Header.Get("X-Api-Key"))
		},
		"wrong type": func(w http.ResponseWriter, r *http.Request, _ []byte) {
			fmt.Fprintf(w, `{"items": %q}`, r.Header.Get("X-Api-Key"))
		},
		"echo": echoing,
		"echo query": func(w http.ResponseWriter, r *http.Request, _ []byte) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			fmt.Fprintf(buf, "HTTP/1.1 %s\r\n\r\n", r.URL.Query().Get("token"))
			buf.Flush()
		},
		"timeout": hang,
		"429": func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(429)
		},
		"ok": replyJSON(`{"items":[{"id":"zzz","action":"update"}]}`),
	}
	for name, handler := range handlers {
		t.Run(name, func(t *testing.T) {
			up := newUpstream(t, handler)
			h := newHarness(t, up.URL+"/hook?token=qs-secret", func(o *Options) {
				o.Webhook.Secret = vectorSecret
				o.Webhook.Headers = map[string]string{"Authorization": authValue, "X-Api-Key": apiKey}
				o.Webhook.Timeout = 200 * time.Millisecond
			})
			var texts []string
			for range 2 { // the second call of "429" is throttled
				_, err := h.sync(t, batchOf(rec("a", `{"n":1}`, false, 1)))
				if err != nil {
					t.Logf("error: %v", err)
					texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
				}
			}
			if got := up.last(t).header.Get("X-Api-Key"); got != apiKey {
				t.Fatalf("upstream got key %q", got) // the header was really sent
			}
			for _, e := range h.logs.All() {
				texts = append(texts, e.Message, fmt.Sprint(e.ContextMap()))
			}
			for _, text := range texts {
				if found := secretsIn(text); len(found) > 0 {
					t.Errorf("%v leaked in %q", found, text)
				}
			}
			if name != "ok" && len(h.logs.FilterMessage("webhook sync failed").All()) == 0 {
				t.Error("failure not logged")
			}
		})
	}
}

func TestStringsAreRedacted(t *testing.T) {
	cfg := WebhookConfig{URL: "https://u:pw@example.com/hook?token=qs-secret", Secret: vectorSecret,
		Headers: map[string]string{"Authorization": authValue, "X-Api-Key": apiKey}}
	o := Options{Cache: "jobs", Webhook: cfg}
	for _, s := range []string{
		cfg.String(), fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg),
		fmt.Sprintf("%v", o), fmt.Sprintf("%+v", o), fmt.Sprintf("%v", []WebhookConfig{cfg}),
	} {
		if found := secretsIn(s); len(found) > 0 || strings.Contains(s, ":pw@") {
			t.Errorf("%v leaked in %q", found, s)
		}
		if !strings.Contains(s, "Authorization") || !strings.Contains(s, "example.com/hook") {
			t.Errorf("%q hides too much", s)
		}
	}

	w := newHarness(t, "http://127.0.0.1:1/", func(o *Options) { o.Webhook = cfg; o.Webhook.URL = "http://127.0.0.1:1/" }).w
	for _, s := range []string{w.String(), fmt.Sprint(w), fmt.Sprintf("%#v", w)} {
		if found := secretsIn(s); len(found) > 0 || strings.Contains(s, "127.0.0.1") {
			t.Errorf("webhook printed as %q", s)
		}
	}
}

func TestValidationErrorsHideValues(t *testing.T) {
	cases := []WebhookConfig{
		{URL: "https://example.com/", Secret: "whsec_" + apiKey + "!!"},
		{URL: "https://example.com/", Secret: apiKey},
		{URL: "https://example.com/", Headers: map[string]string{"X-Api-Key": apiKey + "\r\n"}},
		{URL: "https://example.com/", Headers: map[string]string{"Content-Type": apiKey}},
		{URL: "ftp://example.com/?token=qs-secret"},
		{URL: "http://10.0.0.1/?token=qs-secret"},
	}
	for _, c := range cases {
		err := c.Validate(nil)
		if err == nil {
			t.Fatalf("%v accepted", c)
		}
		for _, s := range []string{err.Error(), errs.MessageOf(err)} {
			if found := secretsIn(s); len(found) > 0 {
				t.Errorf("%v leaked in %q", found, s)
			}
		}
	}
}
