package cache

import (
	"sync/atomic"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// Budget is an allowance of items shared by several caches, so that a server
// hosting many caches has a bound on all of them together, not only on each.
// It is safe for concurrent use.
type Budget struct {
	max  int64
	used atomic.Int64
}

// NewBudget returns a budget of max items.
func NewBudget(max int64) *Budget { return &Budget{max: max} }

// Used returns how many items the budget's caches hold.
func (b *Budget) Used() int64 { return b.used.Load() }

// Max returns the budget's size.
func (b *Budget) Max() int64 { return b.max }

// take claims one item, or reports false when the budget is spent.
func (b *Budget) take() bool {
	if b == nil {
		return true
	}
	if b.used.Add(1) > b.max {
		b.used.Add(-1)
		return false
	}
	return true
}

// force claims n items past the bound: restored items were acknowledged
// before, so they are never refused.
func (b *Budget) force(n int64) {
	if b != nil {
		b.used.Add(n)
	}
}

// release gives n items back.
func (b *Budget) release(n int64) {
	if b != nil {
		b.used.Add(-n)
	}
}

func capacityError(b *Budget) error {
	return errs.Errorf(errs.Capacity, "the server holds its maximum of %d items; delete some first", b.max)
}
