package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// certFiles writes a self-signed certificate for 127.0.0.1 with the given
// serial, and its key, as PEM files in dir, replacing any there by rename
// (as renewal tools do). Ed25519 and fixed validity times make every
// certificate of a test the same size, so that a test can hide a change from
// the poll (same size, old mtime) and see that SIGHUP alone picks it up.
func certFiles(t *testing.T, dir string, serial int64, notBefore time.Time) (certFile, keyFile string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		// 1<<40 + serial: the same number of bytes for every serial used.
		SerialNumber: big.NewInt(1<<40 + serial),
		Subject:      pkix.Name{CommonName: "autorefresh test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	replaceFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	replaceFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return certFile, keyFile
}

func replaceFile(t *testing.T, name string, data []byte) {
	t.Helper()
	tmp := name + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// handshake connects with TLS versions min to max and returns the served
// certificate's serial (less the 1<<40 of certFiles).
func handshake(addr string, min, max uint16) (int64, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{
		MinVersion: min, MaxVersion: max,
		// The certificates are self-signed; the test checks which one is
		// served, not whether it is trusted.
		InsecureSkipVerify: true, //nolint:gosec
	})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64() - 1<<40, nil
}

// A pair that does not load ends run with an error naming the flags before
// the storage is opened and before "listening" is logged.
func TestBadCertPairStopsTheStartBeforeAnything(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Add(-time.Hour)
	certA, keyA := certFiles(t, filepath.Join(mkdir(t, dir, "a")), 1, now)
	_, keyB := certFiles(t, filepath.Join(mkdir(t, dir, "b")), 2, now)
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{
		"key of another certificate": {"--tls-cert", certA, "--tls-key", keyB},
		"not PEM":                    {"--tls-cert", garbage, "--tls-key", keyA},
		"missing key":                {"--tls-cert", certA, "--tls-key", filepath.Join(dir, "none.pem")},
		"key as certificate":         {"--tls-cert", keyA, "--tls-key", keyA},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			var logs bytes.Buffer
			err := run(context.Background(), append([]string{"autorefresh", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, args...),
				func(string) string { return "" }, &logs, noExit(t))
			if err == nil || !strings.Contains(err.Error(), "--tls-cert") {
				t.Fatalf("run: %v, want an error naming --tls-cert", err)
			}
			if strings.Contains(logs.String(), `"listening"`) {
				t.Errorf("logged listening before failing:\n%s", logs.String())
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the storage was opened before the certificate was checked: %v", err)
			}
		})
	}
	t.Run("real binary", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds and runs the real binary")
		}
		cmd := exec.Command(buildServer(t), "--addr", "127.0.0.1:0", "--in-memory", "--tls-cert", certA, "--tls-key", keyB)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Fatalf("exit: %v, want a non-zero status", err)
		}
		if !strings.Contains(stderr.String(), "--tls-cert") || strings.Contains(stdout.String(), `"listening"`) {
			t.Fatalf("after %v: stderr %q, stdout %q", time.Since(start), stderr.String(), stdout.String())
		}
	})
}

func mkdir(t *testing.T, parent, name string) string {
	t.Helper()
	d := filepath.Join(parent, name)
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTLSMinVersion(t *testing.T) {
	certFile, keyFile := certFiles(t, t.TempDir(), 1, time.Now().Add(-time.Hour))
	for _, c := range []struct {
		flag              []string
		refused, accepted uint16
	}{
		{nil, tls.VersionTLS11, tls.VersionTLS12},
		{[]string{"--tls-min-version", "1.3"}, tls.VersionTLS12, tls.VersionTLS13},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		s := startRun(t, ctx, t.TempDir(), append([]string{"--tls-cert", certFile, "--tls-key", keyFile}, c.flag...)...)
		if _, err := handshake(s.addr, tls.VersionTLS10, c.refused); err == nil {
			t.Errorf("%v: a client of TLS %x at most was accepted", c.flag, c.refused)
		}
		if _, err := handshake(s.addr, c.accepted, c.accepted); err != nil {
			t.Errorf("%v: a client of TLS %x: %v", c.flag, c.accepted, err)
		}
		cancel()
		if err := <-s.done; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := parseConfig([]string{"x", "--tls-min-version", "1.1"}, func(string) string { return "" }, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "--tls-min-version") {
		t.Errorf("--tls-min-version 1.1: %v", err)
	}
	cfg, err := parseConfig([]string{"x"}, func(k string) string { return map[string]string{"AUTOREFRESH_TLS_MIN_VERSION": "1.3"}[k] }, io.Discard)
	if err != nil || cfg.tlsMinVersion != tls.VersionTLS13 {
		t.Errorf("AUTOREFRESH_TLS_MIN_VERSION=1.3: %v, %x", err, cfg.tlsMinVersion)
	}
}

// The real binary switches its certificate when the files are replaced, and
// on SIGHUP; a bad pair is logged and the one in use kept; SIGHUP never
// stops the server.
func TestCertificateReload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	dir := t.TempDir()
	notBefore := time.Now().Add(-time.Hour).Truncate(time.Second)
	certFile, keyFile := certFiles(t, dir, 1, notBefore)
	p := startProc(t, buildServer(t), "--in-memory", "--tls-cert", certFile, "--tls-key", keyFile)
	exited := make(chan error, 1)
	go func() { exited <- p.wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-exited
	})
	waitSerial := func(want int64, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			got, err := handshake(p.addr, tls.VersionTLS12, tls.VersionTLS13)
			if err == nil && got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("serving serial %d (%v) after %v, want %d", got, err, within, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitSerial(1, time.Second)

	// A renewal tool replaces the files: the poll sees it.
	certFiles(t, dir, 2, notBefore)
	waitSerial(2, 3*certPollInterval)

	// A bad pair (the key of another certificate) is refused; 2 stays.
	old, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	other := mkdir(t, dir, "other")
	_, otherKey := certFiles(t, other, 9, notBefore)
	bad, err := os.ReadFile(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, keyFile, bad)
	p.waitLog(t, "TLS certificate not reloaded; still serving the previous one")
	waitSerial(2, time.Second)
	replaceFile(t, keyFile, old)

	// A change the poll cannot see (same sizes, the old modification
	// times): only SIGHUP picks it up.
	stat := func(name string) time.Time {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime()
	}
	waitSerial(2, time.Second)
	time.Sleep(2 * certPollInterval) // the poll has seen the key restored
	certMod, keyMod := stat(certFile), stat(keyFile)
	certFiles(t, dir, 3, notBefore)
	for name, mod := range map[string]time.Time{certFile: certMod, keyFile: keyMod} {
		if err := os.Chtimes(name, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * certPollInterval)
	waitSerial(2, time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitSerial(3, 5*time.Second)
	select {
	case err := <-exited:
		t.Fatalf("the server exited on SIGHUP: %v", err)
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.logs {
		if l["msg"] == "shutting down" || l["msg"] == "signal received" {
			t.Fatalf("SIGHUP was taken for a shutdown: %v", l)
		}
	}
}
