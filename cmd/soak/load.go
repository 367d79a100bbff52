package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// kind is a kind of request in the load.
type kind uint8

const (
	kGet kind = iota
	kCreate
	kDelete
	numKinds
)

var kindNames = [numKinds]string{"GET item", "create item", "delete item"}

// expected lists, per kind, the outcomes that are not errors.
var expected = [numKinds]map[string]bool{
	kGet:    {"200": true, "404 (delete acknowledged or sent)": true},
	kCreate: {"201": true},
	kDelete: {"202": true},
}

// job is one request of the schedule: its kind and when it was due.
type job struct {
	kind kind
	at   time.Time
}

// sample is one answered request, in nanoseconds: when it was due (since the
// start of the load), its latency from that moment to the end of the reply,
// and how much of that it spent waiting for a free client.
type sample struct {
	at, lat, wait int64
}

// api is what the clients share: one HTTP client (one transport, keeping up
// to one idle connection per client goroutine), the server and the ledgers.
type api struct {
	http    *http.Client
	base    string
	ledgers []*ledger

	// Live counters, for the progress line.
	done [numKinds]atomic.Int64
	bad  atomic.Int64
}

func newAPI(base string, conns int, ledgers []*ledger) *api {
	tr := &http.Transport{
		Proxy:               nil, // never a proxy: everything stays on 127.0.0.1
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &api{http: &http.Client{Transport: tr, Timeout: 10 * time.Second}, base: base, ledgers: ledgers}
}

// closeIdle drops the keep-alive connections, so the server's per-connection
// goroutines end before goroutines are counted.
func (a *api) closeIdle() { a.http.CloseIdleConnections() }

// worker is one client goroutine's state; nothing in it is shared.
type worker struct {
	a       *api
	rng     *rand.Rand
	buf     bytes.Buffer
	samples [numKinds][]sample
	status  map[statusKey]int
	lost    []string // examples of acknowledged items the server did not have
	errs    []string // examples of transport errors
}

type statusKey struct {
	kind   kind
	status string
}

func newWorker(a *api, seed uint64) *worker {
	return &worker{a: a, rng: rand.New(rand.NewPCG(seed, 0x50a4)), status: map[statusKey]int{}}
}

func (w *worker) do(ctx context.Context, method, url string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := w.a.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	w.buf.Reset()
	_, err = w.buf.ReadFrom(res.Body)
	res.Body.Close()
	return res.StatusCode, w.buf.Bytes(), err
}

// errClass names a transport error for the status table.
func (w *worker) errClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "error: canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "error: timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "error: connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "error: connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "error: connection closed"
	}
	if len(w.errs) < 5 {
		w.errs = append(w.errs, err.Error())
	}
	return "error: other"
}

func (w *worker) ledger() *ledger { return w.a.ledgers[w.rng.IntN(len(w.a.ledgers))] }

func (w *worker) itemURL(l *ledger, id string) string {
	return w.a.base + "/v1/caches/" + l.cache + "/items/" + id
}

// Outcomes that are server defects.
const (
	get404 = "404 for a live item (LOST)"
	del404 = "404 for a live item"
)

// pad makes an item's data about the size of a small real document.
var pad = strings.Repeat("x", 96)

// get reads a random live item. ok is false if there was none to read.
func (w *worker) get(ctx context.Context) (status string, ok bool) {
	l := w.ledger()
	id, ok := l.pick(w.rng)
	if !ok {
		return "", false
	}
	code, body, err := w.do(ctx, http.MethodGet, w.itemURL(l, id), nil)
	switch {
	case err != nil:
		return w.errClass(err), true
	case code == http.StatusOK && !bytes.Contains(body, []byte(`"id":"`+id+`"`)):
		return "200 (another item's body)", true
	case code == http.StatusOK && bytes.Contains(body, []byte(`"pendingDelete":true`)) && l.get(id) == stCreated:
		return "200 (pending deletion, never deleted)", true
	case code == http.StatusOK:
		return "200", true
	case code == http.StatusNotFound:
		if st := l.get(id); st == stDeleting || st == stDeleted {
			return "404 (delete acknowledged or sent)", true
		}
		w.lostItem(l, id, "GET")
		return get404, true
	}
	return fmt.Sprint(code), true
}

// create makes a new item in a random cache.
func (w *worker) create(ctx context.Context, l *ledger) string {
	id := l.newID()
	body := []byte(`{"id":"` + id + `","data":{"status":"new","pad":"` + pad + `"}}`)
	code, _, err := w.do(ctx, http.MethodPost, w.a.base+"/v1/caches/"+l.cache+"/items", body)
	if err != nil {
		return w.errClass(err)
	}
	if code == http.StatusCreated || code == http.StatusOK {
		l.created(id)
	}
	return fmt.Sprint(code)
}

// del deletes a random live item. ok is false if there was none.
func (w *worker) del(ctx context.Context) (status string, ok bool) {
	l := w.ledger()
	id, ok := l.take(w.rng)
	if !ok {
		return "", false
	}
	code, _, err := w.do(ctx, http.MethodDelete, w.itemURL(l, id), nil)
	switch {
	case err != nil:
		return w.errClass(err), true
	case code == http.StatusAccepted:
		l.deleted(id)
	case code == http.StatusNotFound:
		// Either the item was lost, or the server carried out the
		// delete and then answered 404: both break the contract (202
		// for an item that exists). The accounting tells which.
		w.lostItem(l, id, "DELETE")
		return del404, true
	}
	return fmt.Sprint(code), true
}

func (w *worker) lostItem(l *ledger, id, how string) {
	if len(w.lost) < 10 {
		w.lost = append(w.lost, how+" "+l.cache+"/"+id)
	}
}

// loadResult is what the load phase measured.
type loadResult struct {
	duration time.Duration // the schedule
	wall     time.Duration // until the last reply
	offered  [numKinds]int64
	dropped  [numKinds]int64 // due but never sent: the queue was full, or the drain deadline passed
	skipped  [numKinds]int64 // no live item to read or delete
	samples  [numKinds][]sample
	status   map[statusKey]int
	lost     []string
	errs     []string
	// CPU seconds the soak process used during the load, the upstream
	// process (-1: in the soak's process, or not measured), and the whole
	// machine (busy, stolen by the hypervisor).
	selfCPU, upsCPU           float64
	machineBusy, machineSteal float64
	machineOK                 bool
	// CPU use sampled at every window boundary, to tell latency caused by
	// the server from latency caused by other work on the machine.
	cpu []cpuSample
}

// pool is the queue of one group of client goroutines: GETs have theirs,
// creates and deletes share another. Reads and writes are separate clients,
// as they would be in real use: a read never waits for a free client behind
// writes that wait for the server's disk.
type pool int

const (
	readPool pool = iota
	writePool
	numPools
)

func poolOf(k kind) pool {
	if k == kGet {
		return readPool
	}
	return writePool
}

// runLoad offers the schedule for d: rates[k] requests of kind k per second,
// on a fixed timeline from the start, executed by clients goroutines per
// pool. It is open-loop: a request's latency counts from the moment it was
// due, so time spent waiting for a free client (because earlier replies
// were slow) is in the figures, and slow replies cannot slow down the
// offered rate (no coordinated omission).
//
// upsCPU, if not nil, reads the CPU seconds the upstream process has used
// (-1 if it cannot tell), for the CPU figures.
func runLoad(ctx context.Context, a *api, rates [numKinds]float64, d time.Duration, clients int, window time.Duration, upsCPU func() float64, progress io.Writer) *loadResult {
	res := &loadResult{duration: d, status: map[statusKey]int{}, upsCPU: -1}
	if upsCPU == nil {
		upsCPU = func() float64 { return -1 }
	}
	var perPool [numPools]float64
	for k, r := range rates {
		perPool[poolOf(kind(k))] += r
	}
	// Two seconds of schedule fit in a queue; beyond that the generator
	// counts requests as dropped rather than blocking the timeline.
	var queues [numPools]chan job
	for p := range queues {
		queues[p] = make(chan job, max(1024, int(2*perPool[p])))
	}
	abandon := make(chan struct{}) // closed when the drain deadline passes
	cpu0, ups0 := selfCPU(), upsCPU()
	busy0, steal0, ok0 := machineCPU()
	start := time.Now()

	var workers []*worker
	var dropped [numKinds]atomic.Int64
	var wg sync.WaitGroup
	for p := range numPools {
		for range clients {
			w := newWorker(a, uint64(len(workers)+1))
			workers = append(workers, w)
			wg.Go(func() { w.serve(ctx, queues[p], start, abandon, &dropped) })
		}
	}

	stopProgress := make(chan struct{})
	var pwg sync.WaitGroup
	pwg.Go(func() { reportProgress(a, start, d, stopProgress, progress) })
	pwg.Go(func() { res.cpu = sampleCPU(ctx, a.base, upsCPU, start, window, stopProgress) })

	res.offered = dispatch(ctx, start, d, rates, queues, &dropped)
	for _, q := range queues {
		close(q)
	}
	// Replies still under way, or queued, get a bounded time to finish.
	drainDone := make(chan struct{})
	go func() { wg.Wait(); close(drainDone) }()
	select {
	case <-drainDone:
	case <-time.After(15 * time.Second):
		close(abandon)
		<-drainDone
	}
	res.wall = time.Since(start)
	res.selfCPU = selfCPU() - cpu0
	if ups1 := upsCPU(); ups0 >= 0 && ups1 >= 0 {
		res.upsCPU = ups1 - ups0
	}
	busy1, steal1, ok1 := machineCPU()
	res.machineBusy, res.machineSteal, res.machineOK = busy1-busy0, steal1-steal0, ok0 && ok1
	close(stopProgress)
	pwg.Wait()

	for k := range numKinds {
		res.dropped[k] = dropped[k].Load()
	}
	for _, w := range workers {
		for k := range numKinds {
			res.samples[k] = append(res.samples[k], w.samples[k]...)
		}
		for key, n := range w.status {
			res.status[key] += n
			if key.status == "skipped (no live item)" {
				res.skipped[key.kind] += int64(n)
			}
		}
		res.lost = append(res.lost, w.lost...)
		res.errs = append(res.errs, w.errs...)
	}
	for k := range numKinds {
		sort.Slice(res.samples[k], func(i, j int) bool { return res.samples[k][i].at < res.samples[k][j].at })
	}
	return res
}

// serve carries out the jobs of one queue until it is closed.
func (w *worker) serve(ctx context.Context, jobs <-chan job, start time.Time, abandon <-chan struct{}, dropped *[numKinds]atomic.Int64) {
	for j := range jobs {
		select {
		case <-abandon:
			dropped[j.kind].Add(1)
			continue
		default:
		}
		if ctx.Err() != nil {
			dropped[j.kind].Add(1)
			continue
		}
		wait := time.Since(j.at)
		var status string
		ok := true
		switch j.kind {
		case kGet:
			status, ok = w.get(ctx)
		case kCreate:
			status = w.create(ctx, w.ledger())
		case kDelete:
			status, ok = w.del(ctx)
		}
		if !ok {
			w.status[statusKey{j.kind, "skipped (no live item)"}]++
			continue
		}
		lat := time.Since(j.at)
		w.samples[j.kind] = append(w.samples[j.kind], sample{at: int64(j.at.Sub(start)), lat: int64(lat), wait: int64(wait)})
		w.status[statusKey{j.kind, status}]++
		w.a.done[j.kind].Add(1)
		if !expected[j.kind][status] {
			w.a.bad.Add(1)
		}
	}
}

// dispatch puts every job on its queue when it falls due, until d has
// passed: job i of kind k is due at start + i/rates[k]. It wakes up at the
// next due time or as soon as the scheduler lets it; whatever has fallen due
// meanwhile is queued with its own due time, so a late wake-up shows in the
// latencies instead of shifting the timeline. A full queue drops the job
// (counted), so the timeline never blocks.
func dispatch(ctx context.Context, start time.Time, d time.Duration, rates [numKinds]float64, queues [numPools]chan job, dropped *[numKinds]atomic.Int64) [numKinds]int64 {
	var n [numKinds]int64
	due := func(k kind) time.Duration { return time.Duration(float64(n[k]) * float64(time.Second) / rates[k]) }
	for {
		now := time.Since(start)
		next := d
		for k := range numKinds {
			if rates[k] <= 0 {
				continue
			}
			for {
				t := due(k)
				if t >= d {
					break
				}
				if t > now {
					next = min(next, t)
					break
				}
				select {
				case queues[poolOf(k)] <- job{kind: k, at: start.Add(t)}:
				default:
					dropped[k].Add(1)
				}
				n[k]++
			}
		}
		if next >= d { // every job due before d is queued
			return n
		}
		timer := time.NewTimer(next - now)
		select {
		case <-ctx.Done():
			timer.Stop()
			return n
		case <-timer.C:
		}
	}
}

// reportProgress prints one line every 10 s.
func reportProgress(a *api, start time.Time, d time.Duration, stop <-chan struct{}, out io.Writer) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	var last [numKinds]int64
	lastAt := start
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			secs := now.Sub(lastAt).Seconds()
			lastAt = now
			var parts []string
			for k := range numKinds {
				n := a.done[k].Load()
				parts = append(parts, fmt.Sprintf("%s %.0f/s", kindNames[k], float64(n-last[k])/secs))
				last[k] = n
			}
			live := 0
			for _, l := range a.ledgers {
				n, _, _ := l.counts()
				live += n
			}
			fmt.Fprintf(out, "soak: %3.0fs/%v  %s  live items %d  errors %d\n",
				now.Sub(start).Seconds(), d, strings.Join(parts, ", "), live, a.bad.Load())
		}
	}
}

// cpuSample is the CPU time used so far, in seconds: by the machine
// (busy), by the soak, by the server (from its metrics; -1 if the scrape
// failed), and by the upstream process (-1 if in process, or not known).
type cpuSample struct {
	at                      time.Duration // since the start of the load
	machine, self, srv, ups float64
}

// sampleCPU samples CPU use at the start and at every window boundary until
// stop is closed, then once more.
func sampleCPU(ctx context.Context, base string, upsCPU func() float64, start time.Time, window time.Duration, stop <-chan struct{}) []cpuSample {
	take := func() cpuSample {
		s := cpuSample{at: time.Since(start), self: selfCPU(), srv: -1, ups: upsCPU()}
		s.machine, _, _ = machineCPU()
		if m, err := scrape(ctx, base); err == nil {
			s.srv = m.cpuSeconds()
		}
		return s
	}
	out := []cpuSample{take()}
	for i := 1; ; i++ {
		select {
		case <-stop:
			return append(out, take())
		case <-time.After(time.Until(start.Add(time.Duration(i) * window))):
			out = append(out, take())
		}
	}
}

// seed creates n items in every cache, as fast as clients goroutines can,
// before the measured load: GETs need items to read.
func seed(ctx context.Context, a *api, n, clients int) error {
	ch := make(chan *ledger)
	var failures atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for i := range clients {
		w := newWorker(a, uint64(1000+i))
		wg.Go(func() {
			for l := range ch {
				if st := w.create(ctx, l); st != "201" {
					failures.Add(1)
					first.CompareAndSwap(nil, st)
				}
			}
		})
	}
feed:
	for range n {
		for _, l := range a.ledgers {
			select {
			case ch <- l:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(ch)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if f := failures.Load(); f > 0 {
		return fmt.Errorf("seeding: %d creates failed, the first with %v", f, first.Load())
	}
	return nil
}
