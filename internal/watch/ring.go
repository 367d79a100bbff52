package watch

// ring is a bounded replay buffer of a cache's most recent events, oldest
// first. It is bounded both by count and by approximate bytes, so that a
// cache of large items cannot make the buffer hold much memory. It is not
// safe for concurrent use; its topic's mutex guards it.
type ring struct {
	buf      []Event // circular, len(buf) is the count bound
	head     int     // index of the oldest event
	n        int
	bytes    int
	maxBytes int
	// floor is the Seq below or at which events of this cache may have
	// existed that the ring does not hold: the Seq of the last event pushed
	// out, or the hub's sequence when the ring was made.
	floor uint64
}

func newRing(maxEvents, maxBytes int, floor uint64) *ring {
	return &ring{buf: make([]Event, maxEvents), maxBytes: maxBytes, floor: floor}
}

// push appends ev, pushing out the oldest events while either bound is
// exceeded. The newest event always stays, however large.
func (r *ring) push(ev Event) {
	if r.n == len(r.buf) {
		r.dropOldest()
	}
	r.buf[(r.head+r.n)%len(r.buf)] = ev
	r.n++
	r.bytes += ev.weight()
	for r.n > 1 && r.bytes > r.maxBytes {
		r.dropOldest()
	}
}

func (r *ring) dropOldest() {
	old := r.buf[r.head]
	r.buf[r.head] = Event{} // let the item be collected
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	r.bytes -= old.weight()
	r.floor = old.Seq
}

// since returns the events after seq that keep passes, oldest first, and
// whether events after seq may be missing because the ring no longer holds
// them (seq is below the floor).
func (r *ring) since(seq uint64, keep func(Event) bool) (out []Event, lost bool) {
	lost = seq < r.floor
	for i := range r.n {
		ev := r.buf[(r.head+i)%len(r.buf)]
		if ev.Seq > seq && keep(ev) {
			out = append(out, ev)
		}
	}
	return out, lost
}

// len returns the number of events held.
func (r *ring) len() int { return r.n }
