package registry

import (
	"context"
	"fmt"
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
	for _, durable := range []bool{false, true} {
		b.Run(fmt.Sprintf("durable=%v", durable), func(b *testing.B) {
			opts := Options{Registerer: prometheus.NewRegistry(), Logger: zap.NewNop(), Egress: &egress.Policy{AllowPrivate: true}}
			if durable {
				db, err := store.OpenBolt(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				j := store.NewJournal(db, zap.NewNop())
				ctx, cancel := context.WithCancel(context.Background())
				go j.Run(ctx)
				defer func() { cancel(); <-j.Done(); db.Close() }()
				opts.Journal = j
			}
			r, err := New(opts)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); r.Wait() }()
			r.Start(ctx)
			if _, err := r.Put(bg, "bench", cfg(func(c *autorefresh.Config) { c.Size = 10_000_000 })); err != nil {
				b.Fatal(err)
			}
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
}
