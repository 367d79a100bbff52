package replicated

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// dbErr gives a database error its code. Anything that says the database
// could not be reached, or went away, or did not answer in time is
// errs.Unavailable (503): the change was not acknowledged, and the client
// may retry. Values PostgreSQL refuses (jsonb's \u0000, say) are
// errs.Invalid. Everything else is errs.Internal.
func dbErr(err error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case isDataError(err):
			return errs.Wrap(errs.Invalid, err, "data: not accepted by the database: "+pgErr.Message)
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "53"), // insufficient resources
			strings.HasPrefix(pgErr.Code, "57"), // operator intervention: shutdown, cancel, ...
			strings.HasPrefix(pgErr.Code, "40"), // serialization failure, deadlock
			pgErr.Code == "25006":               // read-only transaction (a standby)
			return errs.Wrap(errs.Unavailable, err, "the database is unavailable; try again")
		}
		return errs.Wrap(errs.Internal, err, "database error")
	}
	if unavailable(err) {
		return errs.Wrap(errs.Unavailable, err, "the database is unavailable; try again")
	}
	return errs.Wrap(errs.Internal, err, "database error")
}

// isDataError reports whether err is PostgreSQL refusing a value (SQLSTATE
// class 22, data exception): retrying the same statement cannot succeed.
func isDataError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22")
}

// tooSlow reports whether a statement was cancelled for taking too long:
// the database's statement_timeout (SQLSTATE 57014, query_canceled) or
// our own deadline for it.
func tooSlow(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "57014"
	}
	return errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err)
}

// unavailable reports whether err says that the database could not be
// reached or did not answer.
func unavailable(err error) bool {
	var connErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connErr), errors.As(err, &netErr),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "closed pool") ||
		strings.Contains(msg, "conn busy") || strings.Contains(msg, "connection reset")
}

// isForeignKeyViolation reports a reference to a row that is gone: an item
// inserted for a cache deleted meanwhile.
func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}
