package replicated

import (
	"context"
	"sync"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
)

// Single creates of a cache that arrive while one of them is being written
// are written together, as one CreateItems: one statement, one transaction,
// one commit (and one fsync) for all of them, where each had a round trip
// and a commit of its own, and took the cache row's FOR KEY SHARE lock of
// the foreign key check on its own (concurrent lockers of one row share a
// MultiXact, created anew as each joins). Each create is answered only
// once the transaction that wrote it has committed, as before; concurrent
// creates of one id are one create and a read after it, as CreateItems
// makes them.
//
// There is no goroutine of its own: the first create of a cache with none
// under way writes at once; those that come meanwhile gather in the next
// group, whose first member (its leader) writes it when the one under way
// is done, and so on.

// createGroups are the groups of single creates, by cache.
type createGroups struct {
	mu     sync.Mutex
	caches map[string]*createQueue
}

// createQueue is one cache's: whether a group is being written, and the
// group gathering meanwhile.
type createQueue struct {
	busy bool
	next *createGroup
}

// createGroup is creates written together.
type createGroup struct {
	in   []autorefresh.NewItem
	out  []autorefresh.Created
	err  error
	lead chan struct{} // closed when the leader is to write the group
	done chan struct{} // closed once out and err are set
}

// createGrouped creates one item as CreateItem does, in a group with the
// creates of the same cache that come while another group is written.
func (s *Service) createGrouped(ctx context.Context, name string, in autorefresh.NewItem) (autorefresh.Created, error) {
	g := &s.creates
	g.mu.Lock()
	if g.caches == nil {
		g.caches = make(map[string]*createQueue)
	}
	q := g.caches[name]
	if q == nil {
		q = &createQueue{}
		g.caches[name] = q
	}
	if !q.busy {
		q.busy = true
		g.mu.Unlock()
		out, err := s.CreateItems(ctx, name, []autorefresh.NewItem{in})
		g.handOff(name, q)
		if err != nil {
			return autorefresh.Created{}, err
		}
		return out[0], nil
	}
	if q.next != nil && len(q.next.in) >= autorefresh.MaxBatchCreate {
		// The next group is full: this one goes on its own.
		g.mu.Unlock()
		out, err := s.CreateItems(ctx, name, []autorefresh.NewItem{in})
		if err != nil {
			return autorefresh.Created{}, err
		}
		return out[0], nil
	}
	leader := q.next == nil
	if leader {
		q.next = &createGroup{lead: make(chan struct{}), done: make(chan struct{})}
	}
	grp, k := q.next, len(q.next.in)
	grp.in = append(grp.in, in)
	g.mu.Unlock()
	if leader {
		// The others wait for this one: it writes the group even if
		// its own client has gone, within OpTimeout (CreateItems').
		<-grp.lead
		grp.out, grp.err = s.CreateItems(context.WithoutCancel(ctx), name, grp.in)
		close(grp.done)
		g.handOff(name, q)
	} else {
		select {
		case <-grp.done:
		case <-ctx.Done():
			// The create may still be written, as one whose client
			// went away during its statement would be.
			return autorefresh.Created{}, dbErr(ctx.Err())
		}
	}
	if grp.err != nil {
		return autorefresh.Created{}, grp.err
	}
	return grp.out[k], nil
}

// handOff ends the write of a group of q: the next group, if any, is
// written next; else the cache has no write under way.
func (g *createGroups) handOff(name string, q *createQueue) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if q.next != nil {
		close(q.next.lead)
		q.next = nil
		return
	}
	q.busy = false
	delete(g.caches, name)
}
