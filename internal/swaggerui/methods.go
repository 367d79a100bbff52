package swaggerui

import (
	"net/http"
)

// readOnly answers 405 to anything but GET and HEAD. The wrapped Swagger UI
// handler renders its page for any method, which would make a POST to the
// docs look like it succeeded.
func readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			// The same error shape as every other endpoint of the service.
			_, _ = w.Write([]byte(`{"code":"METHOD_NOT_ALLOWED","message":"only GET and HEAD are allowed"}` + "\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
