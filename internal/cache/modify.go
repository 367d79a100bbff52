package cache

import (
	"reflect"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// Modify changes an item in one step under its shard's lock: fn gets the
// item as it is and returns the item it becomes, or an error, which Modify
// returns unchanged (and changes nothing). A change is journaled, raises
// an Updated event and is durable before Modify returns, as a create is.
// It wins over a sync of the item under way: that answer is dropped.
// Returning the very item fn was given changes nothing. dueNow makes a
// non-terminal item due now: it is synced by a due cycle at once rather
// than at the next tick.
//
// fn runs with the shard's lock held: it must be quick and must not call
// the cache. An item marked for deletion is refused (errs.Conflict).
func (c *AutoRefreshCache[T]) Modify(id ItemID, fn func(old T) (T, error), dueNow bool) (Entry[T], error) {
	s, h := c.sh.locate(id)
	s.mu.Lock()
	e, ok := s.idx.get(h, id)
	if !ok {
		s.mu.Unlock()
		return Entry[T]{}, notFound(id)
	}
	if e.pendingDelete {
		s.mu.Unlock()
		return Entry[T]{}, errs.Errorf(errs.Conflict, "item %q is being deleted", id)
	}
	n, err := fn(e.item)
	if err != nil {
		s.mu.Unlock()
		return Entry[T]{}, err
	}
	if isNil(n) {
		s.mu.Unlock()
		return Entry[T]{}, errs.Errorf(errs.Invalid, "item %q: nil item", id)
	}
	now := c.opts.Clock.Now().UnixNano()
	old := c.wake(e)
	changed := !sameItem(n, e.item)
	if changed {
		c.setItem(s, e, n)
		e.ver++
		e.setSeq(c.change(s, Change[T]{Kind: ChangePut, ID: id, Item: n, SyncedAt: unixNano(e.syncedAt)},
			Event[T]{Type: Updated, ID: id, Item: n}))
	}
	if dueNow && !n.IsTerminal() {
		e.setDue(now)
	}
	c.reschedule(e, old, now)
	c.promote(s, e)
	out, seq := e.entry(), e.seq()
	s.mu.Unlock()
	if err := c.awaitDurable(seq); err != nil {
		return Entry[T]{}, err
	}
	if changed {
		c.deliver(s)
	}
	return out, nil
}

// Update replaces an item, as Flyte 2's AutoRefreshWithUpdate does: ok is
// false (and err nil) when there is no item of that id. It is Modify with
// a function that returns item; the replaced item's sync under way, if
// any, is dropped, and the new one keeps the item's due time.
func (c *AutoRefreshCache[T]) Update(id ItemID, item T) (ok bool, err error) {
	_, err = c.Modify(id, func(T) (T, error) { return item, nil }, false)
	if IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// sameItem reports whether a and b are the same value (for pointers, the
// same object), without panicking on an item type that is not comparable.
func sameItem[T Item](a, b T) bool {
	x, y := any(a), any(b)
	t := reflect.TypeOf(x)
	return t != nil && t == reflect.TypeOf(y) && t.Comparable() && x == y
}

// CreateResult is the outcome of one item of CreateAll.
type CreateResult[T Item] struct {
	Entry   Entry[T]
	Created bool
	Err     error
}

// CreateAll is Create for many items at once, acknowledged by one wait
// for the journal: the items are inserted (or found) one after the other,
// and CreateAll returns once the last of them is durable, which the
// journal's in-order commits make true of all. Results are in the order
// of ids; an item that cannot be created (a nil item, the budget spent)
// has Err set and does not fail the others. A journal failure fails every
// item created by the call.
func (c *AutoRefreshCache[T]) CreateAll(ids []ItemID, items []T) []CreateResult[T] {
	if len(ids) != len(items) {
		panic("cache: CreateAll needs one item per id")
	}
	out := make([]CreateResult[T], len(ids))
	ins := make([]inserted[T], len(ids))
	var last uint64
	for i, id := range ids {
		in := c.insert(id, items[i])
		ins[i] = in
		if in.err != nil {
			continue
		}
		last = max(last, in.out.seq)
		if in.created {
			seq, _ := c.evictOverflow() // their events: deliverAll below
			last = max(last, seq)
		}
	}
	err := c.awaitDurable(last)
	if err == nil {
		c.deliverAll()
	}
	for i, in := range ins {
		switch {
		case in.err != nil:
			out[i].Err = in.err
		case err != nil:
			out[i].Err = err
		default:
			out[i] = CreateResult[T]{Entry: in.out, Created: in.created}
		}
		if in.created {
			c.afterCreate(in, err)
		}
	}
	return out
}
