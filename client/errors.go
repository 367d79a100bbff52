package client

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Code is the machine-readable code of an API error, as in the "code" field
// of the service's error body {"code": "...", "message": "..."}.
type Code string

// The codes the service answers with (api/openapi.yaml, schema Error), and
// PRECONDITION_FAILED, which a PATCH with a stale If-Match gets.
const (
	CodeInvalid              Code = "INVALID"
	CodeUnauthorized         Code = "UNAUTHORIZED"
	CodeForbidden            Code = "FORBIDDEN"
	CodeNotFound             Code = "NOT_FOUND"
	CodeMethodNotAllowed     Code = "METHOD_NOT_ALLOWED"
	CodeConflict             Code = "CONFLICT"
	CodePreconditionFailed   Code = "PRECONDITION_FAILED"
	CodeTooLarge             Code = "TOO_LARGE"
	CodeUnsupportedMediaType Code = "UNSUPPORTED_MEDIA_TYPE"
	CodeRateLimited          Code = "RATE_LIMITED"
	CodeMisdirectedRequest   Code = "MISDIRECTED_REQUEST"
	CodeInternal             Code = "INTERNAL"
	CodeUnavailable          Code = "UNAVAILABLE"
	CodeCapacity             Code = "CAPACITY"
)

// codeError is a sentinel: an error that stands for every *APIError of
// its code, so that errors.Is(err, ErrNotFound) needs no type assertion.
type codeError Code

func (e codeError) Error() string { return "autorefresh: " + string(e) }

// Sentinels that match, with errors.Is, every *APIError of their code.
var (
	ErrInvalid            error = codeError(CodeInvalid)
	ErrUnauthorized       error = codeError(CodeUnauthorized)
	ErrForbidden          error = codeError(CodeForbidden)
	ErrNotFound           error = codeError(CodeNotFound)
	ErrConflict           error = codeError(CodeConflict)
	ErrPreconditionFailed error = codeError(CodePreconditionFailed)
	ErrTooLarge           error = codeError(CodeTooLarge)
	ErrRateLimited        error = codeError(CodeRateLimited)
	ErrUnavailable        error = codeError(CodeUnavailable)
	ErrCapacity           error = codeError(CodeCapacity)
	ErrInternal           error = codeError(CodeInternal)
)

// APIError is an error answer of the service: its HTTP status, its code and
// message, and the Retry-After delay when the answer carried one (429 and
// 503 do).
type APIError struct {
	// Status is the HTTP status code, such as 404.
	Status int
	// Code is the body's code; when the body was not the service's error
	// form (a proxy's HTML page, say), it is derived from Status.
	Code Code
	// Message is the body's message, for people.
	Message string
	// RetryAfter is the Retry-After header as a delay, or zero.
	RetryAfter time.Duration
	// RequestID is the X-Request-Id of the answer, for finding it in the
	// server's log.
	RequestID string
}

// Error returns "autorefresh: 404 NOT_FOUND: cache "jobs" not found".
func (e *APIError) Error() string {
	return fmt.Sprintf("autorefresh: %d %s: %s", e.Status, e.Code, e.Message)
}

// Is reports whether target is the sentinel of e's code (ErrNotFound for
// NOT_FOUND, and so on).
func (e *APIError) Is(target error) bool {
	c, ok := target.(codeError)
	return ok && Code(c) == e.Code
}

// IsNotFound reports whether err is, or wraps, an API error with code
// NOT_FOUND: the cache or the item does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsConflict reports whether err is, or wraps, an API error with code
// CONFLICT.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// IsPreconditionFailed reports whether err is, or wraps, an API error with
// code PRECONDITION_FAILED: the item changed since the version given.
func IsPreconditionFailed(err error) bool { return errors.Is(err, ErrPreconditionFailed) }

// codeForStatus names the code of a status whose body was not the
// service's error form.
func codeForStatus(status int) Code {
	switch status {
	case http.StatusBadRequest:
		return CodeInvalid
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusMethodNotAllowed:
		return CodeMethodNotAllowed
	case http.StatusConflict:
		return CodeConflict
	case http.StatusPreconditionFailed:
		return CodePreconditionFailed
	case http.StatusRequestEntityTooLarge:
		return CodeTooLarge
	case http.StatusUnsupportedMediaType:
		return CodeUnsupportedMediaType
	case http.StatusTooManyRequests:
		return CodeRateLimited
	case http.StatusMisdirectedRequest:
		return CodeMisdirectedRequest
	case http.StatusServiceUnavailable:
		return CodeUnavailable
	case http.StatusInsufficientStorage:
		return CodeCapacity
	}
	return CodeInternal
}

// statusForCode is the status of a code, for errors that came without one
// (an entry of a batch answer).
func statusForCode(c Code) int {
	for s := 400; s < 600; s++ {
		if codeForStatus(s) == c && (c != CodeInternal || s == http.StatusInternalServerError) {
			return s
		}
	}
	return http.StatusInternalServerError
}
