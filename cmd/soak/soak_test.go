package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestMain lets the test binary be the upstream process too: the soak runs
// os.Executable, which under go test is this binary, with --serve-upstreams.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == serveUpstreamsFlag {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestUpstreamProcess starts the upstream process, makes one sync call to
// an upstream, flaps, heals, reads the counters, and checks that the child
// exits once its stdin closes.
func TestUpstreamProcess(t *testing.T) {
	ctx := context.Background()
	p, err := startUpstreamProc(ctx, t.TempDir(), upstreamOptions{caches: 2, slow: time.Second, terminalAt: 4, batchSize: 50, gomaxprocs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	eps := p.endpoints()
	if len(eps) != 2 || eps[0].Cache != "soak-0" || eps[1].Cache != "soak-1" || !strings.HasPrefix(eps[0].URL, "http://127.0.0.1:") {
		t.Fatalf("endpoints %+v", eps)
	}
	body := `{"cache": "soak-1", "items": [{"id": "a", "data": {}, "terminal": false, "version": 3}]}`
	res, err := http.Post(eps[1].URL, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var reply struct {
		Items []syncEntry `json:"items"`
	}
	err = json.NewDecoder(res.Body).Decode(&reply)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || len(reply.Items) != 1 || reply.Items[0].ID != "a" || !reply.Items[0].Terminal {
		t.Fatalf("sync reply %d %+v (%v)", res.StatusCode, reply, err)
	}
	if err := p.startFlap(ctx, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	steps, err := p.healAll(ctx)
	if err != nil || steps < 2 {
		t.Fatalf("healAll: %d steps, %v", steps, err)
	}
	if err := p.closeClientConns(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := p.stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Upstreams) != 2 || st.Upstreams[1].Calls[modeOK] != 1 || st.Upstreams[1].Updated != 1 ||
		st.Upstreams[0].Calls[modeOK] != 0 || st.Upstreams[1].violations() != 0 || st.GOMAXPROCS != 1 || st.CPUSeconds < 0 {
		t.Fatalf("stats %+v", st)
	}
	p.stdin.Close() // as if the soak had died
	p.stdin = nil
	select {
	case <-p.exited():
		if p.waitErr != nil {
			t.Fatalf("exit: %v", p.waitErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream process did not exit when its stdin closed")
	}
}

func TestParseMetrics(t *testing.T) {
	in := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 74
autorefresh_http_request_duration_seconds_bucket{method="GET",route="/v1/caches/{cache}/items/{id}",le="0.0004"} 12
autorefresh_sync_errors_total{cache="soak-0",reason="timeout"} 3
autorefresh_sync_errors_total{cache="soak-1",reason="timeout"} 4
autorefresh_sync_errors_total{cache="soak-1",reason="bad_reply"} 1
weird{a="x\"y\\z",b="line\nbreak",} 1.5e+06 1700000000
`
	ss, err := parseMetrics(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	m := metrics{series: ss}
	if got := m.goroutines(); got != 74 {
		t.Errorf("goroutines = %v", got)
	}
	if got := m.sum("autorefresh_http_request_duration_seconds_bucket", "route", "/v1/caches/{cache}/items/{id}", "le", "0.0004"); got != 12 {
		t.Errorf("bucket = %v", got)
	}
	if got := m.sum("autorefresh_sync_errors_total", "reason", "timeout"); got != 7 {
		t.Errorf("timeouts = %v", got)
	}
	if got := m.labelValues("autorefresh_sync_errors_total", "reason", "cache", "soak-1"); got["timeout"] != 4 || got["bad_reply"] != 1 || len(got) != 2 {
		t.Errorf("reasons of soak-1 = %v", got)
	}
	if got := m.sum("weird", "a", `x"y\z`, "b", "line\nbreak"); got != 1.5e6 {
		t.Errorf("escaped labels: %v (%v)", got, ss[len(ss)-1].labels)
	}
	for _, bad := range []string{`x{a="b"`, `x{a=b} 1`, `x`, `x{a="b"} notanumber`} {
		if _, err := parseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestLatencies(t *testing.T) {
	var ss []sample
	for i := 1; i <= 1000; i++ {
		ss = append(ss, sample{lat: int64(i) * int64(time.Microsecond)})
	}
	rand.Shuffle(len(ss), func(i, j int) { ss[i], ss[j] = ss[j], ss[i] })
	st := latencies(ss, latOf, 10)
	if st.n != 1000 || st.rate != 100 || st.p50 != 500*time.Microsecond || st.p99 != 990*time.Microsecond ||
		st.p999 != 999*time.Microsecond || st.max != time.Millisecond {
		t.Errorf("latencies = %+v", st)
	}
	if st := latencies(nil, latOf, 1); st.n != 0 || st.p99 != 0 {
		t.Errorf("empty = %+v", st)
	}
}

func TestLedger(t *testing.T) {
	l := newLedger("c")
	rng := rand.New(rand.NewPCG(1, 2))
	if _, ok := l.pick(rng); ok {
		t.Fatal("picked from an empty ledger")
	}
	a, b := l.newID(), l.newID()
	if a == b || l.get(a) != stCreating {
		t.Fatalf("ids %q %q, state %v", a, b, l.get(a))
	}
	l.created(a)
	l.created(b)
	l.created(b) // a second acknowledgement changes nothing
	if live, acked, _ := l.counts(); live != 2 || acked != 2 {
		t.Fatalf("live %d acked %d", live, acked)
	}
	id, ok := l.take(rng)
	if !ok || l.get(id) != stDeleting {
		t.Fatalf("take: %q %v", id, l.get(id))
	}
	l.deleted(id)
	other, _ := l.pick(rng)
	if other == id || l.get(id) != stDeleted {
		t.Fatalf("picked %q after deleting %q", other, id)
	}
	l.markDeleting(other)
	if _, ok := l.pick(rng); ok || l.get(other) != stDeleting {
		t.Fatal("markDeleting left the item live")
	}
	if _, _, deleted := l.counts(); deleted != 1 {
		t.Fatalf("deleted %d", deleted)
	}
}

func TestDispatchKeepsTheTimeline(t *testing.T) {
	rates := [numKinds]float64{kGet: 2000, kCreate: 100}
	queues := [numPools]chan job{make(chan job, 10000), make(chan job, 10000)}
	var dropped [numKinds]atomic.Int64
	start := time.Now()
	n := dispatch(context.Background(), start, 500*time.Millisecond, rates, queues, &dropped)
	if n[kGet] != 1000 || n[kCreate] != 50 || n[kDelete] != 0 {
		t.Fatalf("queued %v", n)
	}
	if len(queues[readPool]) != 1000 || len(queues[writePool]) != 50 {
		t.Fatalf("queues hold %d and %d", len(queues[readPool]), len(queues[writePool]))
	}
	for i := range 1000 {
		j := <-queues[readPool]
		if want := start.Add(time.Duration(i) * 500 * time.Microsecond); j.kind != kGet || !j.at.Equal(want) {
			t.Fatalf("job %d: %v due %v, want %v", i, j.kind, j.at.Sub(start), want.Sub(start))
		}
	}
	// A full queue drops, and never blocks the timeline.
	small := [numPools]chan job{make(chan job, 10), make(chan job, 10)}
	n = dispatch(context.Background(), time.Now(), 50*time.Millisecond, rates, small, &dropped)
	if n[kGet] != 100 || dropped[kGet].Load() != 90 {
		t.Fatalf("queued %v, dropped %d", n, dropped[kGet].Load())
	}
}

func TestWriteReportKeepsTheRestOfTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "soak.md")
	if err := writeReport(path, "first"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), "# Soak\n") || !strings.Contains(string(b), markBegin+"\n\nfirst\n\n"+markEnd) {
		t.Fatalf("new file:\n%s", b)
	}
	doc := "# Soak\n\nProse before.\n\n" + markBegin + "\nold\n" + markEnd + "\n\nProse after.\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(path, "second\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	want := "# Soak\n\nProse before.\n\n" + markBegin + "\n\nsecond\n\n" + markEnd + "\n\nProse after.\n"
	if string(b) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b, want)
	}
}

func TestFilterAccessLog(t *testing.T) {
	in := `{"level":"info","msg":"listening","addr":"127.0.0.1:1"}
{"level":"info","msg":"request","status":200}
{"level":"warn","msg":"webhook sync failed"}
`
	var out bytes.Buffer
	filterAccessLog(strings.NewReader(in), &out)
	if want := "{\"level\":\"info\",\"msg\":\"listening\",\"addr\":\"127.0.0.1:1\"}\n{\"level\":\"warn\",\"msg\":\"webhook sync failed\"}\n"; out.String() != want {
		t.Fatalf("got %q", out.String())
	}
}

// TestSmoke runs a few seconds of soak against the real server binary, to
// keep the tool working; the real soak is make soak. It checks the tool,
// not the server's latency or memory, which depend on the machine.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	if out, err := exec.Command("go", "build", "-o", bin, "../server").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	report := filepath.Join(dir, "soak.md")
	code := run([]string{"--server", bin, "--duration", "3s", "--rate", "200", "--create-rate", "40", "--delete-rate", "10",
		"--caches", "2", "--clients", "4", "--seed", "20", "--phase", "500ms", "--data-dir", dir, "--report", report,
		"--settle-timeout", "30s"}, &stdout, &stderr)
	if code != exitOK && code != exitChecks {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr.String())
	}
	md := stdout.String()
	for _, want := range []string{"#### Checks", "| every acknowledged item accounted for | PASS |", "#### GET latency over time", "#### Faults", "#### Memory and goroutines",
		"The upstreams ran in a process of their own", "the upstreams (a process of their own)"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s\nstderr:\n%s", want, md, stderr.String())
		}
	}
	if b, err := os.ReadFile(report); err != nil || !strings.Contains(string(b), markBegin) {
		t.Errorf("report file: %v", err)
	}
	if code == exitChecks {
		t.Logf("some checks failed (expected on a busy machine, or because of a server defect):\n%s", stderr.String())
	}
}
