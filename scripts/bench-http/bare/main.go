// Command bare is the baseline of scripts/bench-http.sh: a plain net/http
// server, with the autorefresh server's timeouts, that answers every request
// with the same 200-byte JSON body and nothing else (no router, validation,
// metrics or logging). Whatever the real server does beyond it shows as the
// gap between the two in the benchmark.
//
//	bare -addr 127.0.0.1:18081     serve until SIGINT/SIGTERM
//	bare -free-ports 3             print 3 free loopback TCP ports and exit
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// body is a fixed 200-byte JSON document, about the size of an item as the
// real server returns it.
var body = func() []byte {
	const head, tail = `{"id":"item1","data":{"status":"Not-started"},"terminal":false,"version":1,"pad":"`, `"}` + "\n"
	b := []byte(head + strings.Repeat("x", 200-len(head)-len(tail)) + tail)
	if len(b) != 200 {
		panic("body is not 200 bytes")
	}
	return b
}()

var contentLength = strconv.Itoa(len(body))

func handle(w http.ResponseWriter, r *http.Request) {
	// Read the request body like a real handler would (POST runs send one).
	_, _ = io.Copy(io.Discard, r.Body)
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{contentLength}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen `address`")
	freePorts := flag.Int("free-ports", 0, "print `n` free loopback TCP ports, one a line, and exit")
	flag.Parse()
	if err := run(*addr, *freePorts); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
}

func run(addr string, freePorts int) error {
	if freePorts > 0 {
		// Hold every listener until all are chosen so the ports differ.
		var lns []net.Listener
		defer func() {
			for _, ln := range lns {
				_ = ln.Close()
			}
		}()
		for range freePorts {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			lns = append(lns, ln)
			fmt.Println(ln.Addr().(*net.TCPAddr).Port)
		}
		return nil
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	// The same limits as cmd/server, so that only the handler differs.
	srv := &http.Server{
		Handler:           http.HandlerFunc(handle),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	fmt.Printf("{\"msg\":\"listening\",\"addr\":%q}\n", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
