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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/api"
	"github.com/autorefresh/autorefresh/internal/auth"
	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/handlers"
	"github.com/autorefresh/autorefresh/internal/logging"
)

// errShuttingDown is what /readyz reports once a shutdown has begun.
var errShuttingDown = errors.New("shutting down")

// run is the whole program, given what it would otherwise take from the
// process, so tests drive it in-process. It serves until ctx is cancelled or
// the process gets SIGINT/SIGTERM, then shuts down within one deadline,
// --shutdown-timeout: it stops accepting and stops the refresh, lets
// requests and webhook calls under way finish, then writes what is still
// queued, closes the storage, and returns nil. A second signal during the
// shutdown calls exit(1) (see watchSignals).
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, exit func(int)) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	build := readBuildInfo()
	if cfg.showVersion {
		_, err := fmt.Fprintln(stdout, build)
		return err
	}
	tcfg, err := parseTracingEnv(getenv)
	if err != nil {
		return err
	}
	log, accessLog, stopLog := logging.Open(stdout, cfg.logLevel)
	defer stopLog()
	// Tracing starts before the service so that the syncers have it; an
	// early return still flushes it, within its own shutdown timeout.
	tr, err := startTracing(ctx, tcfg, build, log)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
		defer cancel()
		tr.stop(stopCtx, log)
	}()
	defer startGCFloor(ctx, cfg.gcFloorMiB, getenv)()
	ctx, stopSignals := watchSignals(ctx, log, exit)
	defer stopSignals()

	// The certificate is checked before anything is opened or started, so
	// that a bad pair ends the start at once, with nothing to undo.
	var certs *certReloader
	if cfg.tlsCert != "" {
		if certs, err = newCertReloader(cfg.tlsCert, cfg.tlsKey, log); err != nil {
			return err
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), build.collector())

	// The service on its storage, with everything stored restored, and the
	// watch hub that hears its item changes and serves event streams and
	// long-polls. The hub is closed when the HTTP server starts shutting
	// down (Shutdown waits for those requests and would not end them
	// itself); Close closes what is left in order once the refresh stopped.
	bopts := backendOptions(cfg, log, reg)
	bopts.Tracing = tr.syncers()
	b, err := backend.Open(ctx, bopts)
	if err != nil {
		if cfg.postgresURL != "" {
			return fmt.Errorf("--postgres: %w", err)
		}
		return err
	}
	defer b.Close()
	caches, hub := b.Service(), b.Hub()
	if cfg.configFile != "" {
		f, err := autorefresh.LoadFile(cfg.configFile)
		if err != nil {
			return fmt.Errorf("config %s: %w", cfg.configFile, err)
		}
		if err := autorefresh.PutAll(ctx, caches, f); err != nil {
			return fmt.Errorf("config %s: %w", cfg.configFile, err)
		}
	}

	spec, err := api.Load()
	if err != nil {
		return fmt.Errorf("openapi spec: %w", err)
	}
	var tokens *auth.Tokens
	if cfg.authTokensFile != "" {
		if tokens, err = auth.LoadFile(cfg.authTokensFile); err != nil {
			return fmt.Errorf("--auth-tokens-file: %w", err)
		}
		log.Info("API access needs a bearer token", zap.Int("tokens", tokens.Len()), zap.Bool("metricsAuth", cfg.metricsAuth))
		// A warning, not an error: some deployments mount secrets
		// group-readable on purpose.
		if mode, loose, err := auth.LooseMode(cfg.authTokensFile); err == nil && loose {
			log.Warn("the tokens file can be read by other users; make it private with chmod 600",
				zap.String("file", cfg.authTokensFile), zap.String("mode", fmt.Sprintf("%#o", mode)))
		}
	} else {
		log.Warn("the API is open: anyone who can reach this address can register webhooks and read items; pass --auth-tokens-file to require tokens")
	}

	// The listener comes before the handler: the default Host check needs
	// the address actually bound (--addr may say port 0).
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hosts := allowedHosts(cfg, tokens != nil, ln.Addr())
	if len(hosts) > 0 {
		log.Info("requests must name an allowed host (--allowed-hosts); others get 421", zap.Strings("hosts", hosts))
	} else if tokens == nil {
		log.Warn("the open API answers for any Host, so web pages can reach it through DNS rebinding; pass --allowed-hosts or --auth-tokens-file")
	}
	// From a SIGTERM on, /readyz answers 503 while requests are still
	// served for --shutdown-delay, so that load balancers take the server
	// out before its listener closes (see the shutdown below).
	var draining atomic.Bool
	ready := func() error {
		if draining.Load() {
			return errShuttingDown
		}
		return b.Ready()
	}
	handler, err := handlers.NewServer(handlers.Deps{
		Service: caches, Logger: log, AccessLog: accessLog, Registerer: reg, Gatherer: reg, Spec: spec, SpecYAML: api.Spec(), Ready: ready,
		Tokens: tokens, ProtectMetrics: cfg.metricsAuth, RateLimit: cfg.rateLimit, AllowedHosts: hosts,
		TrustedProxies: cfg.trustedProxies,
		Watch:          hub, TracerProvider: tr.provider, Propagator: tr.propagator,
	})
	if err != nil {
		ln.Close()
		return err
	}
	srv := newHTTPServer(handler, log, defaultLimits())
	srv.RegisterOnShutdown(hub.Close)
	if certs != nil {
		srv.TLSConfig = tlsConfig(certs, cfg.tlsMinVersion)
		// SIGHUP reloads the certificate; it is caught only when there is
		// one to reload, so that without TLS it keeps its usual meaning.
		// It is apart from watchSignals: it never starts a shutdown.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		defer certs.watch(hup, certPollInterval)()
	}

	// The refresh runs under its own context so that the caches outlive
	// the HTTP server during shutdown: requests finish first, then the
	// refresh is waited for (b.Close).
	if err := b.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	if !cfg.allowPrivateWebhooks && len(cfg.allowWebhookCIDRs) == 0 {
		log.Info("webhooks to loopback and private addresses are refused; pass --allow-private-webhooks or --allow-webhook-cidrs to allow them")
	}
	if cfg.inMemory {
		log.Warn("running in memory only (--in-memory): a restart forgets every cache and item")
	}
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.Bool("tls", certs != nil))

	serveErr := make(chan error, 1)
	go func() {
		if certs != nil {
			// The files are in TLSConfig, through certs.
			serveErr <- srv.ServeTLS(ln, "", "")
			return
		}
		serveErr <- srv.Serve(ln)
	}()
	select {
	case err := <-serveErr:
		b.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	draining.Store(true)
	if cfg.shutdownDelay > 0 {
		log.Info("shutting down after the delay: /readyz answers 503, requests are still served",
			zap.Duration("delay", cfg.shutdownDelay))
		delay := time.NewTimer(cfg.shutdownDelay)
		select {
		case <-delay.C:
		case err := <-serveErr:
			delay.Stop()
			b.Close()
			return fmt.Errorf("serve: %w", err)
		}
	}
	log.Info("shutting down", zap.Duration("timeout", cfg.shutdownTimeout))
	// One deadline bounds the whole shutdown. The refresh stops now, with
	// the listener, so that the caches' drain (DrainTimeout, the same
	// length) runs alongside the requests' instead of after it. What is
	// waited for keeps its order: requests, then the caches, then the
	// journal and the file (b.Close). Requests under way still find their
	// caches; only new cycles and syncs are not started.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
	defer cancel()
	b.Stop()
	shutdownErr := srv.Shutdown(shutdownCtx)
	if shutdownErr != nil {
		// Requests still running at the deadline are cut off (their
		// connections closed) so that nothing of them outlives run; the
		// state stays consistent, so this is a warning, not a failed exit.
		log.Warn("requests cut off at the shutdown deadline", zap.Error(shutdownErr))
		srv.Close()
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		log.Warn("serve ended", zap.Error(err))
	}
	b.Close()
	// Last, so that the spans of the requests and of the webhook calls of
	// the drain are among those exported, within the same deadline.
	tr.stop(shutdownCtx, log)
	log.Info("stopped")
	return nil
}
