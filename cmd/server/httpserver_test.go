package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestDefaultLimitsAreAllSet(t *testing.T) {
	l := defaultLimits()
	if l.readHeader <= 0 || l.read <= 0 || l.write <= 0 || l.idle <= 0 || l.maxHeaderBytes <= 0 {
		t.Fatalf("an unset limit: %+v", l)
	}
	srv := newHTTPServer(http.NotFoundHandler(), zap.NewNop(), l)
	if srv.ReadHeaderTimeout != l.readHeader || srv.ReadTimeout != l.read || srv.WriteTimeout != l.write || srv.IdleTimeout != l.idle {
		t.Fatal("newHTTPServer dropped a limit")
	}
}

// serveShort runs a server with short limits whose handler reads the body.
func serveShort(t *testing.T) string {
	t.Helper()
	l := limits{readHeader: 200 * time.Millisecond, read: 500 * time.Millisecond, write: time.Second, idle: time.Second, maxHeaderBytes: 4096}
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}), zap.NewNop(), l)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
		// Close does not wait for connection goroutines; after refusing a
		// request net/http lingers up to 500ms before closing (to avoid a
		// TCP reset). Wait for them so goleak sees a clean slate.
		deadline := time.Now().Add(5 * time.Second)
		for connGoroutines() > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	})
	return ln.Addr().String()
}

// connGoroutines counts net/http connection goroutines still running.
func connGoroutines() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "net/http.(*conn).serve")
}

// closedWithin reports whether the server ends the connection within d while
// the client keeps it open.
func closedWithin(t *testing.T, conn net.Conn, d time.Duration) bool {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.ReadAll(conn) // returns at EOF (closed) or the deadline
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

func TestSlowLorisHeadersAreCutOff(t *testing.T) {
	addr := serveShort(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Half a request line, then silence: a slow-loris client.
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n")
	if !closedWithin(t, conn, 5*time.Second) {
		t.Fatal("a client that never finished its headers kept the connection for 5s (limit 200ms)")
	}
}

func TestTricklingBodyIsCutOff(t *testing.T) {
	addr := serveShort(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
	// One byte every 50ms would take over an hour; the read limit is 500ms.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := conn.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	if !closedWithin(t, conn, 5*time.Second) {
		t.Fatal("a trickling body kept the connection for 5s (read limit 500ms)")
	}
}

func TestOversizedHeadersAreRefused(t *testing.T) {
	addr := serveShort(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 64<<10)+"\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(conn)
	if !strings.Contains(string(b), "431") {
		t.Fatalf("64 KiB of headers past a 4 KiB limit: %.80q", b)
	}
}

// Every response, whatever the handler, tells browsers not to sniff.
func TestEveryResponseIsNosniff(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), zap.NewNop(), defaultLimits())
	rec := httptest.NewRecorder()
	srv.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/caches/nope", nil))
	if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Fatalf("X-Content-Type-Options = %q", got)
	}
}
