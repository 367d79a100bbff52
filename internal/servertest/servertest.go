// Package servertest runs the service over real HTTP for the tests of the
// packages built on its API (the client SDK, the CLI, the wiring): the
// storage backend and the HTTP handler on the embedded spec, wired as
// cmd/server wires them, on an httptest server, with the example upstream
// beside it. It is the one copy of that wiring for tests outside the HTTP
// layer; the HTTP layer's own tests build theirs in
// internal/handlers/helpers_test.go, which cannot import this package's
// dependency on the handlers from inside the handlers package.
package servertest

import (
	"context"
	"errors"
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

// Options change the server's wiring. The zero value is an open API over
// the in-memory mode.
type Options struct {
	// Tokens is an --auth-tokens-file's text; empty leaves the API open.
	Tokens string
	// Storage picks the storage mode on the backend's options (DataDir,
	// PostgresURL); nil runs in memory.
	Storage func(*backend.Options)
}

// Server is a running service and its example upstream: every item the
// upstream is asked about goes Not-started → Started → Completed.
type Server struct {
	URL         string // the service
	UpstreamURL string // the example upstream's webhook URL
	// Registry is the registry of the service's metrics, which /metrics
	// serves.
	Registry *prometheus.Registry
	stop     []func()
}

// Start starts a server. It takes no *testing.T so that Example functions
// can use it too; Close stops it.
func Start(o Options) (*Server, error) {
	s := &Server{Registry: prometheus.NewRegistry()}
	if err := s.start(o); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(o Options) error {
	up, err := exampleupstream.New(exampleupstream.Options{})
	if err != nil {
		return err
	}
	upstream := httptest.NewServer(up)
	s.stop = append(s.stop, upstream.Close)
	s.UpstreamURL = upstream.URL + "/sync"

	opts := backend.Options{Registerer: s.Registry, Logger: zap.NewNop(), Egress: &egress.Policy{AllowPrivate: true}}
	if o.Storage != nil {
		o.Storage(&opts)
	}
	if opts.DataDir == "" && opts.PostgresURL == "" {
		opts.InMemory = true
	}
	b, err := backend.Open(context.Background(), opts)
	if err != nil {
		return err
	}
	s.stop = append(s.stop, b.Close)
	if err := b.Start(context.Background()); err != nil {
		return err
	}
	spec, err := api.Load()
	if err != nil {
		return err
	}
	d := handlers.Deps{
		Service: b.Service(), Watch: b.Hub(), Ready: b.Ready, Logger: zap.NewNop(),
		Registerer: s.Registry, Gatherer: s.Registry, Spec: spec, SpecYAML: api.Spec(),
	}
	if o.Tokens != "" {
		if d.Tokens, err = auth.Parse([]byte(o.Tokens)); err != nil {
			return err
		}
	}
	h, err := handlers.NewServer(d)
	if err != nil {
		return err
	}
	if h == nil {
		return errors.New("servertest: no handler")
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
	return nil
}

// Close stops the server, the service and the upstream, in that order.
func (s *Server) Close() {
	for i := len(s.stop) - 1; i >= 0; i-- {
		s.stop[i]()
	}
	s.stop = nil
}
