package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

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

// ErrClosed is returned by Wait for changes appended after Close.
var ErrClosed = errors.New("store: journal closed")

// Journal orders changes and writes them to a Store in groups: every change
// appended while a transaction commits goes into the next one, so concurrent
// writers share fsyncs (group commit). It implements cache.Journal.
//
// Locking: mu guards the queue and is never held during I/O.
type Journal struct {
	store      Store
	log        *zap.Logger
	maxPending int

	mu         sync.Mutex
	queue      []Mutation
	next       uint64        // last sequence handed out
	lastQueued uint64        // last sequence that will be written
	space      *sync.Cond    // signalled when the queue shrinks
	commit     chan struct{} // closed and replaced after each commit
	closed     bool
	wake       chan struct{}
	durable    atomic.Uint64
	failure    atomic.Pointer[error]
	finished   chan struct{}
}

// NewJournal builds a journal in front of s. Run must be called for
// anything to be written.
func NewJournal(s Store, log *zap.Logger) *Journal {
	j := &Journal{
		store: s, log: log, maxPending: DefaultMaxPending,
		commit: make(chan struct{}), wake: make(chan struct{}, 1), finished: make(chan struct{}),
	}
	j.space = sync.NewCond(&j.mu)
	return j
}

// Append implements cache.Journal.
func (j *Journal) Append(c cache.Change) uint64 {
	m := Mutation{Cache: c.Cache, ID: c.ID}
	switch c.Kind {
	case cache.ChangePut:
		m.Op = PutItem
		rec, ok := c.Item.(*record.Record)
		if !ok {
			// Only records are stored; anything else is a wiring bug that
			// the writer reports as a failed journal.
			m.Op = 0
			break
		}
		m.Item = &Item{Record: *rec}
		if !c.SyncedAt.IsZero() {
			t := c.SyncedAt.UTC()
			m.Item.SyncedAt = &t
		}
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

func (j *Journal) append(m Mutation) uint64 {
	j.mu.Lock()
	for len(j.queue) >= j.maxPending && !j.closed {
		j.space.Wait()
	}
	j.next++
	m.Seq = j.next
	if !j.closed {
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

// Durable implements cache.Journal.
func (j *Journal) Durable() uint64 { return j.durable.Load() }

// Wait implements cache.Journal. Its errors have code Unavailable: the
// change may or may not be on disk, so it must not be acknowledged.
func (j *Journal) Wait(seq uint64) error {
	for {
		if j.durable.Load() >= seq {
			return nil
		}
		if err := j.failure.Load(); err != nil {
			return errs.Wrap(errs.Unavailable, *err, "storage is failing")
		}
		j.mu.Lock()
		ch := j.commit
		// A change appended after Close was never queued.
		lost := j.closed && seq > j.lastQueued
		j.mu.Unlock()
		select {
		case <-j.finished:
			lost = j.durable.Load() < seq
		default:
		}
		if lost {
			return errs.Wrap(errs.Unavailable, ErrClosed, "server is shutting down")
		}
		<-ch
	}
}

// Err returns the error that stopped the journal, or nil while it is healthy.
// /readyz reports it.
func (j *Journal) Err() error {
	if err := j.failure.Load(); err != nil {
		return *err
	}
	return nil
}

// Run writes queued changes until ctx is cancelled, then writes what is
// still queued and returns. Callers close the store after Run returns.
func (j *Journal) Run(ctx context.Context) {
	defer close(j.finished)
	for {
		select {
		case <-ctx.Done():
			j.mu.Lock()
			j.closed = true
			j.space.Broadcast()
			j.mu.Unlock()
			for j.flush() {
			}
			j.mu.Lock()
			close(j.commit) // wake waiters of changes that will never be written
			j.commit = make(chan struct{})
			j.mu.Unlock()
			return
		case <-j.wake:
			for j.flush() {
			}
		}
	}
}

// Done is closed when Run has returned.
func (j *Journal) Done() <-chan struct{} { return j.finished }

// flush writes one group of queued changes. It reports whether it wrote
// anything, so callers loop until the queue is empty.
func (j *Journal) flush() bool {
	j.mu.Lock()
	n := min(len(j.queue), maxBatch)
	batch := j.queue[:n:n]
	j.queue = j.queue[n:]
	if len(j.queue) == 0 {
		j.queue = nil // let the backing array go
	}
	j.space.Broadcast()
	j.mu.Unlock()
	if n == 0 {
		return false
	}
	if j.failure.Load() == nil {
		if err := j.write(batch); err != nil {
			j.failure.Store(&err)
			j.log.Error("storage failed; writes are refused until restart", zap.Error(err))
		} else {
			j.durable.Store(batch[n-1].Seq)
		}
	}
	j.mu.Lock()
	close(j.commit)
	j.commit = make(chan struct{})
	j.mu.Unlock()
	return true
}

// write applies a batch, retrying briefly: a transient error (a full disk
// freed a moment later) should not take the server down at once.
func (j *Journal) write(batch []Mutation) error {
	for _, m := range batch {
		if m.Op == 0 {
			return fmt.Errorf("mutation %d: item of cache %q is not a record", m.Seq, m.Cache)
		}
	}
	var err error
	for attempt := range 3 {
		if err = j.store.Apply(context.Background(), batch); err == nil {
			return nil
		}
		j.log.Warn("storage write failed; retrying", zap.Int("attempt", attempt+1), zap.Error(err))
		time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
	}
	return err
}
