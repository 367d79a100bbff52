package watch

import "sync"

// Defaults of the per-client caps in Options: a tenth of the server-wide
// caps, so that it takes ten clients at their caps to fill the server.
const (
	DefaultMaxStreamsPerClient = 100
	DefaultMaxWaitersPerClient = 1000
)

// refusal is why the hub refused a stream or a long-poll: which cap was
// full. Its String values are the reason label of
// autorefresh_watch_refused_total, a fixed set (never a client or a cache),
// so that an operator sees whether one client or the whole server is at its
// limit.
type refusal int

const (
	refusedStreams refusal = iota
	refusedLongPolls
	refusedClientStreams
	refusedClientLongPolls
	numRefusals
)

func (r refusal) String() string {
	switch r {
	case refusedStreams:
		return "streams"
	case refusedLongPolls:
		return "long_polls"
	case refusedClientStreams:
		return "client_streams"
	default:
		return "client_long_polls"
	}
}

// clientCounts counts what each client holds (streams or waiters), so that
// one client cannot take the whole of a server-wide cap. A client is
// whatever key the caller gives (the HTTP layer uses a hash of the token,
// or the remote IP); "" is not counted. A client's entry goes when its count
// falls to zero, so the map holds at most as many entries as there are
// streams or waiters open, which the server-wide cap bounds.
type clientCounts struct {
	mu sync.Mutex
	n  map[string]int
}

// acquire counts one more for client, unless it already holds max.
func (c *clientCounts) acquire(client string, max int) bool {
	if client == "" {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[client] >= max {
		return false
	}
	if c.n == nil {
		c.n = make(map[string]int)
	}
	c.n[client]++
	return true
}

// release undoes one acquire of client.
func (c *clientCounts) release(client string) {
	if client == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[client] <= 1 {
		delete(c.n, client)
		return
	}
	c.n[client]--
}

// clients is how many clients hold something now.
func (c *clientCounts) clients() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.n)
}
