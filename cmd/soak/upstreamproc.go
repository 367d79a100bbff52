package main

// The upstreams stand for remote systems, so they run in a process of their
// own: the soak runs itself again with --serve-upstreams. The child serves
// the upstreams' httptest servers on 127.0.0.1 and a control server next to
// them (flap, heal, close connections, stats), prints where they listen as
// one JSON line on stdout, and exits when its stdin closes: when the soak
// closes it, or dies. In the soak's own process their work on the webhook
// batches shared the load generator's one P (--gomaxprocs 1), and any time
// the generator's clients spent waiting behind it would have counted as GET
// latency. --upstreams-in-process keeps the old way, for comparison.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

// serveUpstreamsFlag, as the first argument, makes the soak the upstream
// process. It is not in -h: only the soak starts it.
const serveUpstreamsFlag = "--serve-upstreams"

// endpoint is one cache and its webhook URL.
type endpoint struct {
	Cache string `json:"cache"`
	URL   string `json:"url"`
}

// upstreams is what the soak needs of the upstreams, wherever they run.
type upstreams interface {
	endpoints() []endpoint
	startFlap(ctx context.Context, phase time.Duration) error
	// healAll ends the flapping, leaves every upstream healthy, and returns
	// the number of schedule steps taken.
	healAll(ctx context.Context) (int, error)
	// closeClientConns closes the server's connections to the upstreams.
	closeClientConns(ctx context.Context) error
	stats(ctx context.Context) (upstreamStatus, error)
	// exited is closed if the upstreams die by themselves (never, in process).
	exited() <-chan struct{}
	close()
}

// upstreamStatus is the upstreams' counters and, for the upstream process,
// the CPU it has used (-1 in process: that CPU is the soak's own).
type upstreamStatus struct {
	Upstreams  []upstreamStats `json:"upstreams"`
	CPUSeconds float64         `json:"cpuSeconds"`
	GOMAXPROCS int             `json:"gomaxprocs"`
}

// localUpstreams runs the upstreams in the soak's own process
// (--upstreams-in-process), as the soak did before they had their own.
type localUpstreams struct{ g *upstreamGroup }

func (l localUpstreams) endpoints() []endpoint { return l.g.endpoints() }
func (l localUpstreams) startFlap(_ context.Context, phase time.Duration) error {
	l.g.startFlap(phase)
	return nil
}
func (l localUpstreams) healAll(context.Context) (int, error) { return l.g.healAll(), nil }
func (l localUpstreams) closeClientConns(context.Context) error {
	l.g.closeClientConns()
	return nil
}
func (l localUpstreams) stats(context.Context) (upstreamStatus, error) {
	return upstreamStatus{Upstreams: l.g.stats(), CPUSeconds: -1, GOMAXPROCS: runtime.GOMAXPROCS(0)}, nil
}
func (l localUpstreams) exited() <-chan struct{} { return nil }
func (l localUpstreams) close()                  { l.g.close() }

// upstreamOptions are the child's flags.
type upstreamOptions struct {
	caches     int
	slow       time.Duration
	terminalAt int64
	batchSize  int
	gomaxprocs int
}

func (o upstreamOptions) args() []string {
	return []string{serveUpstreamsFlag,
		"--caches", strconv.Itoa(o.caches),
		"--slow", o.slow.String(),
		"--terminal-at", strconv.FormatInt(o.terminalAt, 10),
		"--batch-size", strconv.Itoa(o.batchSize),
		"--gomaxprocs", strconv.Itoa(o.gomaxprocs),
	}
}

// hello is the child's first and only line on stdout.
type hello struct {
	Control   string     `json:"control"` // base URL of the control server
	Upstreams []endpoint `json:"upstreams"`
}

// serveUpstreams is the upstream process: args are the flags after
// --serve-upstreams. It returns when stdin reaches its end.
func serveUpstreams(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("soak "+serveUpstreamsFlag, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o upstreamOptions
	fs.IntVar(&o.caches, "caches", 4, "upstreams, one per cache")
	fs.DurationVar(&o.slow, "slow", time.Second, "how long a slow upstream sleeps")
	fs.Int64Var(&o.terminalAt, "terminal-at", 4, "the version at which a healthy upstream makes an item terminal")
	fs.IntVar(&o.batchSize, "batch-size", batchSize, "the largest batch allowed")
	fs.IntVar(&o.gomaxprocs, "gomaxprocs", 1, "GOMAXPROCS of this process (0: the Go default)")
	if err := fs.Parse(args); err != nil {
		return exitSetup
	}
	if o.gomaxprocs > 0 {
		runtime.GOMAXPROCS(o.gomaxprocs)
	}
	if o.caches < 1 || o.slow <= 0 || o.batchSize < 1 {
		fmt.Fprintln(stderr, "soak upstreams: bad flags")
		return exitSetup
	}
	g := newUpstreamGroup(o.caches, o.slow, o.terminalAt, o.batchSize)
	defer g.close()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /flap", func(w http.ResponseWriter, r *http.Request) {
		phase, err := time.ParseDuration(r.URL.Query().Get("phase"))
		if err != nil || phase <= 0 {
			http.Error(w, "phase: want a positive duration", http.StatusBadRequest)
			return
		}
		g.startFlap(phase)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /heal", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, struct {
			Steps int `json:"steps"`
		}{g.healAll()})
	})
	mux.HandleFunc("POST /close-conns", func(w http.ResponseWriter, r *http.Request) {
		g.closeClientConns()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, upstreamStatus{Upstreams: g.stats(), CPUSeconds: selfCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0)})
	})
	ctrl := httptest.NewServer(mux) // 127.0.0.1:0
	defer ctrl.Close()

	b, _ := json.Marshal(hello{Control: ctrl.URL, Upstreams: g.endpoints()})
	if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
		return exitSetup
	}
	// The soak never writes; the end of stdin is the end of the soak.
	_, _ = io.Copy(io.Discard, stdin)
	return exitOK
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// upstreamProc is the upstream process, seen from the soak.
type upstreamProc struct {
	cmd     *exec.Cmd
	stdin   *os.File // closing it ends the child
	stdout  *os.File
	errPath string
	hello   hello
	done    chan struct{} // closed when the process has been reaped
	waitErr error         // valid once done is closed
}

// startUpstreamProc runs this executable again as the upstream process and
// waits for its hello line. Its stderr goes to upstreams.stderr in workDir.
func startUpstreamProc(ctx context.Context, workDir string, o upstreamOptions) (*upstreamProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("upstream process: %w", err)
	}
	p := &upstreamProc{errPath: filepath.Join(workDir, "upstreams.stderr"), done: make(chan struct{})}
	errf, err := os.OpenFile(p.errPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer errf.Close()
	// Plain pipes, not cmd.StdinPipe/StdoutPipe: Wait must not close them
	// under us.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	p.cmd = exec.Command(exe, o.args()...)
	p.cmd.Env = serverEnv() // without GOMAXPROCS: the child sets its own
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = inR, outW, errf
	p.cmd.SysProcAttr = childAttr()
	err = p.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start the upstream process: %w", err)
	}
	p.stdin, p.stdout = inW, outR
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()

	lines := make(chan []byte, 1)
	go func() {
		line, _ := bufio.NewReader(outR).ReadBytes('\n') // EOF if the child dies
		lines <- line
	}()
	fail := func(err error) (*upstreamProc, error) {
		p.close()
		return nil, err
	}
	select {
	case line := <-lines:
		if err := json.Unmarshal(line, &p.hello); err != nil || p.hello.Control == "" || len(p.hello.Upstreams) != o.caches {
			<-p.waitOrTimeout(2 * time.Second)
			return fail(fmt.Errorf("the upstream process did not say where it listens (line %q, exit %v); stderr: %s", line, p.exitText(), tail(p.errPath, 2000)))
		}
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-time.After(30 * time.Second):
		return fail(fmt.Errorf("the upstream process did not say where it listens within 30s; stderr: %s", tail(p.errPath, 2000)))
	}
	return p, nil
}

func (p *upstreamProc) waitOrTimeout(d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		select {
		case <-p.done:
		case <-time.After(d):
		}
	}()
	return ch
}

func (p *upstreamProc) exitText() string {
	select {
	case <-p.done:
		return fmt.Sprint(p.waitErr)
	default:
		return "still running"
	}
}

func (p *upstreamProc) pid() int { return p.cmd.Process.Pid }

func (p *upstreamProc) endpoints() []endpoint   { return p.hello.Upstreams }
func (p *upstreamProc) exited() <-chan struct{} { return p.done }

func (p *upstreamProc) startFlap(ctx context.Context, phase time.Duration) error {
	return p.call(ctx, http.MethodPost, "/flap?phase="+url.QueryEscape(phase.String()), nil)
}

func (p *upstreamProc) healAll(ctx context.Context) (int, error) {
	var out struct {
		Steps int `json:"steps"`
	}
	err := p.call(ctx, http.MethodPost, "/heal", &out)
	return out.Steps, err
}

func (p *upstreamProc) closeClientConns(ctx context.Context) error {
	return p.call(ctx, http.MethodPost, "/close-conns", nil)
}

func (p *upstreamProc) stats(ctx context.Context) (upstreamStatus, error) {
	var st upstreamStatus
	err := p.call(ctx, http.MethodGet, "/stats", &st)
	return st, err
}

// call makes one control request; out, if not nil, receives the JSON reply.
func (p *upstreamProc) call(ctx context.Context, method, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.hello.Control+path, nil)
	if err != nil {
		return err
	}
	res, err := oneShotClient.Do(req)
	if err != nil {
		return fmt.Errorf("upstream process: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1000))
		return fmt.Errorf("upstream process: %s %s: status %d: %s", method, path, res.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("upstream process: %s %s: %w", method, path, err)
	}
	return nil
}

// close ends the child by closing its stdin, and kills it if it has not
// exited within 5 s. It is safe to call more than once.
func (p *upstreamProc) close() {
	if p.stdin != nil {
		p.stdin.Close()
		p.stdin = nil
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	if p.stdout != nil {
		p.stdout.Close()
		p.stdout = nil
	}
}

// errUpstreamsExited is the cause when the upstream process dies mid-run.
var errUpstreamsExited = errors.New("the upstream process exited during the soak")
