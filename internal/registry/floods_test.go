package registry

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
)

// countingWriter counts the bytes and the sync-failure lines of log
// written, and whether any of them came from an upstream.
type countingWriter struct {
	bytes, failures atomic.Int64
	leaked          atomic.Bool
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.bytes.Add(int64(len(p)))
	c.failures.Add(int64(strings.Count(string(p), `"msg":"webhook sync failed"`)))
	if strings.Contains(string(p), "<script>") {
		c.leaked.Store(true)
	}
	return len(p), nil
}

func (c *countingWriter) Sync() error { return nil }

// headerBomb answers every call with a 60 KB malformed header line of its
// choosing, which Go's transport would quote in its error.
func headerBomb(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\n%s\r\n\r\n", strings.Repeat("<script>alert(1)</script>", 2400))
		buf.Flush()
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/sync"
}

// refusedURL is a loopback port nobody listens on.
func refusedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/sync"
	ln.Close()
	return url
}

// Issue 14's log floods: two caches whose every sync fails, one against a
// refused port and one against an upstream that answers a 60 KB header line
// of its choosing, at a 10 ms period with batches of one, write at most one
// failure line per cache per 10 s, less than 1 MiB of log in 60 s (the
// audit saw 181 MiB in 10 s), and none of the upstream's bytes. The minute
// passes on a fake clock; the calls are real, as many as the machine makes.
func TestFailingUpstreamsCannotFloodTheLog(t *testing.T) {
	out := &countingWriter{}
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), out, zap.InfoLevel))
	clk := testingclock.NewFakeClock(time.Unix(1_700_000_000, 0))
	r := startRegistry(t, Options{Registerer: prometheus.NewRegistry(), Logger: logger, Clock: clk})
	urls := map[string]string{"refused": refusedURL(t), "bomb": headerBomb(t)}
	for name, url := range urls {
		c := cfg(func(c *autorefresh.Config) {
			c.Webhook.URL = url
			c.ResyncPeriod = autorefresh.Duration(10 * time.Millisecond)
			c.BatchSize = 1
			c.RateLimit = &autorefresh.RateLimit{QPS: 100_000, Burst: 100_000}
		})
		if _, err := r.Put(bg, name, c); err != nil {
			t.Fatal(err)
		}
		for i := range 200 {
			if _, _, err := r.CreateItem(bg, name, autorefresh.NewItem{ID: fmt.Sprint(i), Data: nil, Terminal: false}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A minute of 10 ms periods. Each step lets the real calls of the
	// cycle it starts get under way.
	for range 6000 {
		clk.Step(10 * time.Millisecond)
		time.Sleep(100 * time.Microsecond)
	}
	for name := range urls {
		in, err := r.Info(bg, name)
		if err != nil {
			t.Fatal(err)
		}
		// Far more failures than the lines allowed below.
		if in.Stats.SyncErrors < 100 {
			t.Fatalf("%s: only %d failed syncs; the flood did not happen", name, in.Stats.SyncErrors)
		}
		t.Logf("%s: %d failed syncs", name, in.Stats.SyncErrors)
	}
	// One line per cache per 10 s window: 7 windows touched in 60 s.
	if n := out.failures.Load(); n > 2*7 {
		t.Fatalf("%d sync-failure lines in a minute from two caches, want at most 14", n)
	}
	if n := out.bytes.Load(); n >= 1<<20 {
		t.Fatalf("%d bytes of log in a minute of failing syncs, want under 1 MiB", n)
	} else {
		t.Logf("%d bytes of log, %d sync-failure lines", n, out.failures.Load())
	}
	if out.leaked.Load() {
		t.Fatal("the upstream's bytes reached the log")
	}
}
