package cache

// Pause stops the refresh: from its return no batch is cut, and a batch
// already queued is not sent (its items are released, keeping their due
// times), so no SyncFunc call starts. Calls under way finish and are
// applied. Sync-on-create items wait, and no item is expired. Cycles still
// carry out pending deletions. Reads and writes go on.
func (c *AutoRefreshCache[T]) Pause() { c.paused.Store(true) }

// Resume undoes Pause and runs a cycle soon, which takes every item that
// came due (or past its deadline) meanwhile.
func (c *AutoRefreshCache[T]) Resume() {
	if c.paused.Swap(false) {
		c.SyncNow()
	}
}

// Paused reports whether the refresh is paused.
func (c *AutoRefreshCache[T]) Paused() bool { return c.paused.Load() }
