package main

import (
	"strings"
	"testing"
	"time"
)

// envOf is a getenv over a fixed map.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseTracingEnv(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		enabled  bool
		protocol string
		endpoint string
	}{
		{name: "nothing set: off", env: nil},
		{name: "exporter none", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}},
		{name: "sdk disabled wins", env: map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}},
		{name: "sdk disabled false", env: map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"},
			enabled: true, protocol: protocolHTTP, endpoint: "http://localhost:4318/v1/traces"},
		{name: "otlp alone: local collector", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"},
			enabled: true, protocol: protocolHTTP, endpoint: "http://localhost:4318/v1/traces"},
		{name: "otlp grpc alone", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			enabled: true, protocol: protocolGRPC, endpoint: "http://localhost:4317"},
		{name: "general endpoint is a base", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c.example:4318/otlp/"},
			enabled: true, protocol: protocolHTTP, endpoint: "https://c.example:4318/otlp/v1/traces"},
		{name: "traces endpoint as given, and wins", env: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:9000/custom"},
			enabled: true, protocol: protocolHTTP, endpoint: "http://b:9000/custom"},
		{name: "grpc endpoint gets no path", env: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			enabled: true, protocol: protocolGRPC, endpoint: "http://c:4317"},
		{name: "traces protocol wins", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
			"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"},
			enabled: true, protocol: protocolGRPC, endpoint: "http://c:4317"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseTracingEnv(envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.enabled != tc.enabled || c.protocol != tc.protocol || c.endpointURL != tc.endpoint {
				t.Fatalf("got enabled=%v protocol=%q endpoint=%q, want %v %q %q", c.enabled, c.protocol, c.endpointURL, tc.enabled, tc.protocol, tc.endpoint)
			}
			if c.enabled && (c.sampler == nil || c.serviceName != "autorefresh") {
				t.Fatalf("sampler %v, service %q", c.sampler, c.serviceName)
			}
		})
	}
}

func TestParseTracingEnvDetails(t *testing.T) {
	c, err := parseTracingEnv(envOf(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":       "http://c:4318",
		"OTEL_EXPORTER_OTLP_HEADERS":        "ignored=1",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "Authorization=Bearer%20abc, x-tenant = t1",
		"OTEL_EXPORTER_OTLP_TIMEOUT":        "2500",
		"OTEL_EXPORTER_OTLP_COMPRESSION":    "gzip",
		"OTEL_TRACES_SAMPLER":               "parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG":           "0.25",
		"OTEL_SERVICE_NAME":                 "autorefresh-eu",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.headers) != 2 || c.headers["Authorization"] != "Bearer abc" || c.headers["x-tenant"] != "t1" {
		t.Errorf("headers %v", c.headers)
	}
	if c.timeout != 2500*time.Millisecond || !c.gzip || c.serviceName != "autorefresh-eu" {
		t.Errorf("timeout %s gzip %v service %q", c.timeout, c.gzip, c.serviceName)
	}
	if d := c.sampler.Description(); !strings.Contains(d, "ParentBased") || !strings.Contains(d, "0.25") {
		t.Errorf("sampler %s, want parent-based at 0.25", d)
	}
}

func TestParseTracingEnvRefusesWhatItCannotHonour(t *testing.T) {
	on := "OTEL_TRACES_EXPORTER"
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{on: "zipkin"}, "OTEL_TRACES_EXPORTER"},
		{map[string]string{on: "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://c/x"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{map[string]string{on: "otlp", "OTEL_EXPORTER_OTLP_HEADERS": "a=1,secret-without-key"}, "entry 2"},
		{map[string]string{on: "otlp", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "10s"}, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"},
		{map[string]string{on: "otlp", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "OTEL_EXPORTER_OTLP_COMPRESSION"},
		{map[string]string{on: "otlp", "OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"},
		{map[string]string{on: "otlp", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, "OTEL_TRACES_SAMPLER_ARG"},
	} {
		_, err := parseTracingEnv(envOf(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %s", tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret-without-key") {
			t.Errorf("error %q quotes a header value", err)
		}
	}
}
