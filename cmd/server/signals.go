package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"go.uber.org/zap"
)

// watchSignals returns a context that SIGINT or SIGTERM cancels, which
// starts the graceful shutdown. A signal that comes once the shutdown has
// begun (an operator's second Ctrl-C, when a hung disk or webhook holds the
// shutdown up) ends the process at once through exit, with status 1 and a
// log line saying what was given up. stop must be called before run returns.
func watchSignals(ctx context.Context, log *zap.Logger, exit func(int)) (_ context.Context, stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case s := <-sigs:
			log.Info("signal received", zap.Stringer("signal", s))
			cancel()
		case <-ctx.Done():
		case <-done:
			return
		}
		select {
		case s := <-sigs:
			// Error level flushes the log at once: exit skips every defer.
			log.Error("second signal: exiting now without finishing the shutdown; unacknowledged changes may be lost", zap.Stringer("signal", s))
			exit(1)
		case <-done:
		}
	})
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		wg.Wait()
		cancel()
	}
}
