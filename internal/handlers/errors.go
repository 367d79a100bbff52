package handlers

import (
	"encoding/json"
	"net/http"

	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// Codes that exist only at the HTTP layer: the domain never produces them.
const (
	codeMethodNotAllowed errs.Code = "METHOD_NOT_ALLOWED"
	codeUnsupportedMedia errs.Code = "UNSUPPORTED_MEDIA_TYPE"
)

// statusOf is the one place where error codes become HTTP statuses.
func statusOf(code errs.Code) int {
	switch code {
	case errs.NotFound:
		return http.StatusNotFound
	case errs.Invalid:
		return http.StatusBadRequest
	case errs.Conflict:
		return http.StatusConflict
	case errs.PreconditionFailed:
		return http.StatusPreconditionFailed
	case errs.TooLarge:
		return http.StatusRequestEntityTooLarge
	case errs.Capacity:
		return http.StatusInsufficientStorage
	case errs.Unavailable:
		return http.StatusServiceUnavailable
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case codeUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case codeUnauthorized:
		return http.StatusUnauthorized
	case codeForbidden:
		return http.StatusForbidden
	case codeRateLimited:
		return http.StatusTooManyRequests
	case codeMisdirected:
		return http.StatusMisdirectedRequest
	default:
		return http.StatusInternalServerError
	}
}

// retryAfterSeconds is what every 503 tells the client to wait: a failing
// store, a server shutting down and a full watch cap all pass within
// seconds, and a client told nothing tends to retry at once, in a loop.
const retryAfterSeconds = "5"

// errorBody is the JSON form of every error response.
type errorBody struct {
	Code    errs.Code `json:"code"`
	Message string    `json:"message"`
}

// writeError answers with err's status and client-safe message. A 500 says
// only "internal error"; the detail goes to the log with the request id.
// Other 5xx (503 UNAVAILABLE, 507 CAPACITY) carry their own safe message,
// and the cause of a 503 is logged too. A 503 carries Retry-After, unless
// the caller set one that knows better.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := errs.CodeOf(err)
	status := statusOf(code)
	msg := errs.MessageOf(err)
	if status == http.StatusInternalServerError {
		code, msg = errs.Internal, "internal error"
		s.log.Error("request failed", zap.String("requestId", requestID(w)), zap.Error(err))
	} else if code == errs.Unavailable {
		s.log.Warn("request not acknowledged", zap.String("requestId", requestID(w)), zap.Error(err))
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", retryAfterSeconds)
		}
	}
	writeJSON(w, status, errorBody{Code: code, Message: msg})
}

// writeJSON writes v with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
