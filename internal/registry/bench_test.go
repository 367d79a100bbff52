package registry

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/store"
)

// BenchmarkCreate measures acknowledged creates per second with the bbolt
// journal (every create is durable before it returns; concurrent creates
// share fsyncs) and in memory. 64 goroutines per core stand for many
// clients, which is what group commit needs.
//
//	go test -run '^$' -bench BenchmarkCreate -benchtime 3s ./internal/registry/
func BenchmarkCreate(b *testing.B) {
	eachMode(b, func(b *testing.B, r *Registry) {
		var n atomic.Int64
		b.SetParallelism(64)
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := fmt.Sprintf("item-%d", n.Add(1))
				if _, _, err := r.CreateItem(bg, "bench", autorefresh.NewItem{ID: id, Data: []byte(`{"status":"Not-started"}`), Terminal: false}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
	})
}

// BenchmarkCreateBatch measures CreateItems (POST .../items/batch) with
// 1,000 small items a call, from 4 goroutines as cmd/bench-e2e's bulk
// creates: with the journal, each call waits for one durable commit.
//
//	go test -run '^$' -bench BenchmarkCreateBatch -benchtime 3s ./internal/registry/
func BenchmarkCreateBatch(b *testing.B) {
	eachMode(b, func(b *testing.B, r *Registry) {
		var n atomic.Int64
		b.SetParallelism(2)
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			in := make([]autorefresh.NewItem, 1000)
			for pb.Next() {
				prefix := "b" + strconv.FormatInt(n.Add(1), 10) + "-"
				for i := range in {
					in[i] = autorefresh.NewItem{ID: prefix + strconv.Itoa(i), Data: []byte(`{"status":"running","n":` + strconv.Itoa(i) + `}`)}
				}
				out, err := r.CreateItems(bg, "bench", in)
				if err != nil || out[len(out)-1].Err != nil {
					b.Error(err, out[len(out)-1].Err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N*1000)/time.Since(start).Seconds(), "items/s")
	})
}

// eachMode runs f as a sub-benchmark in memory and on the bbolt journal.
func eachMode(b *testing.B, f func(b *testing.B, r *Registry)) {
	for _, durable := range []bool{false, true} {
		b.Run(fmt.Sprintf("durable=%v", durable), func(b *testing.B) { f(b, benchRegistry(b, durable)) })
	}
}

// benchRegistry is a started registry with a cache "bench" that holds
// 10 million items, on a bbolt journal if durable; b's cleanup stops it.
func benchRegistry(b *testing.B, durable bool) *Registry {
	opts := Options{Registerer: prometheus.NewRegistry(), Logger: zap.NewNop(), Egress: &egress.Policy{AllowPrivate: true}}
	if durable {
		db, err := store.OpenBolt(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		j := store.NewJournal(db, zap.NewNop())
		ctx, cancel := context.WithCancel(context.Background())
		go j.Run(ctx)
		b.Cleanup(func() { cancel(); <-j.Done(); db.Close() })
		opts.Journal = j
	}
	r, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(func() { cancel(); r.Wait() })
	r.Start(ctx)
	if _, err := r.Put(bg, "bench", cfg(func(c *autorefresh.Config) { c.Size = 10_000_000 })); err != nil {
		b.Fatal(err)
	}
	return r
}
