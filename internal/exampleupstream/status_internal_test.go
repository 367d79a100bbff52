package exampleupstream

import (
	"strconv"
	"testing"
)

func TestStatusTableStaysBounded(t *testing.T) {
	const capacity = 7
	table := newStatusTable(capacity)
	for i := range 100 {
		table.advance(strconv.Itoa(i))
		if n := table.len(); n > capacity {
			t.Fatalf("after %d ids the table holds %d, capacity %d", i+1, n, capacity)
		}
	}
	// Only the newest ids survive, however often the ring wrapped.
	for i := range 100 {
		held := table.get(strconv.Itoa(i)) == StatusStarted
		if want := i >= 100-capacity; held != want {
			t.Errorf("id %d held = %v, want %v", i, held, want)
		}
	}
}
