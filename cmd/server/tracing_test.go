package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Without OTEL_* variables nothing is built: no exporter, so no
// connection, and nil for the packages, which then skip tracing.
func TestNoTracingWithoutEnv(t *testing.T) {
	cfg, err := parseTracingEnv(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := startTracing(context.Background(), cfg, readBuildInfo(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if tr.sdk != nil || tr.provider != nil || tr.propagator != nil {
		t.Fatalf("tracing built with no OTEL_* variable: %+v", tr)
	}
	if st := tr.syncers(); st.TracerProvider != nil || st.Propagator != nil {
		t.Fatalf("syncers get tracing: %+v", st)
	}
	tr.stop(context.Background(), zap.NewNop()) // harmless
}

// collector is a loopback OTLP/HTTP endpoint that keeps the spans it gets.
type collector struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.ResourceSpans
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &req)
		}
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || err != nil {
			t.Errorf("collector got %s %s (%s): %v", r.Method, r.URL.Path, r.Header.Get("Content-Type"), err)
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.spans = append(c.spans, req.ResourceSpans...)
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Write(out)
	}))
	t.Cleanup(c.Close)
	return c
}

// resourceAttr is a string attribute of a resource, "" if absent.
func resourceAttr(rs *tracepb.ResourceSpans, key string) string {
	for _, kv := range rs.GetResource().GetAttributes() {
		if kv.Key == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

// run with OTEL_EXPORTER_OTLP_ENDPOINT exports a request's span over OTLP,
// named by its route and carrying the service's identity, by the time run
// returns: the shutdown flushes what the batch processor still holds.
func TestRunExportsSpansOverOTLP(t *testing.T) {
	col := newCollector(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startRunEnv(t, ctx, t.TempDir(), envOf(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": col.URL}))
	if len(s.logsWith("tracing on: spans are exported over OTLP")) != 1 {
		t.Error("no log line says tracing is on")
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.addr+"/healthz", nil)
	req.Header.Set("X-Request-Id", "trace-test-1")
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return")
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	found := false
	for _, rs := range col.spans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				if sp.Name != "GET /healthz" {
					continue
				}
				found = true
				if got := resourceAttr(rs, "service.name"); got != "autorefresh" {
					t.Errorf("service.name %q", got)
				}
				if got, want := resourceAttr(rs, "service.version"), readBuildInfo().Version; got != want {
					t.Errorf("service.version %q, want %q", got, want)
				}
				var id string
				for _, kv := range sp.Attributes {
					if kv.Key == "autorefresh.request.id" {
						id = kv.GetValue().GetStringValue()
					}
				}
				if id != "trace-test-1" {
					t.Errorf("request id attribute %q, want trace-test-1", id)
				}
			}
		}
	}
	if !found {
		t.Fatalf("no span GET /healthz exported; got %v", col.spans)
	}
}

// grpcCollector is a loopback OTLP/gRPC endpoint that keeps the names of
// the spans it gets.
type grpcCollector struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	names []string
}

func (g *grpcCollector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				g.names = append(g.names, sp.Name)
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// OTEL_EXPORTER_OTLP_PROTOCOL=grpc exports over gRPC, and stop flushes.
func TestTracingOverGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &grpcCollector{}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, col)
	go srv.Serve(ln)
	defer srv.Stop()

	cfg, err := parseTracingEnv(envOf(map[string]string{
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + ln.Addr().String()}))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := startTracing(context.Background(), cfg, readBuildInfo(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.provider.Tracer("test").Start(context.Background(), "over grpc")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr.stop(ctx, zap.NewNop())

	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.names) != 1 || col.names[0] != "over grpc" {
		t.Fatalf("collector got spans %v, want [over grpc]", col.names)
	}
}
