package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// newClient is a keep-alive client that keeps an idle connection for each
// of up to conns concurrent requests, so that the load never reconnects.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     5 * time.Minute,
			DisableCompression:  true,
		},
	}
}

// api calls one server.
type api struct {
	client *http.Client
	base   string // http://host:port
}

// do sends body (JSON, or nil) and returns the status and the response body.
func (a api) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// expect calls do and fails unless the status is want.
func (a api) expect(ctx context.Context, want int, method, path string, body []byte) ([]byte, error) {
	st, b, err := a.do(ctx, method, path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if st != want {
		return nil, fmt.Errorf("%s %s: %d, want %d: %.300s", method, path, st, want, b)
	}
	return b, nil
}

// putCache registers cache name with the given config (a JSON object).
func (a api) putCache(ctx context.Context, name, config string) error {
	_, err := a.expect(ctx, http.StatusCreated, http.MethodPut, "/v1/caches/"+name, []byte(config))
	return err
}

// createOne creates item id with a small JSON body, as a new item (201).
func (a api) createOne(ctx context.Context, cache, id string, n int) error {
	body := make([]byte, 0, 96)
	body = append(body, `{"id":"`...)
	body = append(body, id...)
	body = append(body, `","data":{"status":"running","n":`...)
	body = strconv.AppendInt(body, int64(n), 10)
	body = append(body, "}}"...)
	_, err := a.expect(ctx, http.StatusCreated, http.MethodPost, "/v1/caches/"+cache+"/items", body)
	return err
}

var createdTrue = []byte(`"created":true`)

// createBulk creates size new items, ids prefix-0 … prefix-(size-1), in one
// bulk request. It returns how many the answer says were created; fewer
// than size is an error too.
func (a api) createBulk(ctx context.Context, cache, prefix string, size int) (int, error) {
	body := make([]byte, 0, 64+size*(len(prefix)+56))
	body = append(body, `{"items":[`...)
	for i := range size {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"id":"`...)
		body = append(body, prefix...)
		body = strconv.AppendInt(body, int64(i), 10)
		body = append(body, `","data":{"status":"running","n":`...)
		body = strconv.AppendInt(body, int64(i), 10)
		body = append(body, "}}"...)
	}
	body = append(body, "]}"...)
	b, err := a.expect(ctx, http.StatusOK, http.MethodPost, "/v1/caches/"+cache+"/items/batch", body)
	if err != nil {
		return 0, err
	}
	n := bytes.Count(b, createdTrue)
	if n != size {
		return n, fmt.Errorf("bulk create: %d of %d created: %.300s", n, size, b)
	}
	return n, nil
}

// loadItems creates n items in cache in bulk requests of size, from
// clients at once, ids prefix<request>-<i>.
func (a api) loadItems(ctx context.Context, cache, prefix string, n, size, clients int) error {
	requests := (n + size - 1) / size
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for w := range clients {
		wg.Go(func() {
			for {
				r := int(next.Add(1)) - 1
				if r >= requests || ctx.Err() != nil {
					return
				}
				k := min(size, n-r*size)
				if _, err := a.createBulk(ctx, cache, prefix+strconv.Itoa(r)+"-", k); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(append(errs, ctx.Err())...)
}

// rate is what one measuring window saw.
type rate struct {
	items   int64         // done within the window
	errors  int64         // failed calls within the window
	elapsed time.Duration // the window's real length
	cpu     float64       // the server's CPU seconds within the window
	err     error         // the first failure, if any
}

func (r rate) perSecond() float64 { return float64(r.items) / r.elapsed.Seconds() }

// cpuPerItem is the server's CPU time per item, in microseconds.
func (r rate) cpuPerItem() float64 {
	if r.items == 0 {
		return 0
	}
	return r.cpu / float64(r.items) * 1e6
}

// counter reads a running total: items done and calls failed so far.
type counter func() (items, errors int64)

// cpuClock reads the CPU seconds a process has used so far.
type cpuClock func() (float64, error)

// window waits warmup, then reads count and the server's CPU time before
// and after a window of the given length, by the real clock. The load runs
// throughout, driven by someone else.
func window(ctx context.Context, cpu cpuClock, warmup, length time.Duration, count counter) (rate, error) {
	if err := sleep(ctx, warmup); err != nil {
		return rate{}, err
	}
	i0, e0 := count()
	c0, err := cpu()
	if err != nil {
		return rate{}, err
	}
	t0 := time.Now()
	if err := sleep(ctx, length); err != nil {
		return rate{}, err
	}
	i1, e1 := count()
	elapsed := time.Since(t0)
	c1, err := cpu()
	if err != nil {
		return rate{}, err
	}
	return rate{items: i1 - i0, errors: e1 - e0, elapsed: elapsed, cpu: c1 - c0}, nil
}

// drive runs call from workers goroutines in a loop (seq counts each
// worker's calls from 0) while a window is measured, then stops them and
// waits for them. call returns how many items it did.
func drive(ctx context.Context, cpu cpuClock, workers int, warmup, length time.Duration,
	call func(ctx context.Context, worker, seq int) (int, error)) (rate, error) {
	loadCtx, stop := context.WithCancel(ctx)
	var items, fails atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for seq := 0; loadCtx.Err() == nil; seq++ {
				n, err := call(loadCtx, w, seq)
				items.Add(int64(n))
				if err != nil && loadCtx.Err() == nil {
					fails.Add(1)
					once.Do(func() { firstErr = err })
				}
			}
		})
	}
	r, err := window(ctx, cpu, warmup, length, func() (int64, int64) { return items.Load(), fails.Load() })
	stop()
	wg.Wait()
	if r.errors > 0 {
		r.err = firstErr
	}
	return r, err
}

// sleep waits d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
