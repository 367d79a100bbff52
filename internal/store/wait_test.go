package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/record"
)

// gateStore holds every Apply until the test lets it through, so a test
// decides when a commit ends.
type gateStore struct {
	Store
	entered chan struct{}
	release chan struct{}
}

func newGateStore() *gateStore {
	return &gateStore{Store: memStore{}, entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (g *gateStore) Apply(ctx context.Context, b []Mutation) error {
	g.entered <- struct{}{}
	<-g.release
	return nil
}

// memStore is a Store that keeps nothing; the tests that use it only look
// at the journal.
type memStore struct{}

func (memStore) Apply(context.Context, []Mutation) error    { return nil }
func (memStore) Load(context.Context) ([]CacheState, error) { return nil, nil }
func (memStore) Close() error                               { return nil }

// waitOrFail runs j.Wait(seq) and fails the test if it has not returned
// within d: a Wait that misses its commit blocks until some later commit.
func waitOrFail(t *testing.T, j *Journal, seq uint64, d time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- j.Wait(seq) }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("Wait(%d) still blocked %v after its commit (durable %d)", seq, d, j.Durable())
		return nil
	}
}

// The commit of seq ends after Wait saw it was not durable and before Wait
// blocks: Wait must still return (issue 12, defect 1, the lost wake-up).
func TestWaitDoesNotMissACommitThatEndsWhileItChecks(t *testing.T) {
	g := newGateStore()
	j := NewJournal(g, zap.NewNop())
	var once sync.Once
	j.waitHook = func() {
		once.Do(func() {
			g.release <- struct{}{} // the commit ends now...
			deadline := time.Now().Add(5 * time.Second)
			for j.Durable() < 1 { // ...and is done before Wait blocks
				if time.Now().After(deadline) {
					t.Error("the commit did not finish")
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	go j.Run(ctx)
	seq := j.Append(cache.Change[*record.Record]{Kind: cache.ChangePut, Cache: "c", ID: "a", Item: rec("a", 1, false)})
	<-g.entered // the writer is inside Apply
	// After the test the journal must stop even if Wait was stuck.
	defer func() {
		cancel()
		close(g.release)
		<-j.Done()
	}()
	if err := waitOrFail(t, j, seq, 2*time.Second); err != nil {
		t.Fatal(err)
	}
}
