package main

import (
	"context"
	"net/http/httptest"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/api"
	"github.com/autorefresh/autorefresh/internal/auth"
	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/exampleupstream"
	"github.com/autorefresh/autorefresh/internal/handlers"
)

// realServer is the service in its embedded, in-memory mode, served over
// httptest as cmd/server serves it (the wiring of
// internal/handlers/helpers_test.go), with the example upstream beside it:
// every item it is asked about goes Not-started → Started → Completed.
//
// It is a copy of client/server_test.go's: test helpers cannot be shared
// across packages without a package of their own, and internal/ is not
// this change's to extend.
type realServer struct {
	URL         string // the service
	UpstreamURL string // the example upstream's webhook URL
	stop        []func()
}

// serverOptions changes the real server's wiring.
type serverOptions struct {
	// tokens is an --auth-tokens-file's text; empty leaves the API open.
	tokens string
}

// startServer starts a real server. It takes no *testing.T so that
// examples can use it too; Close stops it.
func startServer(o serverOptions) (*realServer, error) {
	s := &realServer{}
	up, err := exampleupstream.New(exampleupstream.Options{})
	if err != nil {
		return nil, err
	}
	upstream := httptest.NewServer(up)
	s.stop = append(s.stop, upstream.Close)
	s.UpstreamURL = upstream.URL + "/sync"

	reg := prometheus.NewRegistry()
	b, err := backend.Open(context.Background(), backend.Options{
		InMemory: true, Registerer: reg, Logger: zap.NewNop(), Egress: &egress.Policy{AllowPrivate: true},
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.stop = append(s.stop, b.Close)
	if err := b.Start(context.Background()); err != nil {
		s.Close()
		return nil, err
	}
	spec, err := api.Load()
	if err != nil {
		s.Close()
		return nil, err
	}
	d := handlers.Deps{
		Service: b.Service(), Watch: b.Hub(), Ready: b.Ready, Logger: zap.NewNop(),
		Registerer: reg, Gatherer: reg, Spec: spec, SpecYAML: api.Spec(),
	}
	if o.tokens != "" {
		if d.Tokens, err = auth.Parse([]byte(o.tokens)); err != nil {
			s.Close()
			return nil, err
		}
	}
	h, err := handlers.NewServer(d)
	if err != nil {
		s.Close()
		return nil, err
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.RegisterOnShutdown(b.Hub().Close)
	srv.Start()
	s.URL = srv.URL
	// The server closes first: streams end before the hub and service go.
	s.stop = append(s.stop, func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return s, nil
}

// Close stops the server, the service and the upstream.
func (s *realServer) Close() {
	for i := len(s.stop) - 1; i >= 0; i-- {
		s.stop[i]()
	}
	s.stop = nil
}
