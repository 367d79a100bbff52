package autorefresh

import (
	"testing"
)

// FuzzParseFile feeds arbitrary text to the --config parser and the
// validation behind it: bad input must be an error, never a panic.
//
//	go test -run '^$' -fuzz FuzzParseFile -fuzztime 1m ./internal/autorefresh/
func FuzzParseFile(f *testing.F) {
	f.Add([]byte("caches:\n  jobs:\n    webhook: {url: 'http://x/'}\n    resyncPeriod: 30s\n"))
	f.Add([]byte("caches:\n  jobs:\n    webhook:\n      url: http://127.0.0.1:9000/sync\n      headers: {A: b}\n    resyncPeriod: 1h\n    rateLimit: {qps: 0.5, burst: 2}\n"))
	f.Add([]byte("caches: [1, 2]\n"))
	f.Add([]byte("caches:\n  x: &a {resyncPeriod: 1s}\n  y: *a\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := ParseFile(b)
		if err != nil {
			return
		}
		for name, c := range file.Caches {
			_ = ValidName(name)
			c = c.WithDefaults()
			if err := c.Check(); err == nil {
				if c.Parallelism < 1 || c.Size < 1 || c.BatchSize < 1 || c.ResyncPeriod <= 0 {
					t.Fatalf("validate accepted %+v", c)
				}
			}
		}
	})
}
