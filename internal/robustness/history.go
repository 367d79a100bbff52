package robustness

import (
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// History records operations from many concurrent clients, timed by one
// monotonic clock. Call times are taken before a request is sent and return
// times after its answer was read, so each operation's interval contains
// the moment the server carried it out.
type History struct {
	start time.Time

	mu      sync.Mutex
	ops     []porcupine.Operation
	unknown []int // indexes of operations without an answer
}

// NewHistory starts an empty history; its clock starts now.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the history's clock, in nanoseconds since it started.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// Add records a call that got an answer.
func (h *History) Add(client int, in Input, call, ret int64, out Output) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

// AddUnknown records a call without an answer: it may take effect at any
// time after call, so Operations gives it the end of the history as its
// return time.
func (h *History) AddUnknown(client int, in Input, call int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unknown = append(h.unknown, len(h.ops))
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: Output{Unknown: true}})
}

// Operations returns the history so far, unanswered calls ending after
// everything else.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	ops := append([]porcupine.Operation(nil), h.ops...)
	end := h.Now() + 1
	for _, op := range ops {
		end = max(end, op.Return+1)
	}
	for _, i := range h.unknown {
		ops[i].Return = end
	}
	return ops
}

// Counts says how many operations the history holds, and how many of them
// have an unknown outcome.
func (h *History) Counts() (ops, unknown int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops), len(h.unknown)
}
