package client

import (
	"context"
	"sync"
	"time"
)

// Sleeps records the waits of a Client instead of waiting, so that retry
// and reconnection tests run at once and can check the delays.
type Sleeps struct {
	mu     sync.Mutex
	delays []time.Duration
}

// Delays returns the waits so far.
func (s *Sleeps) Delays() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

// WithSleeps makes the Client record its waits in s and not wait (the
// context still ends them).
func WithSleeps(s *Sleeps) Option {
	return func(c *Client) {
		c.sleep = func(ctx context.Context, d time.Duration) error {
			s.mu.Lock()
			s.delays = append(s.delays, d)
			s.mu.Unlock()
			return ctx.Err()
		}
	}
}
