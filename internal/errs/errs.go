// Package errs defines the one error type that crosses package boundaries in
// autorefresh. Every failure a caller may act on carries a Code; the HTTP layer
// maps codes to statuses in exactly one place (handlers), so the domain packages
// never think about HTTP.
package errs

import (
	"errors"
	"fmt"
)

// Code classifies an error for callers. Codes are stable strings because they
// are part of the public API (they appear in JSON error bodies).
type Code string

// The codes used across the service. Keep this list short: a new code is a new
// API promise.
const (
	NotFound Code = "NOT_FOUND"
	Invalid  Code = "INVALID"
	Conflict Code = "CONFLICT"
	// PreconditionFailed: an If-Match version did not match the item's.
	PreconditionFailed Code = "PRECONDITION_FAILED"
	TooLarge           Code = "TOO_LARGE"
	Capacity           Code = "CAPACITY"
	Unavailable        Code = "UNAVAILABLE"
	Internal           Code = "INTERNAL"
)

// Error is an error with a Code and a message that is safe to show a client.
// Err, when set, is the underlying cause; it is logged but never shown.
type Error struct {
	Code    Code
	Message string
	Err     error
}

// Error implements error. It includes the cause so logs are complete; use
// Message when writing to a client.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause so errors.Is/As see through an *Error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code and no message,
// which lets callers write errors.Is(err, &errs.Error{Code: errs.NotFound}).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Code == e.Code && t.Message == "" && t.Err == nil
}

// Errorf builds an *Error with a formatted, client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an *Error whose cause is err. The cause is kept for logs only.
func Wrap(code Code, err error, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// CodeOf returns the code of the first *Error in err's chain, or Internal for
// any other non-nil error. It returns "" for nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// MessageOf returns the client-safe message of err. Errors without a code get a
// generic text so that internal details never leak to a client.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != Internal {
		return e.Message
	}
	return "internal error"
}
