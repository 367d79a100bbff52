package replicated

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/pgtest"
)

// The scaling benchmarks run the real server as subprocesses; each sub-
// benchmark runs once whatever b.N is (it measures a fixed window). Run
// them with scripts/bench-pg.sh, which prints the figures of
// docs/benchmarks.md (section 4).

// BenchmarkPGSyncThroughput measures items synced per second by 1, 2 and 3
// replicas sharing one PostgreSQL, against an upstream that answers at once.
// 20,000 items with a 10ms resync period are always due, so the figure is
// what the claim / webhook / write-back pipeline sustains.
func BenchmarkPGSyncThroughput(b *testing.B) {
	pgtest.SkipIfUnavailable(b)
	bin := buildServer(b)
	var synced atomic.Int64
	up := noContentUpstream(b, &synced)
	const items = 20000
	window := benchWindow()
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			url := pgtest.NewDB(b)
			var reps []*replica
			for i := range n {
				reps = append(reps, startReplica(b, bin, url, fmt.Sprintf("r%d", i)))
			}
			if st, m := reps[0].do("PUT", "/v1/caches/jobs", `{"webhook": {"url": "`+up.URL+`/sync", "timeout": "5s"},
				"resyncPeriod": "10ms", "batchSize": 100, "parallelism": 10, "size": 1000000,
				"rateLimit": {"qps": 1000000, "burst": 1000000}}`); st != http.StatusCreated {
				b.Fatalf("PUT: %d %v", st, m)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := pgtest.Exec(ctx, url, `INSERT INTO items (cache, id, data, created_at, updated_at, next_sync_at, last_used_at)
				SELECT 'jobs', 'item-' || g, '{"status": "running"}', now(), now(), now(), now() FROM generate_series(1, $1) g`, items); err != nil {
				b.Fatal(err)
			}
			time.Sleep(2 * time.Second) // warm up
			start, t0 := synced.Load(), time.Now()
			time.Sleep(window)
			rate := float64(synced.Load()-start) / time.Since(t0).Seconds()
			b.ReportMetric(rate, "items/s")
			b.ReportMetric(0, "ns/op")
			for _, r := range reps {
				_ = r.cmd.Process.Kill()
				<-r.exited
			}
		})
	}
}

// BenchmarkPGGet measures GET /v1/caches/{cache}/items/{id} requests per
// second against one server, embedded (bbolt) and PostgreSQL mode, with wrk
// when it is installed (else a Go load loop): 2 threads, 32 connections,
// random ids among 1,000 items.
func BenchmarkPGGet(b *testing.B) {
	pgtest.SkipIfUnavailable(b)
	bin := buildServer(b)
	window := benchWindow()
	for _, mode := range []string{"embedded", "postgres"} {
		b.Run("mode="+mode, func(b *testing.B) {
			var r *replica
			if mode == "postgres" {
				r = startReplica(b, bin, pgtest.NewDB(b), "pg")
			} else {
				r = startReplica(b, bin, "", "embedded", "--data-dir", b.TempDir())
			}
			if st, m := r.do("PUT", "/v1/caches/jobs", `{"webhook": {"url": "http://127.0.0.1:9/sync"},
				"resyncPeriod": "1h", "syncOnCreate": false}`); st != http.StatusCreated {
				b.Fatalf("PUT: %d %v", st, m)
			}
			for i := range 1000 {
				if st, m := r.do("POST", "/v1/caches/jobs/items", fmt.Sprintf(`{"id": "item-%04d", "data": {"status": "running", "i": %d}}`, i, i)); st != http.StatusCreated {
					b.Fatalf("create: %d %v", st, m)
				}
			}
			rate, how := getLoad(b, r.addr, window)
			b.ReportMetric(rate, "req/s")
			b.ReportMetric(0, "ns/op")
			b.Logf("%s: %.0f req/s (%s)", mode, rate, how)
			_ = r.cmd.Process.Kill()
			<-r.exited
		})
	}
}

// noContentUpstream is a webhook upstream that answers 204 at once and adds
// the items of each call to synced. It closes when the test ends.
func noContentUpstream(t testing.TB, synced *atomic.Int64) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Items []json.RawMessage `json:"items"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		synced.Add(int64(len(req.Items)))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(up.Close)
	return up
}

func benchWindow() time.Duration {
	if s := os.Getenv("BENCH_WINDOW"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			return d
		}
	}
	return 10 * time.Second
}

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// getLoad runs the GET load for window and returns requests per second.
func getLoad(b *testing.B, addr string, window time.Duration) (float64, string) {
	if wrk, err := exec.LookPath("wrk"); err == nil {
		script := filepath.Join(b.TempDir(), "get.lua")
		if err := os.WriteFile(script, []byte(`
math.randomseed(os.time())
request = function()
  return wrk.format("GET", string.format("/v1/caches/jobs/items/item-%04d", math.random(0, 999)))
end
`), 0o644); err != nil {
			b.Fatal(err)
		}
		out, err := exec.Command(wrk, "-t2", "-c32", "-d"+strconv.Itoa(int(window.Seconds()))+"s", "-s", script, "http://"+addr).CombinedOutput()
		if err != nil {
			b.Fatalf("wrk: %v\n%s", err, out)
		}
		m := wrkRate.FindSubmatch(out)
		if m == nil {
			b.Fatalf("wrk said:\n%s", out)
		}
		rate, _ := strconv.ParseFloat(string(m[1]), 64)
		return rate, "wrk -t2 -c32"
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	var n atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(window)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(deadline); i += 7 {
				res, err := client.Get(fmt.Sprintf("http://%s/v1/caches/jobs/items/item-%04d", addr, i%1000))
				if err != nil {
					continue
				}
				_, _ = res.Body.Read(make([]byte, 512))
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / window.Seconds(), "Go loop, 32 connections"
}
