package cache

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
)

// shardCount splits the item map so that parallel Gets on different items
// rarely touch the same mutex. It is a power of two so the shard is picked
// with a mask.
const shardCount = 64

// entry is one cached item. Every field except id is guarded by the mutex of
// the entry's shard. An entry that has left its shard (deleted or evicted) is
// marked removed and is never put back: a new GetOrCreate for the same id makes
// a new entry, which is how late sync results for the old one are recognised
// and dropped.
//
// It is 80 bytes (a size class of its own; the 96 it was cost 16 bytes an
// item at a million items): fields are ordered by size, times are Unix
// nanoseconds rather than time.Time's 24 bytes, and the two fields that are
// usually zero (seq without a journal, an explicit due time) live behind
// one pointer, nil while both are. TestEntrySize keeps it there.
type entry[T Item] struct {
	// The fields that a Get and a cycle's snapshot read come first, in 56
	// bytes: an 80-byte entry starts 16-byte aligned, so they span one
	// cache line more often than the whole entry would.
	id   ItemID
	item T
	x    *entryExtra
	// ver counts the changes made to the item other than by a sync answer
	// (Modify, an expiry): a batch remembers it, and an answer for an
	// entry changed since its batch was cut is dropped (later change wins).
	ver           uint32
	pendingDelete bool
	inFlight      bool
	// removing: its removal is journaled but not yet durable, so it is
	// still shown (as the pending deletion it is); see deletePending.
	removing bool
	removed  bool
	stamp    uint64 // the cache clock at the last create or use; the shard's list is ordered by it

	// prev and next link the entry into its shard's recency list, most recent
	// at the head. An intrusive list avoids an allocation per item.
	prev, next *entry[T]
	syncedAt   int64 // Unix nanoseconds of the last sync answer; 0 if never
}

// entryExtra holds an entry's usually-zero fields; see entry.
type entryExtra struct {
	// seq is the journal sequence of the last change; 0 without a journal.
	seq uint64
	// due is when the item's next sync is due, in Unix nanoseconds; 0 is
	// the regular cadence (the next resync tick). See schedule.go.
	due int64
}

// seq returns e's journal sequence. Callers hold the lock of e's shard, as
// for every accessor below.
func (e *entry[T]) seq() uint64 {
	if e.x == nil {
		return 0
	}
	return e.x.seq
}

// due returns e's explicit due time.
func (e *entry[T]) due() int64 {
	if e.x == nil {
		return 0
	}
	return e.x.due
}

// setSeq sets e's journal sequence; a zero allocates nothing.
func (e *entry[T]) setSeq(seq uint64) {
	if x := e.extra(seq != 0); x != nil {
		x.seq = seq
	}
}

// setDue sets e's explicit due time; a zero allocates nothing.
func (e *entry[T]) setDue(due int64) {
	if x := e.extra(due != 0); x != nil {
		x.due = due
	}
}

// extra returns e.x, made first if need is set. It is nil when e has none
// and none is needed: storing a zero where every field reads zero already.
func (e *entry[T]) extra(need bool) *entryExtra {
	if e.x == nil && need {
		e.x = &entryExtra{}
	}
	return e.x
}

// shard is one slice of the cache: a map and a recency list, under one mutex.
type shard[T Item] struct {
	mu   sync.Mutex
	idx  index[T]
	seed maphash.Seed // the cache's hash seed, to find a removed entry's slot
	head *entry[T]    // most recently used
	tail *entry[T]    // least recently used

	// Counted under mu because Get holds it anyway; a shared atomic would be a
	// contended cache line on every read.
	hits, misses uint64

	// classes counts the shard's items per Options.Class; nil without
	// classes. Kept at every change, so Stats never scans the items.
	classes []int64

	// events is the shard's outbox (see events.go): the events of its
	// changes, in change order, waiting to be durable. delivering is set
	// while one goroutine hands them out.
	events     []pendingEvent[T]
	delivering bool

	// tails points at this shard's slot of shards.tails.
	tails *atomic.Uint64
	no    uint8 // its index in shards.s (shardCount fits a byte)

	_ [32]byte // keep neighbouring shards' hot fields on separate cache lines
}

// pushFront links e at the head. Callers hold s.mu and call publishTail
// when done.
func (s *shard[T]) pushFront(e *entry[T]) {
	e.prev = nil
	e.next = s.head
	if s.head != nil {
		s.head.prev = e
	}
	s.head = e
	if s.tail == nil {
		s.tail = e
	}
}

// unlink takes e out of the list. Callers hold s.mu.
func (s *shard[T]) unlink(e *entry[T]) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// touch moves e to the head with a fresh stamp. Callers hold s.mu.
func (s *shard[T]) touch(e *entry[T], stamp uint64) {
	e.stamp = stamp
	wasTail := s.tail == e
	if s.head != e {
		s.unlink(e)
		s.pushFront(e)
	}
	if wasTail {
		// The tail moved, or (a one-item shard) its stamp did.
		s.publishTail()
	}
}

// entry returns the public view of e. Callers hold the shard's lock.
func (e *entry[T]) entry() Entry[T] {
	return Entry[T]{ID: e.id, Item: e.item, SyncedAt: unixNano(e.syncedAt), DueAt: unixNano(e.due()),
		PendingDelete: e.pendingDelete, seq: e.seq()}
}

// remove deletes e from the shard and marks it removed. Callers hold s.mu.
func (s *shard[T]) remove(e *entry[T]) {
	s.unlink(e)
	s.idx.del(maphash.String(s.seed, e.id), e)
	e.removed = true
	s.publishTail()
}

// publishTail records the stamp of the shard's least recently used entry
// where evictors can read it without taking the shard's lock. Callers hold
// s.mu.
func (s *shard[T]) publishTail() {
	stamp := uint64(math.MaxUint64)
	if s.tail != nil {
		stamp = s.tail.stamp
	}
	if s.tails.Load() != stamp {
		s.tails.Store(stamp)
	}
}

// shards is the fixed set of shards with the hash seed that picks one.
type shards[T Item] struct {
	seed maphash.Seed
	s    [shardCount]shard[T]
	// tails holds each shard's least recent stamp (MaxUint64 when empty),
	// packed together so that an evictor finds the global least recently
	// used item by reading a few cache lines instead of locking every shard.
	tails [shardCount]atomic.Uint64
}

func newShards[T Item](classes int) *shards[T] {
	sh := &shards[T]{seed: maphash.MakeSeed()}
	for i := range sh.s {
		sh.s[i].idx = newIndex[T]()
		sh.s[i].seed = sh.seed
		sh.s[i].no = uint8(i)
		if classes > 0 {
			sh.s[i].classes = make([]int64, classes)
		}
		sh.s[i].tails = &sh.tails[i]
		sh.tails[i].Store(math.MaxUint64)
	}
	return sh
}

// of returns the shard that holds id.
func (sh *shards[T]) of(id ItemID) *shard[T] {
	s, _ := sh.locate(id)
	return s
}

// locate returns the shard that holds id and id's hash, its key in the
// shard's index.
func (sh *shards[T]) locate(id ItemID) (*shard[T], uint64) {
	h := maphash.String(sh.seed, id)
	return &sh.s[h&(shardCount-1)], h
}
