package cache

// Retire hands the cache over to a successor without waiting for the
// SyncFunc calls under way, which may take as long as an upstream's timeout:
// a reconfiguration or a removal must not hold readers that long. It returns
// the items as Snapshot does, for the successor's Restore.
//
// From its return on the cache changes nothing a reader or the Journal
// could see: results of calls still under way are dropped (the successor
// syncs those items again), pending deletions are left to the successor,
// its metrics are unregistered so the successor can register its own, and
// its items leave the budget (as Close does) so the successor can claim
// them. Callers make no other call on the cache from Retire on, and cancel
// its context so that its goroutines stop; Stopped still says when they
// have.
//
// Why this is enough: every change a background goroutine makes (a sync's
// update, a cycle's deletion) checks retired under the lock of the item's
// shard, and Snapshot takes each shard's lock after retired is set. A
// change either comes before Snapshot's look at its shard, and is in the
// snapshot (with its journal record), or after, and sees retired.
func (c *AutoRefreshCache[T]) Retire() []Entry[T] {
	c.retired.Store(true)
	items := c.Snapshot()
	c.Close()
	return items
}
