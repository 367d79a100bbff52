package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// certPollInterval is how often the certificate files are looked at for a
// change. A few seconds: a renewal tool that replaces the files is picked
// up soon, and two stat calls every few seconds cost nothing.
const certPollInterval = 2 * time.Second

// certReloader holds the serving certificate and swaps it when the files
// change or on SIGHUP. Handshakes read it through GetCertificate, so a new
// certificate applies to new connections without a restart; connections
// already open keep theirs.
type certReloader struct {
	certFile, keyFile string
	log               *zap.Logger
	cert              atomic.Pointer[tls.Certificate]
}

// newCertReloader loads the pair once, so that a bad pair stops the start
// before anything else is opened.
func newCertReloader(certFile, keyFile string, log *zap.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	c, err := loadCertPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.cert.Store(c)
	r.logLoaded("TLS certificate loaded", c)
	return r, nil
}

// loadCertPair reads and checks the pair: both files PEM, the key the
// certificate's, and the certificate parseable.
func loadCertPair(certFile, keyFile string) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s and --tls-key %s: %w", certFile, keyFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("--tls-cert %s: %w", certFile, err)
		}
	}
	return &c, nil
}

func (r *certReloader) logLoaded(msg string, c *tls.Certificate, more ...zap.Field) {
	fields := append([]zap.Field{zap.String("file", r.certFile), zap.Strings("dnsNames", c.Leaf.DNSNames),
		zap.String("serial", c.Leaf.SerialNumber.String()), zap.Time("notAfter", c.Leaf.NotAfter)}, more...)
	if now := time.Now(); now.After(c.Leaf.NotAfter) || now.Before(c.Leaf.NotBefore) {
		// Served anyway: refusing to start would not make clients trust it
		// sooner, and the operator may be replacing it right now.
		r.log.Warn(msg+", but it is not valid now", fields...)
		return
	}
	r.log.Info(msg, fields...)
}

// getCertificate is tls.Config.GetCertificate.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// reload loads the pair again. A pair that does not load (a renewal half
// written, a key that does not match) is logged and the certificate in use
// is kept: serving the old one beats serving none.
func (r *certReloader) reload(reason string) {
	c, err := loadCertPair(r.certFile, r.keyFile)
	if err != nil {
		r.log.Error("TLS certificate not reloaded; still serving the previous one", zap.String("reason", reason), zap.Error(err))
		return
	}
	r.cert.Store(c)
	r.logLoaded("TLS certificate reloaded", c, zap.String("reason", reason))
}

// fileStamp is what the poll compares: a replaced or rewritten file
// changes its modification time or its size.
type fileStamp struct {
	mod  int64 // UnixNano: comparable with ==
	size int64
	err  bool
}

func (r *certReloader) stamps() [2]fileStamp {
	var s [2]fileStamp
	for i, name := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			s[i].err = true
			continue
		}
		s[i] = fileStamp{mod: fi.ModTime().UnixNano(), size: fi.Size()}
	}
	return s
}

// watch reloads on a value from hup and whenever a poll every interval sees
// either file changed, until stop returns. It runs in a goroutine of its
// own.
func (r *certReloader) watch(hup <-chan os.Signal, interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		last := r.stamps()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				last = r.stamps()
				r.reload("SIGHUP")
			case <-t.C:
				s := r.stamps()
				if s == last {
					continue
				}
				last = s
				if s[0].err || s[1].err {
					// Mid-replacement (removed, not yet renamed in): the
					// next poll sees the new files.
					continue
				}
				r.reload("files changed")
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

// tlsConfig is the server's TLS configuration: the certificate from r and
// no version older than min.
func tlsConfig(r *certReloader, min uint16) *tls.Config {
	return &tls.Config{MinVersion: min, GetCertificate: r.getCertificate}
}
