package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/exampleupstream"
)

// Server timeouts. A webhook call is small and quick, so these only need to
// be long enough for a slow client, and short enough that a stuck or
// malicious one cannot hold a connection for long.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	// shutdownTimeout bounds how long calls in flight may finish after a
	// signal; past it the process exits anyway.
	shutdownTimeout = 10 * time.Second
)

// run is the whole program, given what it would otherwise take from the
// process, so that tests can run it in-process. It serves until ctx is
// cancelled or the process gets SIGINT or SIGTERM, then shuts down gracefully
// and returns nil.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	log := newLogger(stdout)
	defer func() { _ = log.Sync() }()

	upstream, err := exampleupstream.New(exampleupstream.Options{
		Secret:        cfg.secret,
		Logger:        log,
		NextSyncAfter: cfg.nextSyncAfter,
		ErrorPrefix:   cfg.errorPrefix,
	})
	if err != nil {
		return err
	}

	// Listen before serving so that the address logged is the real one, even
	// for port 0.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           routes(upstream),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	log.Info("listening",
		zap.String("addr", ln.Addr().String()),
		zap.String("webhookURL", "http://"+ln.Addr().String()+"/sync"),
		zap.Bool("signed", cfg.secret != ""))

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down")
	// ctx is already done; the shutdown gets its own deadline.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped", zap.Int64("calls", upstream.Calls()))
	return nil
}

// routes serves the webhook at /sync and a liveness check at /healthz, which
// lets scripts wait for the upstream to be up.
func routes(upstream http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/sync", upstream)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	return mux
}
