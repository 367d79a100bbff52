package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// serverProc is the real server binary running as a subprocess. Its stdout
// (the JSON log, one access-log line per request) goes to server.log in the
// work directory, its stderr to server.stderr.
type serverProc struct {
	cmd     *exec.Cmd
	addr    string
	logPath string
	errPath string
	exited  chan struct{} // closed when the process has been reaped
	waitErr error         // valid once exited is closed
	started time.Time
}

// serverEnv is the soak's environment without what would change how the
// server runs: its own AUTOREFRESH_* settings (flags win over them, but a
// token file or TLS setting from the caller's shell must not leak in), and
// GOMAXPROCS, which may be set to hold the load generator to one CPU and
// must not hold the server too.
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

// startServer runs bin listening on 127.0.0.1:0 with its data in dataDir and
// waits for its "listening" log line, which names the address. With
// logMode "discard" the access-log lines are dropped on the way to
// server.log (the others are kept), to measure what writing them costs.
func startServer(ctx context.Context, bin, workDir, dataDir, logMode string, extra []string) (*serverProc, error) {
	p := &serverProc{
		logPath: filepath.Join(workDir, "server.log"),
		errPath: filepath.Join(workDir, "server.stderr"),
		exited:  make(chan struct{}),
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	errf, err := os.OpenFile(p.errPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		logf.Close()
		return nil, err
	}
	defer errf.Close()
	args := []string{
		"--addr", "127.0.0.1:0",
		"--allow-webhook-cidrs", "127.0.0.0/8",
		"--data-dir", dataDir,
		"--log-level", "info",
		"--shutdown-timeout", "10s",
	}
	p.cmd = exec.Command(bin, append(args, extra...)...)
	p.cmd.Env = serverEnv()
	p.cmd.Stderr = errf
	p.cmd.SysProcAttr = childAttr()
	var pr, pw *os.File
	if logMode == "discard" {
		if pr, pw, err = os.Pipe(); err != nil {
			logf.Close()
			return nil, err
		}
		p.cmd.Stdout = pw
	} else {
		p.cmd.Stdout = logf
	}
	err = p.cmd.Start()
	if pw != nil {
		pw.Close()
	}
	if err != nil {
		logf.Close()
		if pr != nil {
			pr.Close()
		}
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p.started = time.Now()
	copied := make(chan struct{})
	if pr != nil {
		go func() {
			defer close(copied)
			defer pr.Close()
			defer logf.Close()
			filterAccessLog(pr, logf)
		}()
	} else {
		logf.Close()
		close(copied)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		<-copied
		close(p.exited)
	}()
	addr, err := p.waitListening(ctx, 30*time.Second)
	if err != nil {
		p.kill()
		return nil, err
	}
	p.addr = addr
	return p, nil
}

// filterAccessLog copies the log lines from r to w, except access-log lines.
func filterAccessLog(r io.Reader, w io.Writer) {
	br := bufio.NewReaderSize(r, 1<<20)
	access := []byte(`"msg":"request"`)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && !bytes.Contains(line, access) {
			_, _ = w.Write(line)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return // a line longer than the buffer comes in pieces
		}
	}
}

// waitListening tails the log file until the server logs
// {"msg":"listening","addr":...}, the process exits, or the timeout ends.
func (p *serverProc) waitListening(ctx context.Context, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	var offset int64
	var partial []byte
	for {
		f, err := os.Open(p.logPath)
		if err != nil {
			return "", err
		}
		if _, err := f.Seek(offset, 0); err != nil {
			f.Close()
			return "", err
		}
		var chunk bytes.Buffer
		n, _ := chunk.ReadFrom(f)
		f.Close()
		offset += n
		partial = append(partial, chunk.Bytes()...)
		for {
			i := bytes.IndexByte(partial, '\n')
			if i < 0 {
				break
			}
			line := partial[:i]
			partial = partial[i+1:]
			var l struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(line, &l) == nil && l.Msg == "listening" && l.Addr != "" {
				return l.Addr, nil
			}
		}
		select {
		case <-p.exited:
			return "", fmt.Errorf("the server exited before listening (%v); stderr: %s; log: %s",
				p.waitErr, tail(p.errPath, 2000), tail(p.logPath, 2000))
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the server did not log its listening line within %v; log: %s", timeout, tail(p.logPath, 2000))
		}
	}
}

// running reports whether the process is still up.
func (p *serverProc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits up to timeout for the exit, then kills. It
// returns how long the exit took and the exit error (nil for status 0).
func (p *serverProc) stop(timeout time.Duration) (time.Duration, error) {
	if !p.running() {
		return 0, fmt.Errorf("the server had already exited: %v", p.waitErr)
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	select {
	case <-p.exited:
		return time.Since(start), p.waitErr
	case <-time.After(timeout):
		p.kill()
		return time.Since(start), fmt.Errorf("no exit within %v of SIGTERM; killed", timeout)
	}
}

// kill ends the process at once, if it still runs, and reaps it.
func (p *serverProc) kill() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil || !p.running() {
		return
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
	}
}

// tail returns the last n bytes of a file, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "(" + err.Error() + ")"
	}
	off := max(0, st.Size()-n)
	if _, err := f.Seek(off, 0); err != nil {
		return "(" + err.Error() + ")"
	}
	var b bytes.Buffer
	_, _ = b.ReadFrom(f)
	return strings.TrimSpace(b.String())
}

// logStats counts the server log's lines by level, and keeps the first few
// lines above info (sync failures are logged at warn or error and expected
// here; anything else, such as a panic, is worth reading).
type logStats struct {
	lines    int
	byLevel  map[string]int
	byMsg    map[string]int // messages of lines above info
	panics   int
	firstBad []string
}

func readLogStats(path string) (logStats, error) {
	st := logStats{byLevel: map[string]int{}, byMsg: map[string]int{}}
	f, err := os.Open(path)
	if err != nil {
		return st, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		st.lines++
		line := sc.Bytes()
		var l struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(line, &l) != nil {
			st.byLevel["(not JSON)"]++
			if len(st.firstBad) < 5 {
				st.firstBad = append(st.firstBad, string(line))
			}
			continue
		}
		st.byLevel[l.Level]++
		if l.Level != "info" && l.Level != "debug" {
			st.byMsg[l.Msg]++
		}
		if strings.Contains(l.Msg, "panic") {
			st.panics++
			if len(st.firstBad) < 5 {
				st.firstBad = append(st.firstBad, string(line))
			}
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		return st, err
	}
	return st, nil
}
