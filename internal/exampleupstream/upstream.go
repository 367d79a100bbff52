// Package exampleupstream is a webhook upstream for autorefresh that plays the
// external service of the AutoRefresh library's documented example: every
// item id it is asked about moves from Not-started to Started on the first
// call and to Completed (terminal) on the next one.
//
// It exists so that the service can be tried and tested end to end without a
// real upstream; it speaks the webhook wire protocol of api/openapi.yaml (the
// itemSync callback), including the optional Standard Webhooks signatures.
package exampleupstream

import (
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/autorefresh/autorefresh/webhook"
)

// DefaultMaxIDs is how many ids an Upstream remembers when Options.MaxIDs is
// zero.
const DefaultMaxIDs = 100_000

// Options configures an Upstream. The zero value is a working, unsigned
// upstream.
type Options struct {
	// Secret, when set, is the Standard Webhooks signing secret ("whsec_"
	// followed by the base64 of the key) that every request must be signed
	// with. Empty means requests are not checked.
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
}

// Upstream is the example webhook upstream. It is an http.Handler for the
// webhook URL and is safe for concurrent use.
type Upstream struct {
	secret string // empty when requests are not signed
	clock  clock.PassiveClock
	log    *zap.Logger
	states *statusTable
	calls  atomic.Int64
}

// New returns an Upstream configured by opts. It fails when the secret is
// malformed or MaxIDs is negative.
func New(opts Options) (*Upstream, error) {
	u := &Upstream{clock: opts.Clock, log: opts.Logger}
	if opts.Secret != "" {
		if _, err := webhook.ParseSecret(opts.Secret); err != nil {
			return nil, fmt.Errorf("exampleupstream: %w", err)
		}
		u.secret = opts.Secret
	}
	if u.clock == nil {
		u.clock = clock.RealClock{}
	}
	if u.log == nil {
		u.log = zap.NewNop()
	}
	switch {
	case opts.MaxIDs < 0:
		return nil, errors.New("exampleupstream: MaxIDs must not be negative")
	case opts.MaxIDs == 0:
		u.states = newStatusTable(DefaultMaxIDs)
	default:
		u.states = newStatusTable(opts.MaxIDs)
	}
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

// ServeHTTP answers one webhook call: it checks the request, advances every
// item of the batch one step, and replies with the items whose status changed
// (204 when none did).
func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	batch, err := u.readBatch(w, r)
	if err != nil {
		u.log.Info("rejected webhook call",
			zap.String("remote", r.RemoteAddr), zap.Error(err))
		writeError(w, err)
		return
	}

	results := u.advance(batch)
	u.calls.Add(1)
	u.log.Info("answered webhook call",
		zap.String("cache", batch.Cache),
		zap.Int("items", len(batch.Items)),
		zap.Int("updated", len(results)))

	if len(results) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, syncResponse{Items: results})
}

// advance moves every item of the batch one step and returns the updates.
func (u *Upstream) advance(batch *syncRequest) []syncResult {
	var results []syncResult
	for _, item := range batch.Items {
		status, changed := u.states.advance(item.ID)
		if !changed {
			continue
		}
		results = append(results, syncResult{
			ID:       item.ID,
			Action:   actionUpdate,
			Data:     itemData{Status: status},
			Terminal: status == StatusCompleted,
		})
	}
	return results
}
