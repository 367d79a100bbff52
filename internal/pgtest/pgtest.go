// Package pgtest starts real PostgreSQL servers for tests, from the Debian
// binaries in BinDir. A test binary shares one cluster (started on first use,
// stopped by Main) and gets a fresh database per test from NewDB; a test that
// stops and starts its server to simulate an outage makes a cluster of its own
// with NewCluster.
//
// initdb refuses to run as root, so as root every PostgreSQL command runs as
// the postgres user (runuser) in a temporary directory that user owns. The
// server listens on 127.0.0.1 only, on a free port, with its Unix socket
// inside that directory, and with fsync on.
//
// Tests are skipped, loudly, only when the binaries are not installed; any
// other failure to start PostgreSQL fails the test.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinDir is where the server binaries are: PGTEST_BIN_DIR if set, else
// Debian's /usr/lib/postgresql/15/bin (bookworm's postgresql package) if it
// is there, else the newest /usr/lib/postgresql/*/bin.
var BinDir = findBinDir()

func findBinDir() string {
	if d := os.Getenv("PGTEST_BIN_DIR"); d != "" {
		return d
	}
	const debian15 = "/usr/lib/postgresql/15/bin"
	if _, err := os.Stat(filepath.Join(debian15, "initdb")); err == nil {
		return debian15
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	best, bestV := debian15, 0
	for _, d := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(d))))
		if err == nil && v > bestV {
			best, bestV = filepath.Dir(d), v
		}
	}
	return best
}

// Available reports whether the PostgreSQL binaries are installed, and if
// not, why not.
func Available() (bool, string) {
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(BinDir, b)); err != nil {
			return false, fmt.Sprintf("%s not found in %s (apt-get install postgresql)", b, BinDir)
		}
	}
	return true, ""
}

// Cluster is one PostgreSQL server with its own data directory.
type Cluster struct {
	dir  string // owned by the server's user; holds data/, the socket and the log
	port int
	asPG bool // run commands as the postgres user (we are root)
	uid  int
	gid  int

	mu      sync.Mutex
	running bool
	dbs     atomic.Int64
}

// NewCluster runs initdb in a new temporary directory and starts the server.
// Close stops it and removes the directory.
func NewCluster() (*Cluster, error) {
	if ok, why := Available(); !ok {
		return nil, errors.New(why)
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, uid: -1, gid: -1}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: running as root needs a postgres user: %w", err)
		}
		c.asPG = true
		c.uid, _ = strconv.Atoi(u.Uid)
		c.gid, _ = strconv.Atoi(u.Gid)
		if err := os.Chown(dir, c.uid, c.gid); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	if c.port, err = FreePort(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if out, err := c.command("initdb", "-D", c.dataDir(), "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %v: %s", err, out)
	}
	conf := fmt.Sprintf(`
port = %d
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
fsync = on
max_connections = 300
shared_buffers = 64MB
log_min_messages = warning
log_min_error_statement = panic
`, c.port, c.dir)
	f, err := os.OpenFile(filepath.Join(c.dataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(conf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := c.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// LogFile is the server's log.
func (c *Cluster) LogFile() string { return filepath.Join(c.dir, "server.log") }

// Port is the TCP port the server listens on; it stays the same across Stop
// and Start.
func (c *Cluster) Port() int { return c.port }

// command builds a PostgreSQL command, run as the postgres user when we are
// root.
func (c *Cluster) command(bin string, args ...string) *exec.Cmd {
	path := filepath.Join(BinDir, bin)
	if c.asPG {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// Start starts the server (again) and waits until it accepts connections.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return nil
	}
	if c.asPG {
		// The log file is created by pg_ctl as postgres; make sure a stale
		// one is writable.
		if _, err := os.Stat(c.LogFile()); err == nil {
			_ = os.Chown(c.LogFile(), c.uid, c.gid)
		}
	}
	out, err := c.command("pg_ctl", "-D", c.dataDir(), "-l", c.LogFile(), "-w", "-t", "60", "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl start: %v: %s\n%s", err, out, c.logTail())
	}
	c.running = true
	return c.waitReady(30 * time.Second)
}

// Stop stops the server. mode is pg_ctl's: "fast" (disconnect clients, clean
// shutdown), "immediate" (abort at once, as a crash would; the next Start
// recovers from the WAL) or "smart".
func (c *Cluster) Stop(mode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	out, err := c.command("pg_ctl", "-D", c.dataDir(), "-m", mode, "-w", "-t", "60", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop -m %s: %v: %s", mode, err, out)
	}
	c.running = false
	return nil
}

// Close stops the server and removes its directory.
func (c *Cluster) Close() error {
	err := c.Stop("fast")
	if rerr := os.RemoveAll(c.dir); err == nil {
		err = rerr
	}
	return err
}

// URL is the connection URL of database db.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// CreateDatabase creates a new, empty database and returns its URL.
func (c *Cluster) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), c.dbs.Add(1))
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	return c.URL(name), nil
}

func (c *Cluster) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			err = conn.Ping(ctx)
			_ = conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: server not ready after %s: %w\n%s", timeout, err, c.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(c.LogFile())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// FreePort returns a loopback port that was free a moment ago, for a
// server started by a test or a dev tool (another process may take it
// before it is used: callers retry or fail loudly).
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// The cluster shared by the tests of one test binary.
var (
	sharedMu  sync.Mutex
	shared    *Cluster
	sharedErr error
)

// Main runs the tests of a package and then stops the shared cluster, if
// any test started it. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	sharedMu.Lock()
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
		shared = nil
	}
	sharedMu.Unlock()
	os.Exit(code)
}

// SkipIfUnavailable skips the test, loudly, when PostgreSQL is not installed.
func SkipIfUnavailable(t testing.TB) {
	t.Helper()
	if ok, why := Available(); !ok {
		t.Skip("POSTGRESQL TESTS SKIPPED: " + why)
	}
}

// Shared returns the test binary's shared cluster, starting it on first use.
// Use it only from packages whose TestMain calls Main.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	SkipIfUnavailable(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		shared, sharedErr = NewCluster()
	}
	if sharedErr != nil {
		t.Fatalf("pgtest: %v", sharedErr)
	}
	return shared
}

// NewDB creates a fresh database on the shared cluster and returns its URL.
func NewDB(t testing.TB) string {
	t.Helper()
	c := Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return url
}

// Own returns a cluster of the test's own, closed when the test ends. Use it
// for tests that stop and start the server.
func Own(t testing.TB) *Cluster {
	t.Helper()
	SkipIfUnavailable(t)
	c, err := NewCluster()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return c
}

// Exec runs SQL on the database at url, for test setup and inspection.
func Exec(ctx context.Context, url, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// QueryRow runs a query that returns one row on the database at url and
// scans it into dest, for test inspection.
func QueryRow(ctx context.Context, url, sql string, dest any, args ...any) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(ctx, sql, args...).Scan(dest)
}

// InTx runs f in a transaction on a connection of its own to the database
// at url, and commits if f returns nil. Tests use it to hold locks.
func InTx(ctx context.Context, url string, f func(pgx.Tx) error) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return pgx.BeginFunc(ctx, conn, f)
}
