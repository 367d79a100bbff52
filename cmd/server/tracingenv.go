package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The OTLP protocols the server can export traces with.
const (
	protocolHTTP = "http/protobuf"
	protocolGRPC = "grpc"
)

// tracingConfig is what the standard OTEL_* variables ask of tracing. It is
// read through run's getenv, not by the SDK from the process, so tests
// drive it and a variable the server does not read cannot switch tracing
// on behind its back.
type tracingConfig struct {
	// enabled is false unless an OTLP exporter is asked for; the rest is
	// then unused.
	enabled  bool
	protocol string // protocolHTTP or protocolGRPC
	// endpointURL is where spans go: for http/protobuf the full URL of the
	// traces path, for grpc the collector's address as a URL (its scheme
	// says whether TLS is used, its path is ignored).
	endpointURL string
	headers     map[string]string
	timeout     time.Duration // 0: the exporter's default (10s)
	gzip        bool
	sampler     sdktrace.Sampler
	serviceName string
}

// parseTracingEnv reads the OpenTelemetry SDK's environment variables that
// decide whether and where spans are exported. Tracing is on when
// OTEL_TRACES_EXPORTER is otlp, or is unset while an OTLP endpoint is set;
// OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turns it off. A value
// the server cannot honour (another exporter, http/json, a bad URL or
// sampler) is an error, so that a mistake shows at start instead of as
// missing traces.
func parseTracingEnv(getenv func(string) string) (tracingConfig, error) {
	env := func(key string) string { return strings.TrimSpace(getenv(key)) }
	// A signal's own variable wins over the general one, as the spec says.
	traces := func(key string) (string, string) {
		if v := env("OTEL_EXPORTER_OTLP_TRACES_" + key); v != "" {
			return v, "OTEL_EXPORTER_OTLP_TRACES_" + key
		}
		return env("OTEL_EXPORTER_OTLP_" + key), "OTEL_EXPORTER_OTLP_" + key
	}
	var c tracingConfig
	if strings.EqualFold(env("OTEL_SDK_DISABLED"), "true") {
		return c, nil
	}
	signalEndpoint, general := env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), env("OTEL_EXPORTER_OTLP_ENDPOINT")
	switch exporter := env("OTEL_TRACES_EXPORTER"); exporter {
	case "none":
		return c, nil
	case "otlp":
	case "":
		if signalEndpoint == "" && general == "" {
			return c, nil
		}
	default:
		return c, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: the server exports traces with otlp only (or none)", exporter)
	}
	c.enabled = true

	protocol, key := traces("PROTOCOL")
	switch protocol {
	case "", protocolHTTP:
		c.protocol = protocolHTTP
	case protocolGRPC:
		c.protocol = protocolGRPC
	default:
		return c, fmt.Errorf("%s=%q: the server exports with %s or %s", key, protocol, protocolHTTP, protocolGRPC)
	}

	var err error
	if c.endpointURL, err = endpointURL(c.protocol, signalEndpoint, general); err != nil {
		return c, err
	}
	headers, key := traces("HEADERS")
	if c.headers, err = parseHeaders(headers); err != nil {
		return c, fmt.Errorf("%s: %w", key, err)
	}
	if timeout, key := traces("TIMEOUT"); timeout != "" {
		ms, err := strconv.ParseUint(timeout, 10, 32)
		if err != nil {
			return c, fmt.Errorf("%s=%q: not a number of milliseconds", key, timeout)
		}
		c.timeout = time.Duration(ms) * time.Millisecond
	}
	switch compression, key := traces("COMPRESSION"); compression {
	case "", "none":
	case "gzip":
		c.gzip = true
	default:
		return c, fmt.Errorf("%s=%q: gzip or none", key, compression)
	}
	if c.sampler, err = parseSampler(env("OTEL_TRACES_SAMPLER"), env("OTEL_TRACES_SAMPLER_ARG")); err != nil {
		return c, err
	}
	c.serviceName = env("OTEL_SERVICE_NAME")
	if c.serviceName == "" {
		c.serviceName = "autorefresh"
	}
	return c, nil
}

// endpointURL is the exporter's target. The traces endpoint is used as
// given; the general one is a base, to which http/protobuf appends
// /v1/traces. Neither set: the spec's default, the local collector.
func endpointURL(protocol, signal, general string) (string, error) {
	key, v := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", signal
	if v == "" {
		key, v = "OTEL_EXPORTER_OTLP_ENDPOINT", general
	}
	if v == "" {
		if protocol == protocolGRPC {
			return "http://localhost:4317", nil
		}
		return "http://localhost:4318/v1/traces", nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s=%q: not an http:// or https:// URL", key, v)
	}
	if key == "OTEL_EXPORTER_OTLP_ENDPOINT" && protocol == protocolHTTP {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	return u.String(), nil
}

// parseHeaders reads the spec's "key1=value1,key2=value2" list, values
// percent-encoded. The error names the entry's position only: header
// values are often credentials.
func parseHeaders(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string]string{}
	for i, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		value, err := url.PathUnescape(strings.TrimSpace(v))
		if !ok || k == "" || err != nil {
			return nil, fmt.Errorf("entry %d is not key=percent-encoded-value", i+1)
		}
		out[k] = value
	}
	return out, nil
}

// parseSampler is OTEL_TRACES_SAMPLER with its argument; the spec's
// default is parentbased_always_on.
func parseSampler(name, arg string) (sdktrace.Sampler, error) {
	ratio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return 0, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: a ratio from 0 to 1", arg)
		}
		return r, nil
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio", "parentbased_traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		if name == "traceidratio" {
			return sdktrace.TraceIDRatioBased(r), nil
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER=%q: one of always_on, always_off, traceidratio and their parentbased_ forms", name)
}
