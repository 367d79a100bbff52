// Package storetest has test doubles for store.Store. Faulty wraps a real
// store and fails its writes on demand, which is how the fault tests make a
// disk refuse writes or lose an fsync without a disk that really does.
package storetest

import (
	"context"
	"sync"

	"github.com/autorefresh/autorefresh/internal/store"
)

// Faulty is a store.Store whose Apply fails, without touching the wrapped
// store, while a fault is set. Load and Close go straight through.
type Faulty struct {
	store.Store

	mu         sync.Mutex
	fault      error
	afterApply bool // the fault strikes after the batch was written
	refused    int  // Apply calls that failed
	applied    []uint64
}

// Fail makes every Apply return err, writing nothing, until Clear: a
// write(2) that fails.
func (f *Faulty) Fail(err error) { f.set(err, false) }

// FailAfterWrite makes every Apply write its batch and then return err,
// until Clear: an fsync that fails after the data reached the file, so the
// caller cannot know whether the batch is there. Retrying it must be safe.
func (f *Faulty) FailAfterWrite(err error) { f.set(err, true) }

// Clear ends the fault.
func (f *Faulty) Clear() { f.set(nil, false) }

func (f *Faulty) set(err error, afterApply bool) {
	f.mu.Lock()
	f.fault, f.afterApply = err, afterApply
	f.mu.Unlock()
}

// Refused returns how many Apply calls failed.
func (f *Faulty) Refused() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}

// Applied returns the sequence numbers of every mutation written, in the
// order they were written.
func (f *Faulty) Applied() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint64(nil), f.applied...)
}

// Apply implements store.Store.
func (f *Faulty) Apply(ctx context.Context, batch []store.Mutation) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fault != nil && !f.afterApply {
		f.refused++
		return f.fault
	}
	if err := f.Store.Apply(ctx, batch); err != nil {
		return err
	}
	if f.fault != nil {
		f.refused++
		return f.fault
	}
	for _, m := range batch {
		f.applied = append(f.applied, m.Seq)
	}
	return nil
}
