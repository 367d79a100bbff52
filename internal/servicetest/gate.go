package servicetest

import (
	"context"
	"sync"
)

// gate parks an upstream's calls from park until release, so that a case
// can act while a sync is under way. The zero value lets every call through.
type gate struct {
	mu   sync.Mutex
	hold chan struct{} // closed to release parked calls; nil: no parking
}

// park makes the calls from now on wait for release.
func (g *gate) park() {
	g.mu.Lock()
	g.hold = make(chan struct{})
	g.mu.Unlock()
}

// release lets the parked calls go on, and the later ones through.
func (g *gate) release() {
	g.mu.Lock()
	if g.hold != nil {
		close(g.hold)
		g.hold = nil
	}
	g.mu.Unlock()
}

// pass waits while the gate is parked; it reports false if ctx (the
// request's) ended first.
func (g *gate) pass(ctx context.Context) bool {
	g.mu.Lock()
	hold := g.hold
	g.mu.Unlock()
	if hold == nil {
		return true
	}
	select {
	case <-hold:
		return true
	case <-ctx.Done():
		return false
	}
}
