package store

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
)

// DefaultMaxPending bounds the changes waiting to be written. Past it,
// Append waits for the writer: memory stays bounded and the callers are
// slowed to the disk's pace instead.
const DefaultMaxPending = 65536

// maxBatch bounds one transaction so a huge backlog is written in pieces
// that each commit quickly.
const maxBatch = 8192

// Delays between attempts to write a batch the store refused. The first is
// short because many faults (a disk freed a moment later) clear at once;
// the cap keeps the service back within seconds of the fault clearing.
const (
	minRetryDelay = 50 * time.Millisecond
	maxRetryDelay = 2 * time.Second
)

// ErrClosed is returned by Wait for changes appended after Close.
var ErrClosed = errors.New("store: journal closed")

// ErrOverflow is the journal's error once the store failed for so long that
// the changes waiting for it filled the queue. Past that point a change
// would have to be dropped, and a later one made durable over the hole, so
// the journal takes no more changes until a restart.
var ErrOverflow = errors.New("store: the storage failed until the journal's queue was full; writes are refused until restart")

// Journal orders changes and writes them to a Store in groups: every change
// appended while a transaction commits goes into the next one, so concurrent
// writers share fsyncs (group commit). It implements
// cache.Journal[*record.Record].
//
// When the store fails, the journal keeps the failed batch and tries it
// again, with backoff, before anything queued after it: changes are never
// reordered. Meanwhile Err reports the failure and Wait refuses at once
// (Unavailable) every change not yet durable, so nothing is acknowledged
// that might not be on disk. The first successful write clears the error.
//
// Locking: mu guards the queue and is never held during I/O.
type Journal struct {
	store      Store
	log        *zap.Logger
	clock      clock.Clock
	maxPending int

	mu         sync.Mutex
	queue      []Mutation
	next       uint64        // last sequence handed out
	lastQueued uint64        // last sequence that will be written
	space      *sync.Cond    // signalled when the queue shrinks or the store fails
	commit     chan struct{} // closed and replaced after each write attempt
	closed     bool          // Run was told to stop: nothing more is queued
	broken     bool          // ErrOverflow: nothing more is queued
	wake       chan struct{}
	durable    atomic.Uint64
	failure    atomic.Pointer[error]
	finished   chan struct{}

	// pending is the batch the store refused, written again before
	// anything else. Only Run's goroutine touches it.
	pending []Mutation

	// waitHook, if set (tests only), runs in Wait once it has seen that
	// seq is not durable and is about to block: the window a commit must
	// not be lost in.
	waitHook func()
}

// JournalOption changes a Journal's defaults.
type JournalOption func(*Journal)

// WithClock sets the clock that times the retries (tests step a fake one).
func WithClock(c clock.Clock) JournalOption { return func(j *Journal) { j.clock = c } }

// WithMaxPending sets the queue bound (default DefaultMaxPending).
func WithMaxPending(n int) JournalOption { return func(j *Journal) { j.maxPending = max(n, 1) } }

// NewJournal builds a journal in front of s. Run must be called for
// anything to be written.
func NewJournal(s Store, log *zap.Logger, opts ...JournalOption) *Journal {
	j := &Journal{
		store: s, log: log, clock: clock.RealClock{}, maxPending: DefaultMaxPending,
		commit: make(chan struct{}), wake: make(chan struct{}, 1), finished: make(chan struct{}),
	}
	for _, o := range opts {
		o(j)
	}
	j.space = sync.NewCond(&j.mu)
	return j
}

// Append implements cache.Journal[*record.Record].
func (j *Journal) Append(c cache.Change[*record.Record]) uint64 {
	m := Mutation{Cache: c.Cache, ID: c.ID}
	switch c.Kind {
	case cache.ChangePut:
		m.Op = PutItem
		m.Item, m.SyncedAt = c.Item, c.SyncedAt
	case cache.ChangeMarkDelete:
		m.Op = MarkDelete
	case cache.ChangeDelete:
		m.Op = DeleteItem
	}
	return j.append(m)
}

// AppendCache queues a cache registration (config holds the full config,
// secret included).
func (j *Journal) AppendCache(name string, config json.RawMessage) uint64 {
	return j.append(Mutation{Op: PutCache, Cache: name, Config: config})
}

// AppendDeleteCache queues the removal of a cache and its items.
func (j *Journal) AppendDeleteCache(name string) uint64 {
	return j.append(Mutation{Op: DeleteCache, Cache: name})
}

// AppendPaused queues whether a cache's refresh is paused.
func (j *Journal) AppendPaused(name string, paused bool) uint64 {
	return j.append(Mutation{Op: PausePut, Cache: name, Paused: paused})
}

func (j *Journal) append(m Mutation) uint64 {
	j.mu.Lock()
	for len(j.queue) >= j.maxPending && !j.closed && !j.broken {
		if j.failure.Load() != nil {
			// While the store fails the writer makes no room, and the
			// caller (who holds a shard lock) would hang here.
			j.overflowLocked()
			break
		}
		j.space.Wait()
	}
	j.next++
	m.Seq = j.next
	if !j.closed && !j.broken {
		j.queue = append(j.queue, m)
		j.lastQueued = m.Seq
	}
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	return m.Seq
}

// overflowLocked gives up on the queued changes; see ErrOverflow. None of
// them was acknowledged: the store was failing, so their Waits refused.
// Callers hold mu.
func (j *Journal) overflowLocked() {
	err := ErrOverflow
	j.failure.Store(&err)
	j.broken = true
	j.queue = nil
	j.space.Broadcast()
	j.log.Error("storage failed until the journal's queue was full; writes are refused until restart", zap.Int("maxPending", j.maxPending))
}

// Durable implements cache.Journal[*record.Record].
func (j *Journal) Durable() uint64 { return j.durable.Load() }

// Wait implements cache.Journal[*record.Record]. Its errors have code Unavailable: the
// change may or may not be on disk, so it must not be acknowledged.
func (j *Journal) Wait(seq uint64) error {
	for {
		// The channel is taken before durable is read: a write that ends
		// in between closes this very channel, so its wake-up is not lost.
		j.mu.Lock()
		ch := j.commit
		queued := seq <= j.lastQueued
		j.mu.Unlock()
		if j.durable.Load() >= seq {
			return nil
		}
		if err := j.failure.Load(); err != nil {
			return errs.Wrap(errs.Unavailable, *err, "storage is failing")
		}
		if !queued {
			// Appended after Close (or before Run and never queued).
			return errs.Wrap(errs.Unavailable, ErrClosed, "server is shutting down")
		}
		if j.waitHook != nil {
			j.waitHook()
		}
		select {
		case <-ch:
		case <-j.finished:
			// Run is gone: what is not durable now never will be.
			if j.durable.Load() >= seq {
				return nil
			}
			if err := j.failure.Load(); err != nil {
				return errs.Wrap(errs.Unavailable, *err, "storage is failing")
			}
			return errs.Wrap(errs.Unavailable, ErrClosed, "server is shutting down")
		}
	}
}

// Err returns the error the store last failed with, or nil while it is
// healthy. /readyz reports it.
func (j *Journal) Err() error {
	if err := j.failure.Load(); err != nil {
		return *err
	}
	return nil
}

// Run writes queued changes until ctx is cancelled, then writes what is
// still queued and returns. A failed write is tried again after a backoff
// (see Journal). Callers close the store after Run returns.
func (j *Journal) Run(ctx context.Context) {
	defer close(j.finished)
	var delay time.Duration // zero while the store works
	for {
		if delay == 0 {
			select {
			case <-ctx.Done():
				j.drain()
				return
			case <-j.wake:
			}
		} else {
			// New changes do not cut a backoff short: they queue behind
			// the failed batch anyway.
			t := j.clock.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				j.drain()
				return
			case <-t.C():
			}
		}
		delay = j.writeAll(delay)
	}
}

// writeAll writes until the queue is empty or the store fails, and returns
// the delay before the next attempt: zero when everything was written.
func (j *Journal) writeAll(delay time.Duration) time.Duration {
	for {
		wrote, err := j.flush()
		if err != nil {
			return min(max(2*delay, minRetryDelay), maxRetryDelay)
		}
		if !wrote {
			return 0
		}
	}
}

// drain stops the queue and makes one attempt to write what is in it.
// If the store still fails the rest is given up: none of it was
// acknowledged, and shutdown must end.
func (j *Journal) drain() {
	j.mu.Lock()
	j.closed = true
	j.space.Broadcast()
	j.mu.Unlock()
	for {
		wrote, err := j.flush()
		if err != nil {
			j.mu.Lock()
			lost := len(j.pending) + len(j.queue)
			j.mu.Unlock()
			j.log.Error("storage still failing at shutdown; unacknowledged changes not written", zap.Int("changes", lost), zap.Error(err))
			break
		}
		if !wrote {
			break
		}
	}
	j.notify() // wake waiters of changes that will never be written
}

// Done is closed when Run has returned.
func (j *Journal) Done() <-chan struct{} { return j.finished }

// flush makes one attempt to write the next group: the batch that failed
// last, or else the head of the queue. It reports whether there was
// anything to write, and the store's error.
func (j *Journal) flush() (bool, error) {
	batch := j.pending
	if batch == nil {
		if batch = j.take(); batch == nil {
			return false, nil
		}
	}
	err := j.store.Apply(context.Background(), batch)
	j.mu.Lock()
	switch {
	case err == nil:
		j.pending = nil
		j.durable.Store(batch[len(batch)-1].Seq)
		// After an overflow the error stays: later changes were dropped.
		if !j.broken && j.failure.Swap(nil) != nil {
			j.log.Info("storage works again; writes are acknowledged again")
		}
	case j.broken:
		j.pending = nil // the queue was given up; see ErrOverflow
	default:
		j.pending = batch
		if j.failure.Swap(&err) == nil {
			j.log.Error("storage failed; writes are refused until it works again", zap.Error(err))
		} else {
			j.log.Debug("storage still failing", zap.Error(err))
		}
		// Appenders waiting for room re-check: see append.
		j.space.Broadcast()
	}
	j.notifyLocked()
	j.mu.Unlock()
	return true, err
}

// take removes the next group from the queue (nil if it is empty).
func (j *Journal) take() []Mutation {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := min(len(j.queue), maxBatch)
	if n == 0 {
		return nil
	}
	batch := j.queue[:n:n]
	j.queue = j.queue[n:]
	if len(j.queue) == 0 {
		j.queue = nil // let the backing array go
	}
	j.space.Broadcast()
	return batch
}

// notify wakes every Wait to look again.
func (j *Journal) notify() {
	j.mu.Lock()
	j.notifyLocked()
	j.mu.Unlock()
}

// notifyLocked is notify for callers that hold mu.
func (j *Journal) notifyLocked() {
	close(j.commit)
	j.commit = make(chan struct{})
}
