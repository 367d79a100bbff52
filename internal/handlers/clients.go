package handlers

import "net/http"

// clientKey names the client of a request for the per-client caps on
// event streams and long-polls, as the rate limits name it: its token's
// hash when it has a token (never the token, which a map key could leak
// into a dump or a log), else its remote IP.
func clientKey(r *http.Request) string {
	if p, ok := principalOf(r); ok {
		return "token:" + p.Key
	}
	return ipKey(r)
}
