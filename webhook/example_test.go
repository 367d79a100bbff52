package webhook_test

import (
	"context"
	"encoding/json"
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

// A whole upstream: the function answers each batch, and Handler does the
// rest (method, size bound, signature, decoding, the reply).
func ExampleHandler() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"                // in production: os.Getenv("WEBHOOK_SECRET")
	jobs := map[string]string{"job1": "Completed", "job2": "Running"} // your system

	upstream := webhook.Handler(func(ctx context.Context, batch webhook.Batch) ([]webhook.Result, error) {
		var results []webhook.Result
		for _, item := range batch.Items {
			if status := jobs[item.ID]; status == "Completed" {
				data, err := json.Marshal(map[string]string{"status": status})
				if err != nil {
					return nil, err
				}
				results = append(results, webhook.Update(item.ID, data, true))
			}
		}
		return results, nil // items left out stay as they are
	}, webhook.Options{Secrets: []string{secret}})
	// In production: http.ListenAndServe(":9000", upstream), or mount it on a mux.

	srv := httptest.NewServer(upstream)
	defer srv.Close()
	// What autorefresh sends, signed as it signs.
	body := `{"cache":"jobs","items":[{"id":"job1","data":null,"terminal":false,"version":1},` +
		`{"id":"job2","data":null,"terminal":false,"version":1}]}`
	send := func(sig string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhook.HeaderID, "msg_1")
		req.Header.Set(webhook.HeaderTimestamp, fmt.Sprint(time.Now().Unix()))
		req.Header.Set(webhook.HeaderSignature, sig)
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		reply, _ := io.ReadAll(resp.Body)
		fmt.Print(resp.StatusCode, " ", string(reply))
	}
	sig, _ := webhook.Sign(secret, "msg_1", time.Now(), []byte(body))
	send(sig)
	send("v1,bm9wZQ==")
	// Output:
	// 200 {"items":[{"id":"job1","action":"update","data":{"status":"Completed"},"terminal":true}]}
	// 401 {"code":"UNAUTHORIZED","message":"no valid v1 signature"}
}

func ExampleUpdate() {
	for _, r := range []webhook.Result{
		webhook.Update("item1", json.RawMessage(`{"status":"Completed"}`), true),
		webhook.Update("item2", nil, true),                      // ends the item, keeps its data
		webhook.Update("item3", json.RawMessage(`null`), false), // clears its data
	} {
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
	}
	// Output:
	// {"id":"item1","action":"update","data":{"status":"Completed"},"terminal":true}
	// {"id":"item2","action":"update","terminal":true}
	// {"id":"item3","action":"update","data":null,"terminal":false}
}

// An upstream that knows when its items can next change says so with
// nextSyncAfter, and reports an item it cannot look up with Error rather
// than failing the whole batch.
func ExampleReplyHandler() {
	type job struct {
		status string
		eta    time.Duration // until the status can next change
	}
	jobs := map[string]job{"job1": {"Running", 30 * time.Second}, "job2": {"Running", 0}} // your system

	upstream := webhook.ReplyHandler(func(ctx context.Context, batch webhook.Batch) (webhook.Reply, error) {
		// Items without a time of their own come back in 5 minutes.
		reply := webhook.Reply{NextSyncAfter: webhook.Duration(5 * time.Minute)}
		for _, item := range batch.Items {
			j, ok := jobs[item.ID]
			switch {
			case !ok:
				reply.Items = append(reply.Items, webhook.Error(item.ID, "no such job in the scheduler"))
			case j.eta > 0:
				reply.Items = append(reply.Items, webhook.Unchanged(item.ID).WithNextSyncAfter(j.eta))
			}
		}
		return reply, nil
	}, webhook.Options{AllowUnsigned: true}) // a demo: sign in production

	body := `{"cache":"jobs","items":[{"id":"job1","data":null,"terminal":false,"version":4,"attempts":0},` +
		`{"id":"job2","data":null,"terminal":false,"version":2,"attempts":0},` +
		`{"id":"job3","data":null,"terminal":false,"version":1,"attempts":2}]}`
	req := httptest.NewRequest(http.MethodPost, "/sync", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	upstream.ServeHTTP(rec, req)
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// 200 {"items":[{"id":"job1","action":"unchanged","nextSyncAfter":"30s"},{"id":"job3","action":"error","error":"no such job in the scheduler"}],"nextSyncAfter":"5m0s"}
}

func ExampleError() {
	b, _ := json.Marshal(webhook.Error("item1", "job store unreachable"))
	fmt.Println(string(b))
	b, _ = json.Marshal(webhook.Update("item2", json.RawMessage(`{"status":"Started"}`), false).WithNextSyncAfter(90 * time.Second))
	fmt.Println(string(b))
	// Output:
	// {"id":"item1","action":"error","error":"job store unreachable"}
	// {"id":"item2","action":"update","data":{"status":"Started"},"terminal":false,"nextSyncAfter":"1m30s"}
}

func ExampleUnchanged() {
	b, _ := json.Marshal(webhook.Unchanged("item1"))
	fmt.Println(string(b))
	// Output:
	// {"id":"item1","action":"unchanged"}
}

// Validate reports a bad configuration before Handler would panic on it. A
// secret read from an unset environment variable is empty, and refused.
func ExampleOptions_Validate() {
	err := webhook.Options{Secrets: []string{""}}.Validate()
	fmt.Println(errors.Is(err, webhook.ErrInvalidSecret))
	fmt.Println(webhook.Options{}.Validate())
	fmt.Println(webhook.Options{AllowUnsigned: true}.Validate())
	// Output:
	// true
	// webhook: no secret: set Options.Secrets, or AllowUnsigned to accept unsigned requests
	// <nil>
}
