package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// listed is an item as the list endpoint shows it.
type listed struct {
	ID            string `json:"id"`
	Terminal      bool   `json:"terminal"`
	Version       int64  `json:"version"`
	PendingDelete bool   `json:"pendingDelete"`
}

// listAll pages through a cache's items, 1,000 at a time. It also counts
// ids that came back twice, which stable paging must never do for items
// that exist for the whole walk.
func (a *api) listAll(ctx context.Context, cache string) (items map[string]listed, dups, pages int, err error) {
	items = map[string]listed{}
	cursor := ""
	for {
		if pages > 100_000 {
			return nil, 0, pages, fmt.Errorf("list %s: more than %d pages; the cursor does not advance", cache, pages)
		}
		u := a.base + "/v1/caches/" + cache + "/items?limit=1000"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, 0, pages, err
		}
		res, err := a.http.Do(req)
		if err != nil {
			return nil, 0, pages, fmt.Errorf("list %s: %w", cache, err)
		}
		var page struct {
			Items      []listed `json:"items"`
			NextCursor *string  `json:"nextCursor"`
		}
		err = json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return nil, 0, pages, fmt.Errorf("list %s: status %d", cache, res.StatusCode)
		}
		if err != nil {
			return nil, 0, pages, fmt.Errorf("list %s: %w", cache, err)
		}
		pages++
		for _, it := range page.Items {
			if _, seen := items[it.ID]; seen {
				dups++
			}
			items[it.ID] = it
		}
		if page.NextCursor == nil {
			return items, dups, pages, nil
		}
		cursor = *page.NextCursor
	}
}

// accounting compares the server's items with the ledgers.
type accounting struct {
	when     string
	took     time.Duration
	listed   int
	pages    int
	ackedAll int // acknowledged creates, ever

	live          int      // acknowledged, no DELETE sent: must be listed, not pending deletion
	missing       int      // ... but not listed
	markedLive    int      // ... but pending deletion
	deletedAcked  int      // DELETE answered 202: must be gone, or pending deletion
	deletedGone   int      // ... and gone
	deletedMarked int      // ... and still listed, pending deletion (until the next cycle)
	resurrected   int      // ... but listed and not pending deletion
	deleting      int      // DELETE sent, no 202: either way
	unacked       int      // POST sent, never acknowledged: either way
	unackedListed int      // ... and listed anyway
	unknown       int      // listed, but never created by the soak
	duplicates    int      // listed twice in one walk
	pending       int      // listed items pending deletion, any state
	nonTerminal   int      // listed items not yet terminal
	examples      []string // of every kind of discrepancy
}

// consistent is the accounting check: nothing acknowledged is missing or
// came back, and the server has nothing the soak did not create.
func (c accounting) consistent() bool {
	return c.missing == 0 && c.markedLive == 0 && c.resurrected == 0 && c.unknown == 0 && c.duplicates == 0
}

// settled is consistent, with every deletion carried out and every item
// terminal.
func (c accounting) settled() bool {
	return c.consistent() && c.pending == 0 && c.nonTerminal == 0
}

func (c *accounting) example(format string, args ...any) {
	if len(c.examples) < 12 {
		c.examples = append(c.examples, fmt.Sprintf(format, args...))
	}
}

// account lists every cache and checks it against its ledger. It also
// returns the listings, for the final clean-up.
func account(ctx context.Context, a *api, when string) (accounting, map[*ledger]map[string]listed, error) {
	start := time.Now()
	acc := accounting{when: when}
	all := map[*ledger]map[string]listed{}
	for _, l := range a.ledgers {
		// Snapshot the ledger first: nothing changes it now, but if
		// something did, an item acknowledged after the walk began
		// would not be in the listing.
		states := l.snapshot()
		_, acked, _ := l.counts()
		acc.ackedAll += acked
		items, dups, pages, err := a.listAll(ctx, l.cache)
		if err != nil {
			return acc, nil, err
		}
		all[l] = items
		acc.listed += len(items)
		acc.pages += pages
		acc.duplicates += dups
		if dups > 0 {
			acc.example("%s: %d ids listed twice in one walk", l.cache, dups)
		}
		for id, st := range states {
			it, present := items[id]
			switch st {
			case stCreated:
				acc.live++
				switch {
				case !present:
					acc.missing++
					acc.example("%s/%s: acknowledged, never deleted, not listed", l.cache, id)
				case it.PendingDelete:
					acc.markedLive++
					acc.example("%s/%s: acknowledged, never deleted, listed as pending deletion", l.cache, id)
				}
			case stDeleted:
				acc.deletedAcked++
				switch {
				case !present:
					acc.deletedGone++
				case it.PendingDelete:
					acc.deletedMarked++
				default:
					acc.resurrected++
					acc.example("%s/%s: delete acknowledged (202), listed and not pending deletion", l.cache, id)
				}
			case stDeleting:
				acc.deleting++
			case stCreating:
				acc.unacked++
				if present {
					acc.unackedListed++
				}
			}
		}
		for id, it := range items {
			if _, ok := states[id]; !ok {
				acc.unknown++
				acc.example("%s/%s: listed, but the soak never created it", l.cache, id)
			}
			if it.PendingDelete {
				acc.pending++
			}
			if !it.Terminal {
				acc.nonTerminal++
			}
		}
	}
	sort.Strings(acc.examples)
	acc.took = time.Since(start)
	return acc, all, nil
}

// settle repeats the accounting until it is settled or timeout passes. It
// returns the last accounting.
func settle(ctx context.Context, a *api, when string, timeout time.Duration) (accounting, map[*ledger]map[string]listed, time.Duration, error) {
	start := time.Now()
	for {
		acc, all, err := account(ctx, a, when)
		if err != nil || acc.settled() || !acc.consistent() || time.Since(start) > timeout {
			return acc, all, time.Since(start), err
		}
		select {
		case <-ctx.Done():
			return acc, all, time.Since(start), ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// deleteAll deletes every listed item with clients goroutines and returns
// the answers by status.
func deleteAll(ctx context.Context, a *api, all map[*ledger]map[string]listed, clients int) map[string]int {
	type target struct {
		l  *ledger
		id string
	}
	ch := make(chan target)
	var mu sync.Mutex
	statuses := map[string]int{}
	var n atomic.Int64
	var wg sync.WaitGroup
	for i := range clients {
		w := newWorker(a, uint64(5000+i))
		wg.Go(func() {
			local := map[string]int{}
			for t := range ch {
				t.l.markDeleting(t.id)
				code, _, err := w.do(ctx, http.MethodDelete, w.itemURL(t.l, t.id), nil)
				switch {
				case err != nil:
					local[w.errClass(err)]++
				default:
					if code == http.StatusAccepted {
						t.l.deleted(t.id)
					}
					local[fmt.Sprint(code)]++
				}
				n.Add(1)
			}
			mu.Lock()
			for k, v := range local {
				statuses[k] += v
			}
			mu.Unlock()
		})
	}
feed:
	for l, items := range all {
		for id := range items {
			select {
			case ch <- target{l, id}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(ch)
	wg.Wait()
	return statuses
}
