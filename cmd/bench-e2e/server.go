package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/autorefresh/autorefresh/internal/pgtest"
)

// serverProc is the server binary running as a subprocess on a fixed
// loopback address, so that it can be started again on the same one.
type serverProc struct {
	bin     string
	addr    string
	args    []string
	logPath string

	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process is reaped
	waitErr error         // valid once exited is closed
}

// serverEnv is this process's environment without what would change how
// the server runs: its own AUTOREFRESH_* settings (a token file or TLS
// setting from the caller's shell must not leak in) and GOMAXPROCS.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AUTOREFRESH_") || strings.HasPrefix(kv, "GOMAXPROCS=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// newServer prepares bin on a free loopback port with storage args (e.g.
// --in-memory); its stdout and stderr are appended to logPath.
func newServer(bin, logPath, logLevel string, storage ...string) (*serverProc, error) {
	port, err := pgtest.FreePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := append([]string{
		"--addr", addr,
		"--allow-webhook-cidrs", "127.0.0.0/8",
		"--log-level", logLevel,
		"--shutdown-timeout", "10s",
	}, storage...)
	return &serverProc{bin: bin, addr: addr, args: args, logPath: logPath}, nil
}

// start runs the binary and waits until /readyz answers 200; it returns
// the time from starting the process to that answer.
func (p *serverProc) start(ctx context.Context, client *http.Client) (time.Duration, error) {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logf.Close() // the child has its own copy
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Env = serverEnv()
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	// Its own process group keeps a terminal's Ctrl-C from reaching it
	// before we stop it in order; the kernel kills it if we die.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	if err := p.cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", p.bin, err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		p.waitErr = cmd.Wait()
		close(exited)
	}(p.cmd, p.exited)
	if err := p.waitReady(ctx, client, 60*time.Second); err != nil {
		p.kill()
		return 0, err
	}
	return time.Since(t0), nil
}

// waitReady polls /readyz every 5ms until it answers 200.
func (p *serverProc) waitReady(ctx context.Context, client *http.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	url := "http://" + p.addr + "/readyz"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if res, err := client.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("server exited before it was ready (%v); see %s", p.waitErr, p.logPath)
		case <-ctx.Done():
			return fmt.Errorf("server not ready: %w; see %s", ctx.Err(), p.logPath)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits for the process to exit, killing it after
// timeout; it returns how long the exit took.
func (p *serverProc) stop(timeout time.Duration) (time.Duration, error) {
	if p.cmd == nil {
		return 0, nil
	}
	t0 := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.kill()
		return 0, err
	}
	select {
	case <-p.exited:
		took := time.Since(t0)
		p.cmd = nil
		if p.waitErr != nil {
			return took, fmt.Errorf("server exited after SIGTERM: %w; see %s", p.waitErr, p.logPath)
		}
		return took, nil
	case <-time.After(timeout):
		p.kill()
		return 0, fmt.Errorf("server still running %s after SIGTERM; killed", timeout)
	}
}

// kill stops the process at once, if it runs, and waits for it.
func (p *serverProc) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	p.cmd = nil
}

// cpuSeconds is the CPU time, user and system, the process has used.
func (p *serverProc) cpuSeconds() (float64, error) {
	if p.cmd == nil {
		return 0, errors.New("server not running")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields start
	// after its closing parenthesis, with field 3 (state) first.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", p.cmd.Process.Pid)
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const hz = 100 // USER_HZ
	return (utime + stime) / hz, nil
}

// rssBytes is the process's resident set size (VmRSS).
func (p *serverProc) rssBytes() (int64, error) {
	if p.cmd == nil {
		return 0, errors.New("server not running")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}

// loadAvg is the first three fields of /proc/loadavg, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
