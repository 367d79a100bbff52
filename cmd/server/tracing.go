package main

import (
	"context"
	"net/url"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/syncers"
)

// tracing is the server's tracing: with it off, provider and propagator
// are nil and the packages skip every tracing step, which costs less than
// a no-op provider would (otelhttp still computes a span's attributes for
// one).
type tracing struct {
	provider   trace.TracerProvider
	propagator propagation.TextMapPropagator
	sdk        *sdktrace.TracerProvider // nil when off
	stopOnce   sync.Once
}

// startTracing builds the provider that cfg asks for: an OTLP exporter
// behind a batch processor, the spans carrying the service's name and
// version. Neither exporter connects here (the gRPC connection is made
// lazily), so a collector that is down does not stop the server.
func startTracing(ctx context.Context, cfg tracingConfig, build buildInfo, log *zap.Logger) (*tracing, error) {
	if !cfg.enabled {
		return &tracing{}, nil
	}
	exp, err := newExporter(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Not resource.Default(): that one reads OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES from the process, not through getenv.
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithAttributes(
		attribute.String("service.name", cfg.serviceName),
		attribute.String("service.version", build.Version),
		attribute.String("vcs.ref.head.revision", build.Revision),
	))
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res), sdktrace.WithSampler(cfg.sampler))
	endpoint := "?"
	if u, err := url.Parse(cfg.endpointURL); err == nil {
		endpoint = u.Scheme + "://" + u.Host // not the path or headers: they may carry credentials
	}
	log.Info("tracing on: spans are exported over OTLP", zap.String("protocol", cfg.protocol), zap.String("endpoint", endpoint))
	return &tracing{provider: tp, propagator: propagation.TraceContext{}, sdk: tp}, nil
}

// newExporter is the OTLP trace exporter of cfg's protocol, configured
// from cfg alone: options given here win over what the exporter would read
// from the process environment.
func newExporter(ctx context.Context, cfg tracingConfig) (sdktrace.SpanExporter, error) {
	if cfg.protocol == protocolGRPC {
		opts := otlpOptions(cfg, otlptracegrpc.WithEndpointURL, otlptracegrpc.WithHeaders, otlptracegrpc.WithTimeout)
		if cfg.gzip {
			opts = append(opts, otlptracegrpc.WithCompressor("gzip"))
		}
		return otlptracegrpc.New(ctx, opts...)
	}
	opts := otlpOptions(cfg, otlptracehttp.WithEndpointURL, otlptracehttp.WithHeaders, otlptracehttp.WithTimeout)
	compression := otlptracehttp.NoCompression
	if cfg.gzip {
		compression = otlptracehttp.GzipCompression
	}
	return otlptracehttp.New(ctx, append(opts, otlptracehttp.WithCompression(compression))...)
}

// otlpOptions are the options both exporters share, in either one's type.
func otlpOptions[O any](cfg tracingConfig, endpoint func(string) O, headers func(map[string]string) O, timeout func(time.Duration) O) []O {
	opts := []O{endpoint(cfg.endpointURL)}
	if cfg.headers != nil {
		opts = append(opts, headers(cfg.headers))
	}
	if cfg.timeout > 0 {
		opts = append(opts, timeout(cfg.timeout))
	}
	return opts
}

// syncers is the tracing of the webhook calls.
func (t *tracing) syncers() syncers.Tracing {
	return syncers.Tracing{TracerProvider: t.provider, Propagator: t.propagator}
}

// stop exports the spans still buffered and closes the exporter, within
// ctx; only the first call does anything. A collector that cannot be
// reached by then loses those spans, with a warning.
func (t *tracing) stop(ctx context.Context, log *zap.Logger) {
	t.stopOnce.Do(func() {
		if t.sdk == nil {
			return
		}
		if err := t.sdk.Shutdown(ctx); err != nil {
			log.Warn("tracing: spans not exported at shutdown", zap.Error(err))
		}
	})
}
