// Command profile runs the autorefresh HTTP handler in-process, wired as
// cmd/server wires it (validation against the embedded spec, Prometheus
// metrics, an info-level JSON access log written to /dev/null), and drives
// it from a few goroutines without any network, to take a CPU profile of
// what the server does per request beyond net/http. It also times the bare
// handler of scripts/bench-http the same way, so the per-request CPU cost of
// the two can be compared.
//
//	go run ./scripts/bench-http/profile -scenario get -cpuprofile /tmp/get.prof
//	go tool pprof -top -cum /tmp/get.prof
//
// With -listen it serves the handler (or, with -bare, the bare one) over
// real HTTP on a loopback address instead, for -duration, and profiles the
// whole process while a load generator runs against it: net/http, system
// calls and the collector included.
//
//	go build -o /tmp/profile ./scripts/bench-http/profile
//	/tmp/profile -listen 127.0.0.1:18081 -duration 14s -cpuprofile /tmp/live.prof &
//	wrk -t1 -c32 -d10s http://127.0.0.1:18081/v1/caches/bench/items/item1
//
// It does not modify or import cmd/server; keep its wiring in step with
// cmd/server/run.go.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap/zapcore"

	"github.com/autorefresh/autorefresh/api"
	"github.com/autorefresh/autorefresh/internal/backend"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/handlers"
	"github.com/autorefresh/autorefresh/internal/logging"
)

func main() {
	scenario := flag.String("scenario", "get", "get: GET an existing item; post: create items with unique ids")
	duration := flag.Duration("duration", 10*time.Second, "how long to drive each handler")
	workers := flag.Int("workers", runtime.GOMAXPROCS(0), "goroutines sending requests")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the server handler's run to `file`")
	logPath := flag.String("log", os.DevNull, "`file` the access log is written to")
	listen := flag.String("listen", "", "serve the handler over real HTTP on this loopback `address` for -duration instead of driving it, profiling the whole process (net/http, syscalls and GC included) while a load generator runs against it")
	bare := flag.Bool("bare", false, "with -listen: serve the bare handler instead, to compare the two under the same load")
	flag.Parse()
	if *bare && *listen != "" {
		if err := serve(http.HandlerFunc(bareHandler), *listen, *duration, *cpuprofile); err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*scenario, *duration, *workers, *cpuprofile, *logPath, *listen); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}

func run(scenario string, duration time.Duration, workers int, cpuprofile, logPath, listen string) error {
	if scenario != "get" && scenario != "post" {
		return fmt.Errorf("unknown -scenario %q", scenario)
	}
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()

	server, stop, err := newServer(logFile)
	if err != nil {
		return err
	}
	defer stop()

	newRequest := requests(scenario)
	// Set up the cache and item1 through the handler, as the benchmark does.
	for _, setup := range []struct {
		method, path, body string
		want               int
	}{
		{http.MethodPut, "/v1/caches/bench", `{"webhook":{"url":"http://127.0.0.1:9/sync"},"resyncPeriod":"1h","syncOnCreate":false,"size":5000000}`, http.StatusCreated},
		{http.MethodPost, "/v1/caches/bench/items", `{"id":"item1","data":{"status":"Not-started","attempt":0}}`, http.StatusCreated},
	} {
		w := &discardWriter{header: http.Header{}}
		server.ServeHTTP(w, newJSONRequest(setup.method, setup.path, setup.body))
		if w.status != setup.want {
			return fmt.Errorf("%s %s: status %d, want %d", setup.method, setup.path, w.status, setup.want)
		}
	}

	if listen != "" {
		return serve(server, listen, duration, cpuprofile)
	}

	// Bare first, unprofiled; then the server under the profiler.
	bare := http.HandlerFunc(bareHandler)
	drive(bare, newRequest, time.Second, workers) // warm-up
	bareN, bareCPU := drive(bare, newRequest, duration, workers)

	drive(server, newRequest, time.Second, workers) // warm-up
	stopProfile, err := startProfile(cpuprofile)
	if err != nil {
		return err
	}
	srvN, srvCPU := drive(server, newRequest, duration, workers)
	stopProfile()

	fmt.Printf("scenario %s, %d workers, GOMAXPROCS %d, %s each (no network: handler only)\n",
		scenario, workers, runtime.GOMAXPROCS(0), duration)
	fmt.Printf("  bare handler:       %9.0f req/s  %6.2f µs CPU/request\n", rate(bareN, duration), perReq(bareCPU, bareN))
	fmt.Printf("  autorefresh server: %9.0f req/s  %6.2f µs CPU/request\n", rate(srvN, duration), perReq(srvCPU, srvN))
	if cpuprofile != "" {
		fmt.Printf("  profile: %s (go tool pprof -top -cum %s)\n", cpuprofile, cpuprofile)
	}
	return nil
}

// newServer wires the handler as cmd/server/run.go does.
func newServer(logFile io.Writer) (http.Handler, func(), error) {
	log, accessLog, stopLog := logging.Open(logFile, zapcore.InfoLevel)
	ok := false
	defer func() {
		if !ok {
			stopLog()
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	b, err := backend.Open(context.Background(), backend.Options{InMemory: true,
		Registerer: reg, Logger: log, Egress: &egress.Policy{AllowPrivate: true}, DrainTimeout: time.Second,
	})
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if !ok {
			b.Close()
		}
	}()
	spec, err := api.Load()
	if err != nil {
		return nil, nil, err
	}
	h, err := handlers.NewServer(handlers.Deps{
		Service: b.Service(), Watch: b.Hub(), Logger: log, AccessLog: accessLog, Registerer: reg, Gatherer: reg, Spec: spec, SpecYAML: api.Spec(),
	})
	if err != nil {
		return nil, nil, err
	}
	if err := b.Start(context.Background()); err != nil {
		return nil, nil, err
	}
	ok = true
	return h, func() { b.Close(); stopLog() }, nil
}

// requests returns a function making the scenario's next request; worker
// w's n-th POST creates item "p<w>-<n>".
func requests(scenario string) func(worker, n int) *http.Request {
	if scenario == "get" {
		return func(int, int) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, "http://bench/v1/caches/bench/items/item1", nil)
			r.Body = http.NoBody // as net/http's server gives a GET
			r.RemoteAddr = "127.0.0.1:40000"
			return r
		}
	}
	return func(worker, n int) *http.Request {
		body := `{"id":"p` + strconv.Itoa(worker) + "-" + strconv.Itoa(n) + `","data":{"status":"Not-started","attempt":0}}`
		return newJSONRequest(http.MethodPost, "/v1/caches/bench/items", body)
	}
}

func newJSONRequest(method, path, body string) *http.Request {
	r, _ := http.NewRequest(method, "http://bench"+path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.RemoteAddr = "127.0.0.1:40000"
	return r
}

// drive sends requests from workers goroutines for d and returns how many
// were served and the process CPU time they took.
func drive(h http.Handler, newRequest func(worker, n int) *http.Request, d time.Duration, workers int) (int64, time.Duration) {
	var served atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	before := cpuTime()
	for w := range workers {
		wg.Go(func() {
			rw := &discardWriter{header: http.Header{}}
			for n := 0; !stop.Load(); n++ {
				clear(rw.header)
				rw.status = 0
				h.ServeHTTP(rw, newRequest(w, n))
				if rw.status >= 300 {
					panic(fmt.Sprintf("status %d", rw.status))
				}
				served.Add(1)
			}
		})
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	return served.Load(), cpuTime() - before
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}

// bareHandler answers like scripts/bench-http/bare, with a 200-byte body.
var bareBody = bytes.Repeat([]byte("x"), 200)

func bareHandler(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(bareBody)
}

// startProfile starts the CPU profiler writing to path, if path is set,
// and returns the function that stops it and closes the file.
func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func rate(n int64, d time.Duration) float64 { return float64(n) / d.Seconds() }

func perReq(cpu time.Duration, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / float64(n)
}
