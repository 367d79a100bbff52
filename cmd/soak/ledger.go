package main

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// itemState is what the soak was told about an item.
type itemState uint8

const (
	stCreating itemState = iota + 1 // POST sent, no acknowledgement (yet, or ever): it may or may not exist
	stCreated                       // POST answered 201 or 200: it must exist
	stDeleting                      // DELETE sent, no 202 (yet, or ever): it may or may not be marked
	stDeleted                       // DELETE answered 202: it must be gone, or pending deletion
)

// ledger is one cache's account of acknowledged work, the ground truth the
// server's state is checked against.
type ledger struct {
	cache string

	mu    sync.Mutex
	state map[string]itemState
	live  []string       // stCreated, no DELETE sent: what GETs and DELETEs pick from
	pos   map[string]int // index of an id in live
	next  int

	// Counts of acknowledgements.
	acked, deletedAcked int
}

func newLedger(cache string) *ledger {
	return &ledger{cache: cache, state: map[string]itemState{}, pos: map[string]int{}}
}

// newID reserves a fresh id and marks it stCreating.
func (l *ledger) newID() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	id := fmt.Sprintf("it-%08d", l.next)
	l.state[id] = stCreating
	return id
}

// created records an acknowledged create.
func (l *ledger) created(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state[id] != stCreating {
		return
	}
	l.state[id] = stCreated
	l.acked++
	l.pos[id] = len(l.live)
	l.live = append(l.live, id)
}

// pick returns a random live item, for a GET.
func (l *ledger) pick(rng *rand.Rand) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.live) == 0 {
		return "", false
	}
	return l.live[rng.IntN(len(l.live))], true
}

// take removes a random live item and marks it stDeleting, for a DELETE.
func (l *ledger) take(rng *rand.Rand) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.live) == 0 {
		return "", false
	}
	id := l.live[rng.IntN(len(l.live))]
	l.removeLive(id)
	l.state[id] = stDeleting
	return id, true
}

// markDeleting marks any known item stDeleting (the final clean-up).
func (l *ledger) markDeleting(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.pos[id]; ok {
		l.removeLive(id)
	}
	if st := l.state[id]; st != stDeleted {
		l.state[id] = stDeleting
	}
}

func (l *ledger) removeLive(id string) {
	i, ok := l.pos[id]
	if !ok {
		return
	}
	last := len(l.live) - 1
	l.live[i] = l.live[last]
	l.pos[l.live[i]] = i
	l.live = l.live[:last]
	delete(l.pos, id)
}

// deleted records an acknowledged delete.
func (l *ledger) deleted(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state[id] != stDeleted {
		l.deletedAcked++
	}
	l.state[id] = stDeleted
}

// get returns an id's state (0 if the soak never made it).
func (l *ledger) get(id string) itemState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state[id]
}

// snapshot copies the states, for the accounting.
func (l *ledger) snapshot() map[string]itemState {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]itemState, len(l.state))
	for id, st := range l.state {
		out[id] = st
	}
	return out
}

// counts returns live items, acknowledged creates and acknowledged deletes.
func (l *ledger) counts() (live, acked, deleted int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.live), l.acked, l.deletedAcked
}
