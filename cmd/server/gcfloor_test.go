package main

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name        string
		live, floor uint64
		base, want  int
	}{
		{"no floor", 10 * mib, 0, 100, 100},
		{"heap past the floor", 200 * mib, 128 * mib, 100, 100},
		{"heap at half the floor", 64 * mib, 128 * mib, 100, 100},
		{"small heap: goal at the floor", 32 * mib, 128 * mib, 100, 300},
		{"tiny heap: capped where the runtime's minimum goal is the floor", 1 * mib, 128 * mib, 100, 3200},
		{"no GC yet", 0, 128 * mib, 100, 3200},
		{"a higher base stands", 32 * mib, 128 * mib, 400, 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := gcPercentFor(c.live, c.floor, c.base); got != c.want {
				t.Fatalf("gcPercentFor(%d MiB, %d MiB, %d) = %d, want %d", c.live/mib, c.floor/mib, c.base, got, c.want)
			}
		})
	}
}

// gcFloor sets a percentage at once, follows the live heap on its ticker,
// and puts the base back when it stops.
func TestGCFloorSetsAndRestores(t *testing.T) {
	var mu sync.Mutex
	var set []int
	record := func(p int) int {
		mu.Lock()
		defer mu.Unlock()
		set = append(set, p)
		return 0
	}
	calls := func() []int {
		mu.Lock()
		defer mu.Unlock()
		return append([]int(nil), set...)
	}
	clk := testingclock.NewFakeClock(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	// A floor far above any test heap: the percentage is the largest.
	const floor = 1 << 40
	go func() {
		defer close(done)
		gcFloor(ctx, clk, floor, 100, record)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(calls()) == 0 || !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("gcFloor set nothing, or never waited on its ticker")
		}
		time.Sleep(time.Millisecond)
	}
	first := calls()[0]
	if first <= 100 {
		t.Fatalf("first percentage %d, want above the base for a heap under the floor", first)
	}
	clk.Step(gcFloorEvery) // the same heap: no change worth making
	cancel()
	<-done
	got := calls()
	if got[len(got)-1] != 100 {
		t.Fatalf("percentages set %v: the base was not put back", got)
	}
}

func TestGCFloorFlag(t *testing.T) {
	parse := func(args ...string) (config, error) {
		return parseConfig(append([]string{"autorefresh"}, args...), func(string) string { return "" }, io.Discard)
	}
	cfg, err := parse()
	if err != nil || cfg.gcFloorMiB != 128 {
		t.Fatalf("default: %d, %v; want 128", cfg.gcFloorMiB, err)
	}
	if cfg, err = parse("--gc-floor-mib", "0"); err != nil || cfg.gcFloorMiB != 0 {
		t.Fatalf("--gc-floor-mib 0: %d, %v", cfg.gcFloorMiB, err)
	}
	if _, err := parse("--gc-floor-mib", "-1"); err == nil || !strings.Contains(err.Error(), "--gc-floor-mib") {
		t.Fatalf("--gc-floor-mib -1: %v, want an error naming the flag", err)
	}
}
