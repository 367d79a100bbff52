package webhook_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/autorefresh/autorefresh/webhook"
)

func ExampleParseSecret() {
	key, err := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	fmt.Println(len(key), err)

	_, err = webhook.ParseSecret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") // no prefix
	fmt.Println(errors.Is(err, webhook.ErrInvalidSecret))
	// Output:
	// 24 <nil>
	// true
}

// The test vector of the Standard Webhooks specification.
func ExampleSign() {
	sig, err := webhook.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	fmt.Println(sig, err)
	// Output:
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= <nil>
}

// An upstream checks the signature over the raw body before decoding it.
func ExampleVerify() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(secret, r.Header, body, time.Now(), webhook.DefaultTolerance); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent) // decode body and answer here
	})

	// What autorefresh sends.
	body := `{"cache":"jobs","items":[]}`
	sent := time.Now()
	send := func(sig string) {
		r := httptest.NewRequest(http.MethodPost, "/sync", strings.NewReader(body))
		r.Header.Set(webhook.HeaderID, "msg_1")
		r.Header.Set(webhook.HeaderTimestamp, fmt.Sprint(sent.Unix()))
		r.Header.Set(webhook.HeaderSignature, sig)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, r)
		fmt.Println(strings.TrimSpace(fmt.Sprint(rec.Code, " ", rec.Body.String())))
	}
	sig, _ := webhook.Sign(secret, "msg_1", sent, []byte(body))
	send(sig)
	send("v1,bm9wZQ==")
	// Output:
	// 204
	// 401 no valid v1 signature
}

func ExampleNewMessageID() {
	id := webhook.NewMessageID()
	fmt.Println(strings.HasPrefix(id, "msg_"), len(id), id != webhook.NewMessageID())
	// Output:
	// true 30 true
}
