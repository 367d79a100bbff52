package client_test

import (
	"net/http"

	"github.com/autorefresh/autorefresh/internal/servertest"
)

// realServer is the service in its in-memory mode over real HTTP, wired as
// cmd/server wires it, with the example upstream beside it
// (internal/servertest).
type realServer = servertest.Server

// serverOptions changes the real server's wiring.
type serverOptions struct {
	// tokens is an --auth-tokens-file's text; empty leaves the API open.
	tokens string
}

// startServer starts a real server. It takes no *testing.T so that
// examples can use it too; Close stops it.
func startServer(o serverOptions) (*realServer, error) {
	return servertest.Start(servertest.Options{Tokens: o.tokens})
}

// handler makes a plain func an http.Handler, for fakes.
type handler = http.HandlerFunc
