package syncers

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/record"
)

// Tracing is what traces the webhook calls. It is one value so that the
// layers between the server and the syncers (registry, replicated,
// backend) pass it on as it is.
type Tracing struct {
	// TracerProvider, if set, gives every Sync of a batch a span (see
	// SpanName); nil traces nothing.
	TracerProvider trace.TracerProvider
	// Propagator, if set, writes the context of the sync span into every
	// call (traceparent and tracestate with the W3C propagator), so that
	// the upstream's trace joins ours. Nil sends no trace headers.
	Propagator propagation.TextMapPropagator
}

// SpanName names the span of one sync batch. It is fixed: the cache name is
// user input and goes in an attribute, so span names stay few.
const SpanName = "webhook sync"

// Attributes of a sync span. The webhook URL is not among them: its query
// may carry a token.
const (
	AttrCache     = attribute.Key("autorefresh.cache")
	AttrBatchSize = attribute.Key("autorefresh.batch.size")
	// AttrOutcome is OutcomeOK or one of the Reasons, as in the metrics.
	AttrOutcome = attribute.Key("autorefresh.sync.outcome")
	// AttrWebhookID is the Standard Webhooks message id of a signed call,
	// which the upstream sees as webhook-id: it joins the span to the
	// upstream's own logs.
	AttrWebhookID = attribute.Key("autorefresh.webhook.id")
	// attrStatus is the OpenTelemetry semantic convention's name.
	attrStatus = attribute.Key("http.response.status_code")
)

// tracedSync runs sync under a span of its own when the Webhook has a
// tracer, and records the batch's outcome on it. Without a tracer it is
// sync itself, so tracing costs nothing when it is off.
func (w *Webhook) tracedSync(ctx context.Context, batch cache.BatchOf[*record.Record]) ([]cache.ItemSyncResponseOf[*record.Record], error) {
	if w.tracer == nil {
		return w.sync(ctx, batch)
	}
	// A client span: the batch is one outgoing call, and the upstream's
	// server span (if it traces) becomes its child through traceparent.
	ctx, span := w.tracer.Start(ctx, SpanName, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(AttrCache.String(w.cache), AttrBatchSize.Int(len(batch))))
	defer span.End()
	out, err := w.sync(ctx, batch)
	outcome := OutcomeOK
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			outcome = e.Reason
		}
		// The error's text is safe to show (see Error): no secret is in it.
		span.SetStatus(codes.Error, err.Error())
	}
	span.SetAttributes(AttrOutcome.String(outcome))
	return out, err
}

// tracerName is the instrumentation scope of the sync spans.
const tracerName = "github.com/autorefresh/autorefresh/internal/syncers"
