package exampleupstream

import (
	"encoding/json"
	"errors"
	"net/http"
)

// The error codes the upstream answers with, from the same vocabulary as the
// autorefresh API so that logs read alike on both sides.
const (
	codeInvalid              = "INVALID"
	codeUnauthorized         = "UNAUTHORIZED"
	codeMethodNotAllowed     = "METHOD_NOT_ALLOWED"
	codeTooLarge             = "TOO_LARGE"
	codeUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
)

// requestError is a refused request: the status and body to answer with.
type requestError struct {
	status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *requestError) Error() string { return e.Code + ": " + e.Message }

func reject(status int, code, message string) *requestError {
	return &requestError{status: status, Code: code, Message: message}
}

func unauthorized(message string) *requestError {
	return reject(http.StatusUnauthorized, codeUnauthorized, message)
}

// writeError answers with err's status and an {"code", "message"} body.
func writeError(w http.ResponseWriter, err error) {
	re, ok := errors.AsType[*requestError](err)
	if !ok {
		re = reject(http.StatusInternalServerError, "INTERNAL", "internal error")
	}
	writeJSON(w, re.status, re)
}

// writeJSON answers with status and v encoded as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only the package's own types are written here, and they always
		// encode; failing loudly beats a half-written reply.
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
