// Package exampleupstream is a webhook upstream for autorefresh that plays the
// external service of the AutoRefresh library's documented example: every
// item id it is asked about moves from Not-started to Started on the first
// call and to Completed (terminal) on the next one.
//
// It exists so that the service can be tried and tested end to end without a
// real upstream; it speaks the webhook wire protocol of api/openapi.yaml (the
// itemSync callback), including the optional Standard Webhooks signatures,
// through webhook.Handler as any Go upstream can.
package exampleupstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/autorefresh/autorefresh/webhook"
)

// DefaultMaxIDs is how many ids an Upstream remembers when Options.MaxIDs is
// zero.
const DefaultMaxIDs = 100_000

// SignatureTolerance is how far a request's timestamp may be from the
// upstream's clock, either way (see webhook.Verify).
const SignatureTolerance = webhook.DefaultTolerance

// MaxBodyBytes is the largest request body the upstream reads: the example's
// items carry a few bytes each, so it keeps a smaller bound than
// webhook.DefaultMaxBodyBytes, the reply limit autorefresh applies by
// default.
const MaxBodyBytes = 4 << 20

// Options configures an Upstream. The zero value is a working, unsigned
// upstream.
type Options struct {
	// Secret, when set, is the Standard Webhooks signing secret ("whsec_"
	// followed by the base64 of the key) that every request must be signed
	// with. Empty means requests are not checked: this is a demo, run on
	// loopback or a private network.
	Secret string
	// Clock is the time that signature timestamps are checked against.
	// Nil means the real clock; tests inject a fake one.
	Clock clock.PassiveClock
	// MaxIDs bounds the memory used for item statuses: past it, the id seen
	// first is forgotten (and starts again from Not-started if it comes back).
	// Zero means DefaultMaxIDs.
	MaxIDs int
	// Logger receives a line per answered batch and per rejected request.
	// Nil means no logging.
	Logger *zap.Logger
	// NextSyncAfter, when above zero, is sent as every reply's top-level
	// nextSyncAfter, showing an upstream that paces its items (autorefresh
	// clamps it to [resyncPeriod/10, 100 × resyncPeriod]). Zero sends none,
	// and a batch with no changes is answered 204, as the example always
	// did.
	NextSyncAfter time.Duration
	// ErrorPrefix, when set, makes the upstream answer every item whose id
	// starts with it with an item error (action "error") instead of moving
	// it on, showing an item the upstream cannot look up: autorefresh backs
	// it off and gives it up (state "failed") after the cache's
	// retry.maxAttempts, while the rest of the batch goes on. Empty answers
	// every item as the example always did.
	ErrorPrefix string
}

// Upstream is the example webhook upstream. It is an http.Handler for the
// webhook URL and is safe for concurrent use.
type Upstream struct {
	handler     http.Handler // webhook.ReplyHandler around sync
	log         *zap.Logger
	states      *statusTable
	calls       atomic.Int64
	next        webhook.Duration
	errorPrefix string
}

// New returns an Upstream configured by opts. It fails when the secret is
// malformed or MaxIDs is negative.
func New(opts Options) (*Upstream, error) {
	if opts.NextSyncAfter < 0 {
		return nil, errors.New("exampleupstream: NextSyncAfter must not be negative")
	}
	u := &Upstream{log: opts.Logger, next: webhook.Duration(opts.NextSyncAfter), errorPrefix: opts.ErrorPrefix}
	if u.log == nil {
		u.log = zap.NewNop()
	}
	now := clock.PassiveClock(clock.RealClock{})
	if opts.Clock != nil {
		now = opts.Clock
	}
	wopts := webhook.Options{
		AllowUnsigned: opts.Secret == "",
		Tolerance:     SignatureTolerance,
		MaxBodyBytes:  MaxBodyBytes,
		Now:           now.Now,
		OnError: func(r *http.Request, _ int, err error) {
			u.log.Info("rejected webhook call", zap.String("remote", r.RemoteAddr), zap.Error(err))
		},
	}
	if opts.Secret != "" {
		wopts.Secrets = []string{opts.Secret}
	}
	if err := wopts.Validate(); err != nil {
		return nil, fmt.Errorf("exampleupstream: %w", err)
	}
	switch {
	case opts.MaxIDs < 0:
		return nil, errors.New("exampleupstream: MaxIDs must not be negative")
	case opts.MaxIDs == 0:
		u.states = newStatusTable(DefaultMaxIDs)
	default:
		u.states = newStatusTable(opts.MaxIDs)
	}
	u.handler = webhook.ReplyHandler(u.sync, wopts)
	return u, nil
}

// Status returns the status the upstream holds for id: StatusNotStarted for
// an id it has never seen (or has forgotten), then StatusStarted, then
// StatusCompleted.
func (u *Upstream) Status(id string) string {
	return u.states.get(id)
}

// Calls returns how many batches the upstream has answered with 200 or 204.
// Rejected requests are not counted.
func (u *Upstream) Calls() int64 {
	return u.calls.Load()
}

// ServeHTTP answers one webhook call: webhook.Handler checks and decodes the
// request, and sync answers it.
func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.handler.ServeHTTP(w, r)
}

// itemData is the data the upstream gives an item: its status.
type itemData struct {
	Status string `json:"status"`
}

// ErrorMessage is the item error the upstream answers for an id that starts
// with Options.ErrorPrefix.
const ErrorMessage = "the example upstream has no job with this id (its id starts with the configured error prefix)"

// sync moves every item of the batch one step and returns the items whose
// status changed (none, and so a 204, once all are Completed), an item
// error for each id with the ErrorPrefix, and the configured NextSyncAfter.
func (u *Upstream) sync(_ context.Context, batch webhook.Batch) (webhook.Reply, error) {
	reply := webhook.Reply{NextSyncAfter: u.next}
	updated, failed := 0, 0
	for _, item := range batch.Items {
		if u.errorPrefix != "" && strings.HasPrefix(item.ID, u.errorPrefix) {
			reply.Items = append(reply.Items, webhook.Error(item.ID, ErrorMessage))
			failed++
			continue
		}
		status, changed := u.states.advance(item.ID)
		if !changed {
			continue
		}
		data, err := json.Marshal(itemData{Status: status})
		if err != nil {
			return webhook.Reply{}, err // a struct of one string always encodes
		}
		reply.Items = append(reply.Items, webhook.Update(item.ID, data, status == StatusCompleted))
		updated++
	}
	u.calls.Add(1)
	u.log.Info("answered webhook call",
		zap.String("cache", batch.Cache),
		zap.Int("items", len(batch.Items)),
		zap.Int("updated", updated),
		zap.Int("errors", failed))
	return reply, nil
}
