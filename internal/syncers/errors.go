package syncers

import (
	"fmt"
	"time"
)

// Reasons for a failed Sync. They are metric label values and the cache's
// error reasons, so the set is fixed; do not build reasons from input.
const (
	// ReasonTimeout: no complete reply within the per-cache timeout,
	// including a reply body that trickles in too slowly.
	ReasonTimeout = "timeout"
	// ReasonConnect: the connection could not be made (refused, DNS, TLS,
	// or refused by the egress policy) or broke before the reply was
	// complete.
	ReasonConnect = "connect"
	// ReasonStatus4xx: the upstream answered 4xx (including 429).
	ReasonStatus4xx = "status_4xx"
	// ReasonStatus5xx: the upstream answered 5xx.
	ReasonStatus5xx = "status_5xx"
	// ReasonRedirect: the upstream answered 3xx. Redirects are never
	// followed; the registered URL should be updated instead.
	ReasonRedirect = "redirect"
	// ReasonBadReply: a 2xx reply that is not the documented JSON, or a
	// status outside 2xx-5xx.
	ReasonBadReply = "bad_reply"
	// ReasonTooLarge: the reply is larger than the cache's MaxReplyBytes.
	ReasonTooLarge = "too_large"
	// ReasonThrottled: the upstream asked to be left alone (429 or 503 with
	// Retry-After) and the hold has not passed; no request was sent.
	ReasonThrottled = "throttled"
	// ReasonCanceled: the caller's context was cancelled (the cache is
	// stopping), not a fault of the upstream.
	ReasonCanceled = "canceled"
	// ReasonInternal: the batch could not be encoded, e.g. an item whose
	// data is not valid JSON. A bug, not an upstream problem.
	ReasonInternal = "internal"
)

// Reasons lists every reason Sync can fail with, in a stable order.
var Reasons = []string{
	ReasonTimeout, ReasonConnect, ReasonStatus4xx, ReasonStatus5xx, ReasonRedirect,
	ReasonBadReply, ReasonTooLarge, ReasonThrottled, ReasonCanceled, ReasonInternal,
}

// Error is the error returned by a failed Sync. The whole batch failed: no
// item's data changes, and (but for ReasonThrottled and ReasonCanceled)
// Sync returns with it a response per item that charges it one failed
// attempt, with this error's text as the item's last error.
//
// Its text is built only from fixed phrases, status codes, addresses and
// library error texts with the cache's secret and header values removed, so it
// is safe to store as the cache's last error and to show to users.
type Error struct {
	// Reason is one of the Reason constants.
	Reason string
	// Status is the HTTP status of the reply, or 0 if there was none.
	Status int
	// HeldUntil is, for a throttled call or a reply that started a hold, the
	// time before which no request is sent.
	HeldUntil time.Time

	msg   string
	cause error
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("webhook sync failed (%s): %s", e.Reason, e.msg)
}

// SyncErrorReason implements cache.SyncErrorReasoner.
func (e *Error) SyncErrorReason() string { return e.Reason }

// Unwrap returns the underlying error, so errors.Is(err,
// context.DeadlineExceeded) and errors.Is(err, egress.ErrRefused) work. The
// cause never contains the URL: transport errors are unwrapped from
// *url.Error before they are kept.
func (e *Error) Unwrap() error { return e.cause }
