package syncers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// exchange POSTs body and returns the reply body of a 2xx answer (nil for
// 204 No Content) and its status. The whole exchange, reading the reply included, runs under
// the webhook's timeout, so a reply that trickles in forever ends as a
// timeout and never holds a sync worker longer than that.
func (w *Webhook) exchange(ctx context.Context, body []byte) ([]byte, int, *Error) {
	rctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := w.newRequest(rctx, body)
	if err != nil {
		// The URL was validated, so this is a bug; the error text would
		// quote the URL and is not kept.
		return nil, 0, &Error{Reason: ReasonInternal, msg: "cannot build the request"}
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, 0, w.transportError(ctx, rctx, err, "request failed")
	}
	defer resp.Body.Close()

	status := resp.StatusCode
	if w.tracer != nil {
		trace.SpanFromContext(ctx).SetAttributes(attrStatus.Int(status))
	}
	switch {
	case status == http.StatusNoContent:
		return nil, status, nil
	case status >= 200 && status <= 299:
		reply, err := w.readReply(ctx, rctx, resp)
		return reply, status, err
	}
	// Read a little of an error body so the connection can be reused, but
	// never keep it: its content is the upstream's, not ours to show.
	io.CopyN(io.Discard, resp.Body, 4<<10)
	// http.StatusText, not resp.Status: the reason phrase is the upstream's.
	e := &Error{Reason: statusReason(status), Status: status,
		msg: strings.TrimSpace(fmt.Sprintf("upstream answered %d %s", status, http.StatusText(status)))}
	if e.Reason == ReasonRedirect {
		e.msg += "; 3xx answers are not followed, register the final URL"
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		now := w.clock.Now()
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
			e.HeldUntil = now.Add(d)
			w.hold.extend(e.HeldUntil)
			e.msg += fmt.Sprintf("; holding back for %s (Retry-After)", d)
		}
	}
	return nil, status, e
}

// statusReason maps a non-2xx status to its failure reason. Every 3xx is a
// redirect: none is followed, and a 304 makes no sense for a POST either.
func statusReason(status int) string {
	switch {
	case status >= 300 && status <= 399:
		return ReasonRedirect
	case status >= 400 && status <= 499:
		return ReasonStatus4xx
	case status >= 500 && status <= 599:
		return ReasonStatus5xx
	default:
		return ReasonBadReply // 1xx leaking through, or a status beyond 5xx
	}
}

// readReply reads a 2xx reply body through a limit. The upstream's
// Content-Length is only used to fail early; the limit reader is what
// actually bounds memory (and also bounds transparently decompressed bodies).
func (w *Webhook) readReply(ctx, rctx context.Context, resp *http.Response) ([]byte, *Error) {
	tooLarge := &Error{Reason: ReasonTooLarge, Status: resp.StatusCode,
		msg: fmt.Sprintf("reply is larger than the limit of %d bytes", w.maxReply)}
	if resp.ContentLength > w.maxReply {
		return nil, tooLarge
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, w.maxReply+1))
	if err != nil {
		e := w.transportError(ctx, rctx, err, "connection broke while reading the reply")
		e.Status = resp.StatusCode
		return nil, e
	}
	if int64(len(b)) > w.maxReply {
		return nil, tooLarge
	}
	return b, nil
}

// transportError classifies an error of the HTTP exchange into a reason
// and a fixed phrase (see phrases.go); the error is kept as the cause.
func (w *Webhook) transportError(ctx, rctx context.Context, err error, what string) *Error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var nerr net.Error
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return &Error{Reason: ReasonCanceled, msg: "sync canceled by the cache", cause: ctx.Err()}
	case rctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &nerr) && nerr.Timeout():
		return &Error{Reason: ReasonTimeout, msg: "no complete reply within " + w.timeout.String(), cause: context.DeadlineExceeded}
	default:
		var op *net.OpError
		var dns *net.DNSError
		if errors.As(err, &dns) || errors.As(err, &op) && op.Op == "dial" {
			what = "cannot connect"
		}
		return &Error{Reason: ReasonConnect, msg: what + ": " + transportPhrase(err), cause: err}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
