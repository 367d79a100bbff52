package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// serve answers HTTP on addr with h for d, under the CPU profiler when
// cpuprofile is set, and prints the process CPU time per request served. The
// http.Server has cmd/server's limits (keep them in step with
// cmd/server/httpserver.go), because its timeouts are part of the per-request
// cost. Only loopback addresses are accepted: this is a benchmark aid.
func serve(h http.Handler, addr string, d time.Duration, cpuprofile string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-listen %s: give a loopback IP address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	var served atomic.Int64
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		h.ServeHTTP(w, r)
	})
	srv := &http.Server{
		Handler:           counted,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	stopProfile, err := startProfile(cpuprofile)
	if err != nil {
		return err
	}
	defer stopProfile()
	fmt.Fprintf(os.Stderr, "serving on http://%s for %s\n", ln.Addr(), d)
	before := cpuTime()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stop)
	select {
	case <-time.After(d):
	case <-stop:
	}
	cpu := cpuTime() - before
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	n := served.Load()
	fmt.Printf("served %d requests in %s: %.2f µs CPU/request (whole process)\n", n, d, perReq(cpu, n))
	return nil
}
