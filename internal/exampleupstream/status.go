package exampleupstream

import "sync"

// The statuses an item goes through, named as in the AutoRefresh library's
// example.
const (
	// StatusNotStarted is the status of an id the upstream has not seen.
	StatusNotStarted = "Not-started"
	// StatusStarted is the status after the first call that names the id.
	StatusStarted = "Started"
	// StatusCompleted is the final status, reached on the second call.
	StatusCompleted = "Completed"
)

// next returns the status that follows s. Completed is final.
func next(s string) string {
	switch s {
	case StatusNotStarted:
		return StatusStarted
	default:
		return StatusCompleted
	}
}

// statusTable holds the status of up to capacity ids. When full, it forgets
// the id it saw first: ids are only ever added, never removed one by one, so
// a ring of ids in insertion order is enough to know which one is oldest.
type statusTable struct {
	mu       sync.Mutex
	capacity int
	status   map[string]string
	order    []string // ring of ids in insertion order, len <= capacity
	oldest   int      // index in order of the oldest id once the ring is full
}

func newStatusTable(capacity int) *statusTable {
	return &statusTable{capacity: capacity, status: make(map[string]string)}
}

// get returns the status of id, StatusNotStarted if it is not held.
func (t *statusTable) get(id string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.status[id]; ok {
		return s
	}
	return StatusNotStarted
}

// advance moves id to its next status and reports the new status and whether
// it changed (it does not once the id is Completed).
func (t *statusTable) advance(id string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, ok := t.status[id]
	if !ok {
		t.insert(id)
		cur = StatusNotStarted
	}
	n := next(cur)
	t.status[id] = n
	return n, n != cur
}

// insert records a new id, forgetting the oldest one if the table is full.
// The caller holds mu and has set nothing for id yet.
func (t *statusTable) insert(id string) {
	if len(t.order) < t.capacity {
		t.order = append(t.order, id)
		return
	}
	delete(t.status, t.order[t.oldest])
	t.order[t.oldest] = id
	t.oldest = (t.oldest + 1) % t.capacity
}

// len returns how many ids are held.
func (t *statusTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.status)
}
