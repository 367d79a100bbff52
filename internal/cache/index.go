package cache

import "iter"

// index is a shard's id → entry map, keyed by the id's 64-bit hash rather
// than by the id. The shard is picked by that hash anyway, so it is computed
// once per call; a uint64 key makes a slot 16 bytes instead of a string key's
// 24 (at a million items, about 18 bytes an item less) and its lookup the
// runtime's fast 64-bit path, which compares no string.
//
// Two ids may share a hash. The first holds the slot in byHash; the others
// go to clash, keyed by id, which stays nil (and costs nothing) until that
// happens, which with a random per-cache seed is about once in 10¹³ pairs.
// Every method checks the id, so a clash is never a wrong answer, only a
// second lookup.
//
// Callers hold the shard's lock.
type index[T Item] struct {
	byHash map[uint64]*entry[T]
	clash  map[ItemID]*entry[T]
}

func newIndex[T Item]() index[T] {
	return index[T]{byHash: make(map[uint64]*entry[T])}
}

// get returns the entry for id, whose hash is h.
func (x *index[T]) get(h uint64, id ItemID) (*entry[T], bool) {
	if e, ok := x.byHash[h]; ok && e.id == id {
		return e, true
	}
	if len(x.clash) == 0 {
		return nil, false
	}
	e, ok := x.clash[id]
	return e, ok
}

// put adds e, whose id hashes to h and is not in the index yet.
func (x *index[T]) put(h uint64, e *entry[T]) {
	if _, taken := x.byHash[h]; !taken {
		x.byHash[h] = e
		return
	}
	if x.clash == nil {
		x.clash = make(map[ItemID]*entry[T])
	}
	x.clash[e.id] = e
}

// del removes e, whose id hashes to h. An entry of clash whose hash frees
// up stays where it is: get looks there whenever byHash has no match.
func (x *index[T]) del(h uint64, e *entry[T]) {
	if x.byHash[h] == e {
		delete(x.byHash, h)
		return
	}
	delete(x.clash, e.id)
	if len(x.clash) == 0 {
		x.clash = nil
	}
}

// len returns the number of entries.
func (x *index[T]) len() int { return len(x.byHash) + len(x.clash) }

// all yields every entry, in no particular order. The index must not change
// during the walk.
func (x *index[T]) all() iter.Seq[*entry[T]] {
	return func(yield func(*entry[T]) bool) {
		for _, e := range x.byHash {
			if !yield(e) {
				return
			}
		}
		for _, e := range x.clash {
			if !yield(e) {
				return
			}
		}
	}
}
