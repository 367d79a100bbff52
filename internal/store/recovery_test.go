package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/internal/store"
	"github.com/autorefresh/autorefresh/internal/store/storetest"
)

func put(id string) cache.Change[*record.Record] {
	now := time.Unix(1_700_000_000, 0).UTC()
	return cache.Change[*record.Record]{Kind: cache.ChangePut, Cache: "c", ID: id,
		Item: &record.Record{ID: id, Data: json.RawMessage(`{}`), Version: 1, CreatedAt: now, UpdatedAt: now}}
}

// faultyJournal runs a journal, on a fake clock, in front of a Faulty
// wrapping a Bolt in a temporary directory.
func faultyJournal(t *testing.T, opts ...store.JournalOption) (*store.Journal, *storetest.Faulty, *testingclock.FakeClock, func()) {
	t.Helper()
	db, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &storetest.Faulty{Store: db}
	clk := testingclock.NewFakeClock(time.Unix(0, 0))
	j := store.NewJournal(f, zap.NewNop(), append([]store.JournalOption{store.WithClock(clk)}, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	go j.Run(ctx)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-j.Done()
			db.Close()
		}
	}
	t.Cleanup(stop)
	return j, f, clk, stop
}

// waitErr calls Wait and fails the test if it blocks: a client must get an
// answer while the store fails, not a hang.
func waitErr(t *testing.T, j *store.Journal, seq uint64) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- j.Wait(seq) }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("Wait(%d) hangs", seq)
		return nil
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var errDisk = fmt.Errorf("write autorefresh.db: %w", syscall.EIO)

func TestJournalRefusesWhileTheStoreFailsAndRecoversInOrder(t *testing.T) {
	j, f, clk, _ := faultyJournal(t)
	if err := waitErr(t, j, j.Append(put("ok"))); err != nil {
		t.Fatal(err)
	}
	f.Fail(errDisk)
	a := j.Append(put("a"))
	if err := waitErr(t, j, a); errs.CodeOf(err) != errs.Unavailable || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Wait during the fault: %v, want Unavailable with the store's error", err)
	}
	if !errors.Is(j.Err(), syscall.EIO) {
		t.Fatalf("Err during the fault: %v", j.Err())
	}
	// Changes appended during the fault are refused at once too, and
	// queue behind the failed batch.
	b := j.Append(put("b"))
	if err := waitErr(t, j, b); errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("Wait for a change after the failed one: %v", err)
	}
	// The retry is on the clock: each step past the backoff is one more
	// refused attempt, until the fault clears.
	for attempt := 2; attempt <= 4; attempt++ {
		eventually(t, "the retry timer", clk.HasWaiters)
		clk.Step(2 * time.Second)
		eventually(t, fmt.Sprintf("attempt %d", attempt), func() bool { return f.Refused() >= attempt })
	}
	f.Clear()
	eventually(t, "the retry timer", clk.HasWaiters)
	clk.Step(2 * time.Second)
	eventually(t, "recovery", func() bool { return j.Err() == nil })
	if err := waitErr(t, j, b); err != nil {
		t.Fatalf("after the fault cleared: %v", err)
	}
	// The failed batch went first, nothing was lost or reordered.
	if got := f.Applied(); !slices.Equal(got, []uint64{1, a, b}) {
		t.Fatalf("applied %v, want [1 %d %d]", got, a, b)
	}
	if err := waitErr(t, j, j.Append(put("c"))); err != nil {
		t.Fatalf("a write after recovery: %v", err)
	}
}

// When the queue fills while the store fails, Append must not wait for room
// the writer cannot make (its caller holds a shard lock): the journal gives
// up and refuses until restart, and says why.
func TestJournalOverflowWhileFailingRefusesInsteadOfHanging(t *testing.T) {
	j, f, clk, _ := faultyJournal(t, store.WithMaxPending(4))
	f.Fail(errDisk)
	first := j.Append(put("first"))
	if err := waitErr(t, j, first); errs.CodeOf(err) != errs.Unavailable {
		t.Fatal(err)
	}
	done := make(chan uint64)
	go func() {
		var last uint64
		for i := range 10 {
			last = j.Append(put(fmt.Sprint(i)))
		}
		done <- last
	}()
	var last uint64
	select {
	case last = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Append hangs on a full queue while the store fails")
	}
	if !errors.Is(j.Err(), store.ErrOverflow) {
		t.Fatalf("Err: %v, want ErrOverflow", j.Err())
	}
	f.Clear()
	clk.Step(2 * time.Second)
	if err := waitErr(t, j, last); errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("a change dropped by the overflow was acknowledged: %v", err)
	}
	if err := waitErr(t, j, j.Append(put("later"))); errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("a change after the overflow was acknowledged: %v", err)
	}
}

// An Append already waiting for room when the store starts failing must
// be woken, not left waiting for a writer that makes no progress.
func TestJournalWakesAppendWaitingForRoomWhenTheStoreFails(t *testing.T) {
	g := &gate{entered: make(chan struct{}, 4), result: make(chan error)}
	db, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g.Store = db
	j := store.NewJournal(g, zap.NewNop(), store.WithMaxPending(1), store.WithClock(testingclock.NewFakeClock(time.Unix(0, 0))))
	ctx, cancel := context.WithCancel(context.Background())
	go j.Run(ctx)
	defer func() { cancel(); close(g.result); <-j.Done() }()

	j.Append(put("a")) // taken by the writer, which blocks in Apply
	<-g.entered
	j.Append(put("b")) // fills the queue
	done := make(chan struct{})
	go func() { j.Append(put("c")); close(done) }()
	select {
	case <-done:
		t.Fatal("Append did not wait for room")
	case <-time.After(50 * time.Millisecond):
	}
	g.result <- errDisk
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Append waiting for room hangs after the store failed")
	}
}

// gate holds each Apply until the test sends its result.
type gate struct {
	store.Store
	entered chan struct{}
	result  chan error
}

func (g *gate) Apply(ctx context.Context, b []store.Mutation) error {
	g.entered <- struct{}{}
	if err, ok := <-g.result; ok && err != nil {
		return err
	}
	return g.Store.Apply(ctx, b)
}

// A change whose write fails during shutdown is refused, not waited for
// for ever, and so is one appended after Run returned.
func TestJournalShutdownWhileFailingEndsEveryWait(t *testing.T) {
	j, f, _, stop := faultyJournal(t)
	f.Fail(errDisk)
	seq := j.Append(put("a"))
	stop()
	if err := waitErr(t, j, seq); errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("unwritten change at shutdown: %v", err)
	}
	if err := waitErr(t, j, j.Append(put("late"))); errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("change after shutdown: %v", err)
	}
	if n := len(f.Applied()); n != 0 {
		t.Fatalf("%d mutations written by a failing store", n)
	}
}
