package main

import (
	"context"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"k8s.io/utils/clock"
)

// A small live heap makes Go collect garbage often: with GOGC=100 a server
// holding 30 MiB collects every 30 MiB allocated, several times a second
// under load, and each cycle's mark assists land on the requests being
// served. In the soak (5,000 GET/s, 49k items refreshed) that put p99 GET
// at 13-15 ms; with GOGC=400 it was 9.6 ms. GOGC=400 for every heap would
// let a large heap grow to five times its size, so the floor raises the
// GC percentage only as far as the heap goal needs to reach floor bytes:
// a small heap gets a goal of about the floor, a heap of floor/2 or more
// gets the percentage it had (GOGC, or 100). The memory it costs is at
// most the floor.

// gcFloorEvery is how often the percentage follows the live heap.
const gcFloorEvery = time.Second

// runtimeHeapMinimum is the heap goal Go keeps for a tiny live heap at
// GOGC=100 (the runtime's heapMinimum); it scales with the percentage.
const runtimeHeapMinimum = 4 << 20

// gcPercentFor is the GC percentage that makes the heap goal, live × (1 +
// p/100), at least floor, and never less than base. It is at most the
// percentage at which the runtime's own minimum goal (4 MiB × p/100, for a
// tiny live heap such as at start, or before the first GC: live 0) is the
// floor, so the goal never passes the floor by much.
func gcPercentFor(live, floor uint64, base int) int {
	if floor == 0 || live >= floor {
		return base
	}
	most := 100 * float64(floor) / runtimeHeapMinimum
	p := most
	if live > 0 {
		p = min(math.Ceil(100*float64(floor-live)/float64(live)), most)
	}
	return max(base, int(p))
}

// gcFloor keeps the GC percentage at gcPercentFor(live heap, floor, base)
// until ctx ends, then puts base back. set is debug.SetGCPercent (a test
// passes its own). It changes the percentage only when it moves by a tenth
// or more, so it rarely touches the runtime.
func gcFloor(ctx context.Context, clk clock.WithTicker, floor uint64, base int, set func(int) int) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	current := -1
	apply := func() {
		metrics.Read(sample)
		var live uint64
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = sample[0].Value.Uint64()
		}
		p := gcPercentFor(live, floor, base)
		if current < 0 || math.Abs(float64(p-current)) >= float64(current)/10 {
			set(p)
			current = p
		}
	}
	apply()
	defer set(base)
	t := clk.NewTicker(gcFloorEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			apply()
		}
	}
}

// startGCFloor runs gcFloor for the process, over Go's default of 100,
// unless floorMiB is 0 or the operator set GOGC, whose choice stands. stop
// ends it and returns once the percentage is back to 100.
func startGCFloor(ctx context.Context, floorMiB int64, getenv func(string) string) (stop func()) {
	if floorMiB == 0 || getenv("GOGC") != "" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		gcFloor(ctx, clock.RealClock{}, uint64(floorMiB)<<20, 100, debug.SetGCPercent)
	}()
	return func() {
		cancel()
		<-done
	}
}
