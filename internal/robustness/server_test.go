package robustness

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildServer compiles cmd/server into the test's temporary directory, so
// the checks run the very binary that ships.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "autorefresh")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/autorefresh/autorefresh/cmd/server").CombinedOutput()
	if err != nil {
		t.Fatalf("go build cmd/server: %v\n%s", err, out)
	}
	return bin
}

// server is one run of the binary as a child process.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port
	log  *logWriter
	// waitExit has the result of cmd.Wait, which a goroutine started with
	// the process runs, so that no goroutine outlives the process.
	waitExit chan error
	stopped  bool
}

// mode is how a server stores its state: args and environment for the
// binary. The same mode restarts on the same state.
type mode struct {
	name string
	args []string
	env  []string
}

func boltMode(dir string) mode {
	return mode{name: "bolt", args: []string{"--data-dir", dir}}
}

// pgMode passes the URL in the environment, as the README recommends.
func pgMode(url string) mode {
	return mode{name: "postgres", env: []string{"AUTOREFRESH_POSTGRES_URL=" + url}}
}

// startServer runs the binary on a free loopback port and waits until it
// says it is listening.
func startServer(t *testing.T, bin string, m mode) *server {
	t.Helper()
	args := append([]string{"--addr", "127.0.0.1:0", "--allow-webhook-cidrs", "127.0.0.0/8",
		"--shutdown-timeout", "5s"}, m.args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), m.env...)
	lw := &logWriter{addr: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = lw, lw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, log: lw}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case a := <-lw.addr:
		s.base = "http://" + a
		s.waitExit = exited
		// A test that fails half-way leaves no process behind.
		t.Cleanup(func() {
			if !s.stopped {
				cmd.Process.Kill()
				<-exited
			}
		})
		return s
	case err := <-exited:
		t.Fatalf("%s server exited before listening: %v\n%s", m.name, err, lw.tail())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("%s server did not listen within 30s\n%s", m.name, lw.tail())
	}
	return nil
}

// stop ends the server with sig: SIGKILL at once, or SIGTERM, after which
// the server must exit 0 within its shutdown timeout. A server that does not
// is killed, and that is a failure of the test.
func (s *server) stop(sig syscall.Signal) {
	s.t.Helper()
	s.stopped = true
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v: %v", sig, err)
	}
	if sig == syscall.SIGKILL {
		<-s.waitExit
		return
	}
	select {
	case err := <-s.waitExit:
		if err != nil {
			s.t.Errorf("after SIGTERM the server exited with %v, want 0\n%s", err, s.log.tail())
		}
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.waitExit
		s.t.Errorf("the server did not exit within 20s of SIGTERM (shutdown timeout 5s); killed\n%s", s.log.tail())
	}
}

// logWriter keeps the server's log for failure messages and finds the
// address it listens on.
type logWriter struct {
	addr chan string

	mu     sync.Mutex
	buf    bytes.Buffer
	lines  []string
	errors []string // error lines, which a correct run has none of
	found  bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			// An incomplete line waits for the rest.
			w.buf.Reset()
			w.buf.WriteString(line)
			break
		}
		w.lines = append(w.lines, strings.TrimSpace(line))
		if len(w.lines) > 200 {
			w.lines = w.lines[len(w.lines)-200:]
		}
		var l struct{ Level, Msg, Addr string }
		if strings.Contains(line, `"level":"error"`) && len(w.errors) < 20 {
			w.errors = append(w.errors, strings.TrimSpace(line))
		}
		if !w.found && json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" {
			w.found = true
			w.addr <- l.Addr
		}
	}
	return len(p), nil
}

// tail is the end of the log.
func (w *logWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := w.lines
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// errorLines are the error lines the server logged.
func (w *logWriter) errorLines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.errors...)
}
