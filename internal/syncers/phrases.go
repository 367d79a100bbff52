package syncers

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/autorefresh/autorefresh/internal/egress"
)

// An Error's text is what a cache shows as its lastError, to every reader
// and on the dashboard, and what the log says. So it is built from fixed
// phrases, status codes and numbers of our own only: never from a library's
// error text, which quotes what the upstream sent (Go's HTTP transport puts
// a malformed header line in its error, up to ~60 KB of it) and can echo a
// configured header or URL token. Redaction is then a matter of structure:
// a secret cannot be in a message that never takes outside text.

// transportPhrase names what went wrong with a connection in a fixed
// phrase. The cause itself stays in Error.cause for errors.Is and errors.As.
func transportPhrase(err error) string {
	var dns *net.DNSError
	var rec tls.RecordHeaderError
	var verify *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.Is(err, egress.ErrRefused):
		return "the address is refused by the egress policy"
	case errors.As(err, &dns):
		return "the host name could not be resolved"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by the upstream"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to the upstream"
	case errors.As(err, &rec), errors.As(err, &verify), errors.As(err, &unknownAuthority), errors.As(err, &hostname):
		return "the TLS handshake failed"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the upstream closed the connection before the reply was complete"
	case strings.Contains(err.Error(), "malformed"):
		// Only looked at, never copied: net/http's parse errors of a
		// status line or header have no type of their own.
		return "the reply's status line or headers are malformed"
	}
	return "the HTTP exchange failed"
}

// failureLogEvery is how often a cache may log a line about its failing
// webhook: an upstream that is down fails at every batch, and a line each
// would let it fill the disk (tens of thousands of lines in ten seconds).
const failureLogEvery = 10 * time.Second

// logSampler lets one line through per interval and counts the rest, so
// the next line can say how many were left out.
//
// Locking: mu guards every field; the log itself is written outside it.
type logSampler struct {
	mu         sync.Mutex
	next       time.Time // the earliest time of the next line
	suppressed int
}

// admit reports whether a line may be written now and, if so, how many
// were suppressed since the last one.
func (s *logSampler) admit(now time.Time, every time.Duration) (ok bool, suppressed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.next) {
		s.suppressed++
		return false, 0
	}
	s.next = now.Add(every)
	suppressed, s.suppressed = s.suppressed, 0
	return true, suppressed
}
