package robustness

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// TerminalVersion is the data step at which the test upstream makes an item
// terminal: it answers every sync of an item holding {"g": g, "n": n} with
// {"g": g, "n": n+1}, terminal once n+1 reaches it. Because the reply is a
// function of what it is sent, the model can predict every state a sync may
// lead to without knowing when syncs happen.
//
// n counts the updates an item went through; its version counts every change
// of it, and a failed attempt (the upstream's injected 500s) or the success
// that clears the failures is a change too (record.Fail, Recovered). The
// model therefore tracks n exactly and the version as a lower bound: each
// update adds at least one, failures add an unknown number, and a read pins
// it to what it showed. Versions still may never go backwards.
const TerminalVersion = 4

// Kind is the API call an operation stands for.
type Kind int

// The operations of the model. ListSeen is what one list call showed about
// one item: a list is split into one ListSeen per item of its cache, so that
// the history can be checked item by item.
const (
	Create Kind = iota + 1
	Get
	Delete
	ListSeen
	CachePut
	CacheDelete
)

func (k Kind) String() string {
	switch k {
	case Create:
		return "create"
	case Get:
		return "get"
	case Delete:
		return "delete"
	case ListSeen:
		return "list"
	case CachePut:
		return "putCache"
	case CacheDelete:
		return "deleteCache"
	}
	return "?"
}

// Input is what a client asked. Item is empty for the cache operations.
type Input struct {
	Kind     Kind
	Cache    string
	Item     string
	Gen      int  // Create: the data tag {"g": Gen, "n": 1}
	Terminal bool // Create: created terminal
}

// Output is what the client was told. Unknown is a call without an answer
// (error, timeout, 5xx): it may or may not have taken effect, at any time
// after its call.
type Output struct {
	Unknown bool
	Status  int  // HTTP status; for ListSeen 200 when listed, 404 when not
	Item    Seen // the item in the answer, for 200, 201 and 202
}

// Seen is an item as the API showed it. Data is {"g": Gen, "n": N}; an item
// whose version is below N is torn (N counts updates, each one a version).
type Seen struct {
	Gen, N, Version int
	Terminal        bool
	PendingDelete   bool
}

// State is the model's state of one item, and of its cache.
type State struct {
	CacheExists bool
	Exists      bool
	Gen         int
	N           int // the data's n: the updates the item went through
	Version     int // a lower bound of the version (see TerminalVersion)
	Terminal    bool
	Pending     bool
}

func (s State) seen() Seen {
	return Seen{Gen: s.Gen, N: s.N, Version: s.Version, Terminal: s.Terminal, PendingDelete: s.Pending}
}

// shows reports whether an answer can show s: the same data and flags, at
// a version no lower than s's bound. The state after it is s at the version
// shown (pinned).
func (s State) shows(seen Seen) (State, bool) {
	if seen.Gen != s.Gen || seen.N != s.N || seen.Terminal != s.Terminal || seen.PendingDelete != s.Pending || seen.Version < s.Version {
		return s, false
	}
	s.Version = seen.Version
	return s, true
}

// showing is step's answer for a read of s that showed seen.
func showing(ok bool, s State, seen Seen) []State {
	if !ok {
		return nil
	}
	pinned, shown := s.shows(seen)
	return when(shown, pinned)
}

// background is every state the service may move s to on its own, between
// two calls: syncs advance a live item one version at a time up to
// TerminalVersion (never one marked for deletion: its syncs are dropped),
// and a sync cycle removes an item marked for deletion.
func background(s State) []State {
	out := []State{s}
	if !s.Exists {
		return out
	}
	if s.Pending {
		return append(out, State{CacheExists: s.CacheExists})
	}
	for !s.Terminal && s.N < TerminalVersion {
		s.N++
		s.Version++
		s.Terminal = s.N >= TerminalVersion
		out = append(out, s)
	}
	return out
}

// step applies one call to one state after the service's own moves; it
// returns the possible next states, none if the answer is impossible.
func step(s State, in Input, out Output) []State {
	created := State{CacheExists: true, Exists: true, Gen: in.Gen, N: 1, Version: 1, Terminal: in.Terminal}
	switch in.Kind {
	case Create:
		switch {
		case out.Unknown:
			if s.CacheExists && !s.Exists {
				return []State{s, created}
			}
			return []State{s}
		case out.Status == 404:
			return when(!s.CacheExists, s)
		case out.Status == 201:
			return when(s.CacheExists && !s.Exists && out.Item == created.seen(), created)
		case out.Status == 200:
			return showing(s.Exists, s, out.Item)
		}
	case Get, ListSeen:
		switch {
		case out.Unknown:
			return []State{s}
		case out.Status == 404:
			return when(!s.Exists, s)
		case out.Status == 200:
			return showing(s.Exists, s, out.Item)
		}
	case Delete:
		marked := s
		marked.Pending = s.Exists
		switch {
		case out.Unknown:
			return []State{s, marked}
		case out.Status == 404:
			return when(!s.Exists, s)
		case out.Status == 202:
			return showing(s.Exists, marked, out.Item)
		}
	case CachePut:
		made := State{CacheExists: true}
		switch {
		case out.Unknown:
			if !s.CacheExists {
				return []State{s, made}
			}
			return []State{s}
		case out.Status == 201:
			return when(!s.CacheExists, made)
		case out.Status == 200:
			return when(s.CacheExists, s)
		}
	case CacheDelete:
		switch {
		case out.Unknown:
			return []State{s, {}}
		case out.Status == 404:
			return when(!s.CacheExists, s)
		case out.Status == 204:
			return when(s.CacheExists, State{})
		}
	}
	return nil
}

func when(ok bool, s State) []State {
	if ok {
		return []State{s}
	}
	return nil
}

// Model is the sequential specification of one item and its cache, for
// porcupine. It is nondeterministic only through what the service does on
// its own (background) and calls without an answer; both are small sets.
func Model() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Partition: partition,
		Init:      func() []any { return []any{State{}} },
		Step: func(state, input, output any) []any {
			var next []any
			for _, s := range background(state.(State)) {
				for _, n := range step(s, input.(Input), output.(Output)) {
					next = append(next, n)
				}
			}
			return next
		},
		Equal: func(a, b any) bool { return a.(State) == b.(State) },
		Hash: func(state any) uint64 {
			s := state.(State)
			h := uint64(s.Gen)<<16 | uint64(s.Version)<<8 | uint64(s.N)<<4
			for i, b := range []bool{s.CacheExists, s.Exists, s.Terminal, s.Pending} {
				if b {
					h |= 1 << i
				}
			}
			return h
		},
		DescribeOperation: describeOperation,
		DescribeState:     describeState,
	}
	return nm.ToModel()
}

// partition checks each item on its own: its operations, plus every cache
// operation of its cache, copied into each item's partition. Each partition
// is the projection of the whole history onto one item, so a violation in a
// partition is a violation of the whole (the converse need not hold: a cache
// call may be placed differently in two partitions).
func partition(history []porcupine.Operation) [][]porcupine.Operation {
	byItem := map[[2]string][]porcupine.Operation{}
	var order [][2]string
	itemsOf := map[string][][2]string{}
	for _, op := range history {
		in := op.Input.(Input)
		if in.Item == "" {
			continue
		}
		k := [2]string{in.Cache, in.Item}
		if _, ok := byItem[k]; !ok {
			byItem[k] = nil
			order = append(order, k)
			itemsOf[in.Cache] = append(itemsOf[in.Cache], k)
		}
	}
	for _, op := range history {
		in := op.Input.(Input)
		if in.Item != "" {
			k := [2]string{in.Cache, in.Item}
			byItem[k] = append(byItem[k], op)
			continue
		}
		for _, k := range itemsOf[in.Cache] {
			byItem[k] = append(byItem[k], op)
		}
	}
	out := make([][]porcupine.Operation, 0, len(order))
	for _, k := range order {
		out = append(out, byItem[k])
	}
	return out
}

func describeOperation(input, output any) string {
	in, out := input.(Input), output.(Output)
	what := in.Kind.String() + "(" + in.Cache
	if in.Item != "" {
		what += "/" + in.Item
	}
	if in.Kind == Create {
		what += fmt.Sprintf(", g=%d", in.Gen)
		if in.Terminal {
			what += ", terminal"
		}
	}
	what += ")"
	switch {
	case out.Unknown:
		return what + " -> ?"
	case out.Status == 200 || out.Status == 201 || out.Status == 202:
		if in.Kind == CachePut {
			return fmt.Sprintf("%s -> %d", what, out.Status)
		}
		return fmt.Sprintf("%s -> %d %s", what, out.Status, describeSeen(out.Item))
	}
	return fmt.Sprintf("%s -> %d", what, out.Status)
}

func describeSeen(s Seen) string {
	d := fmt.Sprintf("{g=%d n=%d v=%d", s.Gen, s.N, s.Version)
	if s.Terminal {
		d += " terminal"
	}
	if s.PendingDelete {
		d += " pendingDelete"
	}
	return d + "}"
}

func describeState(state any) string {
	s := state.(State)
	switch {
	case !s.CacheExists:
		return "no cache"
	case !s.Exists:
		return "absent"
	}
	return describeSeen(s.seen())
}
