package cache

import (
	"slices"
	"testing"
	"unsafe"
)

// The index must stay right when ids share a hash, which real hashes make
// too rare to test: these tests give ids a hash of their choosing.
func TestIndexClashingHashes(t *testing.T) {
	x := newIndex[Item]()
	a, b, c := &entry[Item]{id: "a"}, &entry[Item]{id: "b"}, &entry[Item]{id: "c"}
	x.put(7, a)
	x.put(7, b) // clashes with a
	x.put(9, c)
	for _, e := range []*entry[Item]{a, b, c} {
		h := uint64(7)
		if e == c {
			h = 9
		}
		if got, ok := x.get(h, e.id); !ok || got != e {
			t.Fatalf("get(%d, %q) = %v, %v; want its entry", h, e.id, got, ok)
		}
	}
	if _, ok := x.get(7, "c"); ok {
		t.Fatal("get found an id under another id's hash")
	}
	if _, ok := x.get(7, "z"); ok {
		t.Fatal("get found an unknown id")
	}
	if x.len() != 3 || len(collect(x)) != 3 {
		t.Fatalf("len %d, all %d; want 3", x.len(), len(collect(x)))
	}

	// Deleting the slot's holder leaves the clashing id reachable.
	x.del(7, a)
	if _, ok := x.get(7, "a"); ok {
		t.Fatal("deleted id still found")
	}
	if got, ok := x.get(7, "b"); !ok || got != b {
		t.Fatal("clashing id lost when the slot's holder left")
	}
	// A new id of that hash takes the free slot; both stay reachable.
	d := &entry[Item]{id: "d"}
	x.put(7, d)
	for _, e := range []*entry[Item]{b, d} {
		if got, ok := x.get(7, e.id); !ok || got != e {
			t.Fatalf("get(7, %q) failed", e.id)
		}
	}
	x.del(7, b)
	if x.clash != nil {
		t.Fatal("empty clash map kept")
	}
	if got := collect(x); !slices.Equal(sortedIDs(got), []string{"c", "d"}) {
		t.Fatalf("all = %v; want c, d", sortedIDs(got))
	}
}

func collect(x index[Item]) []*entry[Item] { return slices.Collect(x.all()) }

func sortedIDs(es []*entry[Item]) []string {
	ids := make([]string, 0, len(es))
	for _, e := range es {
		ids = append(ids, e.id)
	}
	slices.Sort(ids)
	return ids
}

// The entry's size is a memory budget (with the index, it took the cache
// from 152 to 118 bytes an item at a million items): a field added to it
// must go behind entry.x or pay for a bigger size class.
func TestEntrySize(t *testing.T) {
	if got := unsafe.Sizeof(entry[Item]{}); got != 80 {
		t.Fatalf("entry is %d bytes; want 80 (see entry's doc comment)", got)
	}
}
