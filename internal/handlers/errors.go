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
	default:
		return http.StatusInternalServerError
	}
}

// errorBody is the JSON form of every error response.
type errorBody struct {
	Code    errs.Code `json:"code"`
	Message string    `json:"message"`
}

// writeError answers with err's status and client-safe message. A 5xx says
// only "internal error"; the detail goes to the log with the request id.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := errs.CodeOf(err)
	status := statusOf(code)
	msg := errs.MessageOf(err)
	if status >= 500 && code != errs.Unavailable {
		code, msg = errs.Internal, "internal error"
		s.log.Error("request failed", zap.String("requestId", requestID(r)), zap.Error(err))
	}
	writeJSON(w, status, errorBody{Code: code, Message: msg})
}

// writeJSON writes v with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
