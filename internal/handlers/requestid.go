package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync/atomic"
)

// requestIDHeader carries the request id both ways.
const requestIDHeader = "X-Request-Id"

// maxClientRequestID bounds an id a client sends; longer or odd ones are
// replaced, so a client cannot write arbitrary text into the logs.
const maxClientRequestID = 64

// requestIDs makes ids like "3f9a1c02-000123": a random prefix per server
// (so ids from two servers or two runs do not collide, and unlike chi's
// default the host name is not disclosed) and a counter.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

// next returns the client's id if it is a sane one, else a new one.
func (g *requestIDs) next(r *http.Request) string {
	if id := r.Header.Get(requestIDHeader); id != "" && saneID(id) {
		return id
	}
	buf := make([]byte, 0, len(g.prefix)+8)
	buf = append(buf, g.prefix...)
	n := g.n.Add(1)
	for range 6 - digits(n) {
		buf = append(buf, '0')
	}
	return string(strconv.AppendUint(buf, n, 10))
}

func digits(n uint64) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

func saneID(id string) bool {
	if len(id) > maxClientRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
